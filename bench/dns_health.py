#!/usr/bin/env python
"""GeoDNS follows edge health: how long until both DNS servers stop answering with an edge that
failed, and start again once it is back.

Usage: bench/dns_health.py [--trials 5] [--json PATH]
Runs against the podman lab of `make lab`. A waiter on lab-client asks both DNS servers every
0.1 s for www with the client subnet of a German user (answered by lab-edge-fra while it is up)
and writes the time at which the answers of both servers change; the clocks are the host's.
Per trial: `systemctl stop nginx` on lab-edge-fra -> gone from both servers' answers; start it ->
back in both (after the edge's cache_edge_health_rise and the next check); `podman pause` (a host
that stops answering) -> gone.
"""

import argparse
import json
import statistics
import time

from lab import pexec, row, sh

CLIENT, EDGE, EDGE_IP, ZONE = "lab-client", "lab-edge-fra", "198.18.100.21", "cdn.lab.example"
SERVERS = ("198.18.100.31", "198.18.100.32")
WAITER = r"""
want=$1; end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  n=0
  for s in {servers}; do
    if dig +short +time=1 +tries=1 +subnet=198.51.100.7/32 @$s A www.{zone} | grep -qx '{ip}'; then n=$((n + 1)); fi
  done
  if [ "$want" = gone ] && [ $n -eq 0 ]; then date +%s.%N > /tmp/dnshealth.done; exit 0; fi
  if [ "$want" = back ] && [ $n -eq {count} ]; then date +%s.%N > /tmp/dnshealth.done; exit 0; fi
  sleep 0.1
done
echo timeout > /tmp/dnshealth.done
"""


def answered(ip=EDGE_IP):
    return all(ip in pexec(CLIENT, f"dig +short +subnet=198.51.100.7/32 @{s} A www.{ZONE}").stdout.split()
               for s in SERVERS)


def measure(want, act):
    """Start the waiter, act (returning the epoch of the action), and return the seconds until `want`."""
    pexec(CLIENT, f"rm -f /tmp/dnshealth.done; nohup bash /usr/local/bin/perch-dnshealth {want}"
                  " >/dev/null 2>&1 &")
    t0 = act()
    for _poll in range(1300):
        out = pexec(CLIENT, "cat /tmp/dnshealth.done 2>/dev/null", check=False).stdout.strip()
        if out:
            if out == "timeout":
                raise SystemExit(f"bench/dns_health.py: the answers were not {want} within 120 s")
            return float(out) - t0
        time.sleep(0.1)
    raise SystemExit("bench/dns_health.py: the waiter did not finish")


def stop():
    return float(pexec(EDGE, "date +%s.%N; systemctl stop nginx").stdout.split()[0])


def start():
    return float(pexec(EDGE, "date +%s.%N; systemctl start nginx").stdout.split()[0])


def pause():
    t0 = time.time()
    sh("podman", "pause", EDGE)
    return t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    if sh("podman", "container", "exists", CLIENT, check=False).returncode != 0:
        raise SystemExit("bench/dns_health.py: the lab is not up (run `make lab`)")
    script = WAITER.replace("{servers}", " ".join(SERVERS)).replace("{zone}", ZONE).replace("{ip}", EDGE_IP)
    pexec(CLIENT, "cat > /usr/local/bin/perch-dnshealth", input=script.replace("{count}", str(len(SERVERS))))
    if not answered():
        raise SystemExit(f"bench/dns_health.py: {EDGE} is not in the answers for Germany: is it drained?")
    gone, back, frozen = [], [], []
    for trial in range(args.trials):
        gone.append(measure("gone", stop))
        back.append(measure("back", start))
        try:
            frozen.append(measure("gone", pause))
        finally:
            sh("podman", "unpause", EDGE)
        measure("back", time.time)
        print(f"trial {trial + 1}: stopped -> gone {gone[-1]:.2f} s, started -> back {back[-1]:.2f} s, "
              f"frozen -> gone {frozen[-1]:.2f} s", flush=True)
    rows = [row("edge down (nginx stopped) -> gone from both DNS servers' answers", gone, "s",
                "median <= 10 s (stretch 5 s)", statistics.median(gone) <= 10),
            row("edge frozen (podman pause) -> gone from both DNS servers' answers", frozen, "s",
                "median <= 10 s", statistics.median(frozen) <= 10),
            row("edge back (nginx started) -> in both DNS servers' answers (includes the edge's rise)", back, "s")]
    for r in rows:
        print(f"{r['metric']}: median {r['median']:.2f} s (min {r['min']:.2f}, max {r['max']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
