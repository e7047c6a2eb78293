#!/usr/bin/env python
"""Cache edge statistics (issue #18): HIT req/s with the statistics path on vs off, side by side.

Usage: bench/stats.py [--runs 3] [--seconds 5] [--json PATH]
Runs against the podman lab of `make lab` (lab-origin, lab-edge-fra); it stops with "run make lab
first" when the lab is not up. The 100 files of 1 KiB of bench/edge.py part 1 go under the origin's
www root and are warmed into lab-edge-fra's cache (every URL answers HIT, checked again before and
after every wrk run); wrk on the edge (bench/edge.py's: -t2 -c32, a rotation over the 100 URLs,
loopback, Host: www.<zone>) measures HIT req/s with cache_edge_statistics on (nginx sends a line per
request to mtail's socket, mtail counts it) and off (no access_log at all), alternating the order per
run (on/off, off/on, ...). Switching is `playbooks/edges.yml -l lab-edge-fra -e cache_edge_statistics=...`.
Each side is checked: on, mtail's perch_edge_requests_total{service="www",cache_status="HIT"} grows by
the requests wrk made (within 5 %); off, it does not grow. Rows: HIT req/s on, off, on / off per run
(target >= 0.97), and the share of wrk's requests mtail counted. The edge is left with statistics on,
and the bench files are removed and purged, whatever happens.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

# bench/ is sys.path[0] when this runs as a script, not when the unit tests load it by its file path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edge  # noqa: E402
from lab import pexec, playbook, row  # noqa: E402

EDGE, WWW = edge.EDGE, edge.WWW
SERVICE = "www"
CONF = "/etc/nginx/perch/cdn.conf"
METRICS = "http://127.0.0.1:3903/metrics"
TARGET = 0.97
COUNT_TOLERANCE = 0.05  # on: mtail's count within 5 % of wrk's requests


# ---------------------------------------------------------------- pure helpers (unit tested)

def hit_counter(metrics, service=SERVICE):
    """mtail's Prometheus text -> perch_edge_requests_total of `service` with cache_status HIT (all status
    classes); None when the metric is not there at all."""
    total, seen = 0.0, False
    for m in re.finditer(r"(?m)^perch_edge_requests_total\{([^}]*)\}\s+(\S+)", metrics):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        seen = True
        if labels.get("service") == service and labels.get("cache_status") == "HIT":
            total += float(m.group(2))
    return total if seen else None


def sides(run):
    """The order of the sides in run `run` (0-based): on/off, off/on, ..."""
    return ("on", "off") if run % 2 == 0 else ("off", "on")


def summary(on, off):
    """Per-run HIT req/s with statistics on and off -> {ratio: per-run on/off, median, min, max, spread}."""
    if not on or len(on) != len(off):
        raise ValueError("need as many runs on as off, at least one")
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    med = statistics.median(ratios)
    return {"ratio": ratios, "median": med, "min": min(ratios), "max": max(ratios),
            "spread": max(ratios) - min(ratios), "met": med >= TARGET}


# ---------------------------------------------------------------- lab plumbing

def log(msg):
    print(msg, flush=True)


def stats_on_edge():
    """Whether the edge's nginx config sends statistics (an access_log to the syslog socket)."""
    return pexec(EDGE, f"grep -q 'access_log syslog:server=unix:' {CONF}", check=False).returncode == 0


def switch(on):
    start = time.monotonic()
    playbook("edges.yml", "-l", EDGE, "-e", f"cache_edge_statistics={'true' if on else 'false'}")
    if stats_on_edge() != on:
        raise SystemExit(f"bench/stats.py: edges.yml ran with cache_edge_statistics={on} but {CONF} on {EDGE} "
                         f"{'has no' if on else 'still has an'} access_log to the statistics socket")
    log(f"statistics {'on' if on else 'off'} on {EDGE}: edges.yml took {time.monotonic() - start:.0f} s")


def counter():
    return hit_counter(pexec(EDGE, f"curl -s -m 5 {METRICS}", check=False).stdout)


def settled_counter(start, want_growth):
    """mtail's HIT count once it stops moving (mtail reads the socket behind nginx)."""
    last = counter()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.5 if want_growth else 1.0)
        now = counter()
        if now == last and (not want_growth or (now or 0) > start):
            return now
        last = now
    return last


def wrk_hit(seconds):
    """edge.py's wrk run against the cached objects -> (req/s, requests wrk made)."""
    seen = []
    parse = edge.parse_wrk
    edge.parse_wrk = lambda text: seen.append(parse(text)) or seen[-1]  # keep the whole report
    try:
        rps = edge.wrk("http://127.0.0.1:80/bench/obj-1.bin", WWW, seconds)
    finally:
        edge.parse_wrk = parse
    return rps, seen[-1]["requests"]


def measure(on, seconds, paths):
    """One side: HIT req/s; checks that mtail counted the requests (on) or nothing (off)."""
    edge.warm(paths, WWW, rounds=1)
    before = settled_counter(0, False)
    if on and before is None:
        raise SystemExit(f"bench/stats.py: mtail on {EDGE} has no perch_edge_requests_total ({METRICS})")
    rps, requests = wrk_hit(seconds)
    after = settled_counter(before or 0, on)
    edge.warm(paths, WWW, rounds=1)  # still all HIT after the run, so it was all HIT during it
    grown = (after or 0) - (before or 0)
    if on and abs(grown - requests) > COUNT_TOLERANCE * requests:
        raise SystemExit(f"bench/stats.py: statistics on, wrk made {requests} requests but mtail's HIT count "
                         f"grew by {grown:.0f}: the statistics path does not count them")
    if not on and grown:
        raise SystemExit(f"bench/stats.py: statistics off, but mtail's HIT count grew by {grown:.0f} "
                         f"during {requests} requests: the switch did not take effect")
    return rps, grown / requests


def setup(paths):
    """bench/edge.py's small objects under the origin's www root, edge.py's wrk script; purged, then warmed."""
    files = {p.lstrip("/"): os.urandom(edge.SMALL_SIZE) for p in paths}
    pexec(edge.ORIGIN, f"mkdir -p {edge.ORIGIN_WWW} && tar -C {edge.ORIGIN_WWW} -xf -", input=edge.tar_of(files),
          text=False)
    pexec(EDGE, "cat > /tmp/perch-bench.lua", input=edge.WRK_LUA)
    pexec(EDGE, "for p in " + " ".join(paths) + f"; do curl -s -o /dev/null -H 'Host: {WWW}' "
                "http://127.0.0.1/.perch/purge$p; done")
    edge.warm(paths, WWW)


def bench(runs, seconds):
    paths = [f"/bench/obj-{i}.bin" for i in range(1, edge.N_SMALL + 1)]
    res = {"on": [], "off": [], "counted": []}
    state = stats_on_edge()  # None from here on means a switch was under way
    try:
        edge.ensure_wrk(EDGE)
        setup(paths)
        for r in range(runs):
            got = {}
            for side in sides(r):
                want = side == "on"
                if state != want:
                    state = None  # unknown until the switch has been checked
                    switch(want)
                    state = want
                got[side], counted = measure(want, seconds, paths)
                if want:
                    res["counted"].append(counted)
            res["on"].append(got["on"])
            res["off"].append(got["off"])
            log(f"run {r + 1} ({'/'.join(sides(r))}): HIT with statistics {got['on']:.0f} req/s, without "
                f"{got['off']:.0f} req/s, ratio {got['on'] / got['off']:.3f}; mtail counted "
                f"{res['counted'][-1]:.4f} of the requests")
    finally:
        try:
            if state is not True:
                switch(True)
        finally:
            edge.cleanup_small(paths)
    s = summary(res["on"], res["off"])
    return [row("HIT req/s, statistics on (nginx -> mtail), 1 KiB objects (wrk -t2 -c32, loopback)", res["on"],
                "req/s"),
            row("HIT req/s, statistics off, same files", res["off"], "req/s"),
            row("statistics on / off, HIT req/s (per run)", s["ratio"], "ratio", f">= {TARGET}", s["met"]),
            row("share of wrk's requests mtail counted (on)", res["counted"], "ratio")], s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration per side and run")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.runs < 1 or args.seconds < 1:
        ap.error("--runs and --seconds must be >= 1")
    edge.check_lab()
    t0 = time.monotonic()
    rows, s = bench(args.runs, args.seconds)
    for r in rows:
        target = f", target {r['target']}: {'met' if r['ok'] else 'NOT met'}" if r["target"] else ""
        print(f"{r['metric']}: median {r['median']:.3f} {r['unit']} (min {r['min']:.3f}, max {r['max']:.3f}, "
              f"{r['runs']} runs){target}")
    print(f"ratio spread (max - min): {s['spread']:.3f}")
    print(f"bench/stats.py took {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
