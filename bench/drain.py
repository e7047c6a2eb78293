#!/usr/bin/env python
"""Drain: wall time of playbooks/drain.yml, and the requests that failed when the edge was
stopped as soon as the drain returned.

Usage: bench/drain.py [--runs 5] [--json PATH]
Runs against the podman lab of `make lab`. Per run, lab-client runs tests/lab/files/perch-ttl-client:
a German user that keeps each GeoDNS answer for its TTL and its connection open (a browser behind a
resolver), and also requests over the anycast address (through lab-router, ECMP over the edges).
`drain.yml -l lab-edge-fra` runs; as soon as it returns nginx is stopped on lab-edge-fra, and the
load goes on for one more TTL; then nginx is started and `undrain.yml -l lab-edge-fra` puts the edge
back (not timed) before the next run. Every failed request is printed. A run in which requests
failed before the drain began is discarded and run again, at most 3 times in all.
Rows: drain wall time, failed requests (target 0), requests served.
"""

import argparse
import json
import time

from lab import LAB, ROOT, pexec, playbook, row, sh

CLIENT, EDGE, ZONE, DNS = "lab-client", "lab-edge-fra", "cdn.lab.example", "198.18.100.31,198.18.100.32"


def lab_up():
    res = sh("podman", "exec", EDGE, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
             f"Host: www.{ZONE}", "http://127.0.0.1/", check=False)
    return res.returncode == 0 and res.stdout == "200"


def ttl():
    first_dns = DNS.split(",", maxsplit=1)[0]
    out = pexec(CLIENT, f"dig +noall +answer +subnet=198.51.100.7/32 @{first_dns} A www.{ZONE}").stdout
    return max(int(line.split()[1]) for line in out.splitlines())


def one_run(answer_ttl):
    # run with the container's python3 (the file has no shebang: the lab's Debian has no `python`)
    pexec(CLIENT, "cat > /usr/local/bin/perch-ttl-client",
          input=(ROOT / "tests" / "lab" / "files" / "perch-ttl-client").read_text())
    pexec(CLIENT, f"rm -f /tmp/drainbench.*; nohup python3 /usr/local/bin/perch-ttl-client www.{ZONE} 198.51.100.7/32"
                  f" {DNS} 203.0.113.1 /tmp/drainbench.stop /tmp/drainbench.done >/dev/null 2>&1 &")
    time.sleep(3)
    before = pexec(CLIENT, "cat /tmp/drainbench.done.log", check=False).stdout.strip()
    start = time.monotonic()
    try:
        playbook("drain.yml", "-l", EDGE)
        took = time.monotonic() - start
        pexec(EDGE, "systemctl stop nginx")
        time.sleep(answer_ttl + 2)
    finally:
        pexec(CLIENT, "touch /tmp/drainbench.stop")
        for _poll in range(60):
            if pexec(CLIENT, "test -s /tmp/drainbench.done", check=False).returncode == 0:
                break
            time.sleep(0.5)
        pexec(EDGE, "systemctl start nginx")
        playbook("undrain.yml", "-l", EDGE)
    ok, fail, peer = pexec(CLIENT, "cat /tmp/drainbench.done").stdout.split()
    failures = pexec(CLIENT, "cat /tmp/drainbench.done.log", check=False).stdout.strip()
    print(f"drain run: {took:.1f} s, {ok} requests served, {fail} failed, last edge {peer}"
          f"{': ' + failures if failures else ''}", flush=True)
    return took, int(ok), int(fail), bool(before)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not lab_up():
        raise SystemExit("bench/drain.py: the lab is not up (lab-edge-fra does not serve www): run make lab first")
    if (LAB / "host_vars" / EDGE / "cdn_state.yml").exists():
        raise SystemExit(f"bench/drain.py: {EDGE} is drained in the lab inventory; undrain it first")
    answer_ttl = ttl()
    runs = []
    for _run in range(args.runs + 3):
        took, ok, failed, failed_before = one_run(answer_ttl)
        if failed_before:
            # the lab was not serving cleanly before the drain began: not a drain figure, run again
            print("drain run discarded: requests failed before the drain started", flush=True)
            time.sleep(5)
            continue
        runs.append((took, ok, failed))
        if len(runs) == args.runs:
            break
    if len(runs) < args.runs:
        raise SystemExit("bench/drain.py: the lab kept failing requests before the drain started")
    times, served, failed = zip(*runs, strict=True)
    rows = [row("drain.yml wall time (lab-edge-fra, under load; waits TTL + caches)", times, "s"),
            row(f"failed requests: drain, then stop nginx, {answer_ttl} s TTL-honouring keep-alive client",
                failed, "requests", "0", max(failed) == 0),
            row("requests served during a drain and one TTL after", served, "requests")]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
