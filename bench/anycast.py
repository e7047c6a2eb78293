#!/usr/bin/env python
"""Anycast failover times, measured at the router's kernel table.

Usage: bench/anycast.py [--trials 5] [--json PATH]
Runs against the podman lab of `make lab` (lab-router learns 203.0.113.0/24 from three edges, with BFD
100 ms x 3). Each trial runs `ip -ts monitor route` on the router, acts on lab-edge-fra, and waits for
all three paths to come back before the next one:
- failover: `systemctl stop nginx` on an edge -> the router's kernel route loses that next hop
  (health checker: 0.2 s interval, fall 2, then BGP withdraw);
- hard failure: `podman pause` of an edge -> the next hop goes (BFD detects the dead peer).
Start times are read inside the edge, or on the host for pause; containers share the host clock.
"""

import argparse
import json
import re
import statistics
import time
from datetime import datetime

from lab import pexec, row, sh

ROUTER, EDGE, EDGE_IP = "lab-router", "lab-edge-fra", "198.19.100.21"
ALL = {EDGE_IP, "198.19.100.22", "198.19.100.23"}
OTHERS = ALL - {EDGE_IP}


def paths():
    return set(re.findall(r"via (198\.19\.100\.\d+)", pexec(ROUTER, "ip route show 203.0.113.0/24").stdout))


def wait(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise SystemExit(f"bench/anycast.py: the lab did not reach the expected state (paths: {sorted(paths())})")


def monitor_start():
    pexec(ROUTER, "rm -f /tmp/mon; nohup ip -ts monitor route > /tmp/mon 2>&1 & echo $! > /tmp/mon.pid")
    time.sleep(0.3)


def withdrawal_after(t0):
    """Seconds from t0 to the first route event for the prefix that no longer has EDGE_IP."""
    pexec(ROUTER, "kill $(cat /tmp/mon.pid)", check=False)
    out = pexec(ROUTER, "cat /tmp/mon").stdout
    events = re.split(r"(?m)^(?=\[\d{4}-)", out)
    for ev in events:
        m = re.match(r"\[(\d{4}-\d\d-\d\dT[\d:.]+)", ev)
        if not m or "203.0.113.0/24" not in ev or EDGE_IP in ev:
            continue
        ts = datetime.fromisoformat(m.group(1)).timestamp()
        if ts >= t0:
            return ts - t0
    raise SystemExit(f"bench/anycast.py: no withdrawal event seen:\n{out[-1500:]}")


def trial_stop():
    monitor_start()
    t0 = float(pexec(EDGE, "date +%s.%N; systemctl stop nginx").stdout.split()[0])
    wait(lambda: paths() == OTHERS)
    took = withdrawal_after(t0)
    pexec(EDGE, "systemctl start nginx")
    wait(lambda: paths() == ALL)
    print(f'stop trial: {took:.3f}s', flush=True)
    return took


def trial_pause():
    monitor_start()
    t0 = time.time()
    sh("podman", "pause", EDGE)
    try:
        wait(lambda: paths() == OTHERS)
        took = withdrawal_after(t0)
    finally:
        sh("podman", "unpause", EDGE)
    wait(lambda: paths() == ALL, timeout=120)
    print(f'pause trial: {took:.3f}s', flush=True)
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    if sh("podman", "container", "exists", ROUTER, check=False).returncode != 0:
        raise SystemExit("bench/anycast.py: the lab is not up (run `make lab`)")
    wait(lambda: paths() == ALL, timeout=60)
    stop = [trial_stop() for _trial in range(args.trials)]
    pause = [trial_pause() for _trial in range(args.trials)]
    rows = [row("failover: nginx stopped -> route withdrawn at the router", stop, "s", "median <= 2 s (stretch 1 s)",
                statistics.median(stop) <= 2.0),
            row("hard failure: edge paused -> route withdrawn (BFD 100 ms x 3)", pause, "s", "max <= 1 s",
                max(pause) <= 1.0)]
    for r in rows:
        print(f"{r['metric']}: median {r['median']:.3f}s, min {r['min']:.3f}s, max {r['max']:.3f}s over {r['runs']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
