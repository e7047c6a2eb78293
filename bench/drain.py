#!/usr/bin/env python3
"""Drain: wall time of playbooks/drain.yml and the requests that failed during it.

Usage: bench/drain.py [--runs 5] [--json PATH]
Runs against the podman lab of `make lab`. Per run, lab-client requests www continuously over the
anycast address (through lab-router, ECMP over the edges) and by the GeoDNS answer for a German
user (EDNS client subnet), counting every failed request; meanwhile `drain.yml -l lab-edge-fra`
runs, then `undrain.yml -l lab-edge-fra` puts the edge back (not timed) before the next run.
Every failed request is printed with its time relative to the drain's start and its path. A run
in which requests failed before the drain began is discarded and run again (the lab was not
serving cleanly, so it is not a drain figure), at most 3 times in all.
Rows: drain wall time, failed requests per drain (target 0), requests served during the drain.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INV = ROOT / "inventories" / "lab"
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "tests" / "lab" / "containers.conf"),
           ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
           ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
CLIENT, EDGE, ZONE, DNS = "lab-client", "lab-edge-fra", "cdn.lab.example", "198.18.100.31"
LOAD = """
rm -f /tmp/drainbench.*
end=$((SECONDS + 600)); ok=0; fail=0
while [ $SECONDS -lt $end ] && [ ! -e /tmp/drainbench.stop ]; do
  t=$(date +%s.%N)
  if curl -sf -o /dev/null --max-time 3 -H 'Host: www.{zone}' http://203.0.113.1/
  then ok=$((ok + 1)); else fail=$((fail + 1)); echo "$t anycast" >> /tmp/drainbench.fail; fi
  t=$(date +%s.%N)
  ip=$(dig +short +time=1 +tries=2 +subnet=198.51.100.7/32 @{dns} A www.{zone} | head -1)
  if curl -sf -o /dev/null --max-time 3 --resolve www.{zone}:80:$ip http://www.{zone}/
  then ok=$((ok + 1)); else fail=$((fail + 1)); echo "$t dns:${{ip:-none}}" >> /tmp/drainbench.fail; fi
  sleep 0.05
done
echo "$ok $fail" > /tmp/drainbench.done
"""


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, env=ENV, cwd=ROOT, **kw)


def playbook(name, *args):
    res = sh("ansible-playbook", "-i", str(INV), f"playbooks/{name}", *args, check=False, timeout=900)
    if res.returncode != 0:
        raise SystemExit(f"bench/drain.py: {name} failed:\n{res.stdout[-2000:]}")


def lab_up():
    res = sh("podman", "exec", EDGE, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
             f"Host: www.{ZONE}", "http://127.0.0.1/", check=False)
    return res.returncode == 0 and res.stdout == "200"


def one_run():
    subprocess.run(["podman", "exec", "-i", CLIENT, "sh", "-c", "cat > /usr/local/bin/perch-drainbench"],
                   input=LOAD.format(zone=ZONE, dns=DNS).encode(), check=True, env=ENV)
    sh("podman", "exec", CLIENT, "sh", "-c", "rm -f /tmp/drainbench.*; nohup bash /usr/local/bin/perch-drainbench"
       " >/dev/null 2>&1 &")
    time.sleep(2)
    start, start_epoch = time.monotonic(), time.time()
    try:
        playbook("drain.yml", "-l", EDGE)
        took = time.monotonic() - start
    finally:
        sh("podman", "exec", CLIENT, "touch", "/tmp/drainbench.stop")
        for _ in range(60):
            if sh("podman", "exec", CLIENT, "test", "-s", "/tmp/drainbench.done", check=False).returncode == 0:
                break
            time.sleep(0.5)
        playbook("undrain.yml", "-l", EDGE)
    ok, fail = map(int, sh("podman", "exec", CLIENT, "cat", "/tmp/drainbench.done").stdout.split())
    # "<epoch> <path>", where a failed lookup's path carries dig's error text
    failures = [line.split(None, 1) for line in
                sh("podman", "exec", CLIENT, "cat", "/tmp/drainbench.fail", check=False).stdout.splitlines()]
    before = [f for f in failures if float(f[0]) < start_epoch]
    detail = ", ".join(f"{float(t) - start_epoch:+.1f}s {path}" for t, path in failures)
    print(f"drain run: {took:.1f} s, {ok} requests served, {fail} failed{': ' + detail if detail else ''}",
          flush=True)
    return took, ok, fail - len(before), len(before)


def row(metric, values, unit, target="", ok=None):
    return {"metric": metric, "median": statistics.median(values), "min": min(values), "max": max(values),
            "unit": unit, "runs": len(values), "target": target, "ok": ok}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not lab_up():
        sys.exit("bench/drain.py: the lab is not up (lab-edge-fra does not serve www): run make lab first")
    if (INV / "host_vars" / EDGE / "cdn_state.yml").exists():
        sys.exit(f"bench/drain.py: {EDGE} is drained in the lab inventory; undrain it first")
    runs = []
    for _ in range(args.runs + 3):
        took, ok, failed, before = one_run()
        if before:
            # the lab was not serving cleanly before the drain began: not a drain figure, run again
            print(f"drain run discarded: {before} requests failed before the drain started", flush=True)
            time.sleep(5)
            continue
        runs.append((took, ok, failed))
        if len(runs) == args.runs:
            break
    if len(runs) < args.runs:
        sys.exit("bench/drain.py: the lab kept failing requests before the drain started")
    times, served, failed = zip(*runs, strict=True)
    rows = [row("drain.yml wall time (lab-edge-fra, under load)", times, "s"),
            row("failed requests during a drain", failed, "requests", "0", max(failed) == 0),
            row("requests served during a drain", served, "requests")]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
