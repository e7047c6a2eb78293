#!/usr/bin/env python
"""Cache edge statistics (issue #18): HIT req/s with the statistics path on vs off, side by side.

Usage: bench/stats.py [--runs 3] [--seconds 3] [--repeat 3] [--json PATH]
Runs against the podman lab of `make lab` (lab-origin, lab-edge-fra); it stops with "run make lab
first" when the lab is not up. The 100 files of 1 KiB of bench/edge.py part 1 go under the origin's
www root and are warmed into lab-edge-fra's cache (every URL answers HIT, checked again before and
after every wrk run); bench/edge.py's wrk run (-t2 -c32, a rotation over the 100 URLs, loopback,
Host: www.<zone>) measures HIT req/s with cache_edge_statistics on (nginx writes a line per request to
/run/perch-stats/edge.log, buffered: buffer=64k flush=1s; mtail follows the file and counts it) and off
(no access_log at all), alternating the order per run (on/off, off/on, ...). A side is the best of
--repeat wrk runs: on a shared machine other load only ever lowers the rate. Switching is
`playbooks/edges.yml -l lab-edge-fra -e cache_edge_statistics=...`.
The switch is checked: on, nginx's config has the access_log to the file and mtail's
perch_edge_requests_total{service="www",cache_status="HIT"} grows during wrk; off, neither. mtail's count
trails nginx by up to ~1.5 s (the 1 s flush, mtail's 250 ms poll), so it is read once it has not moved
for 2 s.
Rows: HIT req/s on, off, on / off per run (target >= 0.97), and the share of wrk's requests mtail
counted (target >= 0.95: below it the "on" side did not run the whole path, mtail's parsing of every
line, so the ratio's target is not judged). The edge is left with statistics on, and the bench files
are removed and purged, whatever happens.
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
STATS_LOG = "/run/perch-stats/edge.log"
METRICS = "http://127.0.0.1:3903/metrics"
TARGET = 0.97
COUNTED = 0.95  # on: the share of wrk's requests mtail must count for the "on" side to be the whole path
QUIET = 2.0  # s without a change before mtail's count is read: nginx flushes after 1 s, mtail polls every 250 ms


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


def settle(read, above=None, quiet=QUIET, step=0.25, limit=15.0, sleep=time.sleep, clock=time.monotonic):
    """`read()` (a counter) once it has not moved for `quiet` seconds and, given `above`, is above it; after
    `limit` seconds the last value read."""
    last, since = read(), clock()
    deadline = since + limit
    while clock() < deadline:
        sleep(step)
        now = read()
        if now != last:
            last, since = now, clock()
        elif clock() - since >= quiet and (above is None or (now or 0) > above):
            return now
    return last


def sides(run):
    """The order of the sides in run `run` (0-based): on/off, off/on, ..."""
    return ("on", "off") if run % 2 == 0 else ("off", "on")


def summary(on, off, counted):
    """Per-run HIT req/s with statistics on and off, and the shares of the requests mtail counted (on) ->
    {ratio: per-run on/off, median, min, max, spread, counted_ok, met}. The ratio's target is judged only
    when mtail counted (nearly) every request; else met is None."""
    if not on or len(on) != len(off):
        raise ValueError("need as many runs on as off, at least one")
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    med = statistics.median(ratios)
    counted_ok = bool(counted) and min(counted) >= COUNTED
    return {"ratio": ratios, "median": med, "min": min(ratios), "max": max(ratios),
            "spread": max(ratios) - min(ratios), "counted_ok": counted_ok,
            "met": (med >= TARGET) if counted_ok else None}


# ---------------------------------------------------------------- lab plumbing

def log(msg):
    print(msg, flush=True)


def stats_on_edge():
    """Whether the edge's nginx config writes statistics (an access_log to the file mtail follows)."""
    return pexec(EDGE, f"grep -q 'access_log {STATS_LOG} ' {CONF}", check=False).returncode == 0


def switch(on):
    start = time.monotonic()
    playbook("edges.yml", "-l", EDGE, "-e", f"cache_edge_statistics={'true' if on else 'false'}")
    if stats_on_edge() != on:
        raise SystemExit(f"bench/stats.py: edges.yml ran with cache_edge_statistics={on} but {CONF} on {EDGE} "
                         f"{'has no' if on else 'still has an'} access_log {STATS_LOG}")
    log(f"statistics {'on' if on else 'off'} on {EDGE}: edges.yml took {time.monotonic() - start:.0f} s")


def counter():
    return hit_counter(pexec(EDGE, f"curl -s -m 5 {METRICS}", check=False).stdout)


def wrk_hit(seconds):
    """bench/edge.py's wrk run against the cached objects -> (req/s, requests wrk made)."""
    seen = []
    parse = edge.parse_wrk
    edge.parse_wrk = lambda text: seen.append(parse(text)) or seen[-1]  # edge.wrk returns only req/s
    try:
        rps = edge.wrk("http://127.0.0.1:80/bench/obj-1.bin", WWW, seconds)
    finally:
        edge.parse_wrk = parse
    return rps, seen[-1]["requests"]


def measure(on, seconds, repeat, paths):
    """One side -> (best HIT req/s of `repeat` wrk runs, share of their requests mtail counted). On, mtail's
    count must grow; off, not."""
    edge.warm(paths, WWW, rounds=1)
    before = settle(counter)
    if on and before is None:
        raise SystemExit(f"bench/stats.py: mtail on {EDGE} has no perch_edge_requests_total ({METRICS})")
    got = [wrk_hit(seconds) for _ in range(repeat)]
    rps, requests = max(g[0] for g in got), sum(g[1] for g in got)
    after = settle(counter, (before or 0) if on else None)
    edge.warm(paths, WWW, rounds=1)  # still all HIT after the run, so it was all HIT during it
    grown = (after or 0) - (before or 0)
    if on and grown <= 0:
        raise SystemExit(f"bench/stats.py: statistics on, but mtail's HIT count did not grow during {requests} "
                         "requests: the switch did not take effect")
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


def bench(runs, seconds, repeat):
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
                    state = None
                    switch(want)
                    state = want
                got[side], counted = measure(want, seconds, repeat, paths)
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
    s = summary(res["on"], res["off"], res["counted"])
    void = "" if s["counted_ok"] else ", not judged: mtail counted too few of the requests"
    how = f"1 KiB objects (wrk -t2 -c32, loopback, best of {repeat} x {seconds} s)"
    return [row(f"HIT req/s, statistics on (nginx -> file -> mtail), {how}", res["on"], "req/s"),
            row("HIT req/s, statistics off, same files", res["off"], "req/s"),
            row(f"statistics on / off, HIT req/s (per run{void})", s["ratio"], "ratio", f">= {TARGET}", s["met"]),
            row("share of wrk's requests mtail counted (on)", res["counted"], "ratio", f">= {COUNTED}",
                s["counted_ok"])], s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3, help="duration of one wrk run")
    ap.add_argument("--repeat", type=int, default=3, help="wrk runs per side and run (the best counts)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if min(args.runs, args.seconds, args.repeat) < 1:
        ap.error("--runs, --seconds and --repeat must be >= 1")
    edge.check_lab()
    t0 = time.monotonic()
    rows, s = bench(args.runs, args.seconds, args.repeat)
    for r in rows:
        verdict = {True: "met", False: "NOT met", None: "not judged"}[r["ok"]]
        target = f", target {r['target']}: {verdict}" if r["target"] else ""
        print(f"{r['metric']}: median {r['median']:.4g} {r['unit']} (min {r['min']:.4g}, max {r['max']:.4g}, "
              f"{r['runs']} runs){target}")
    print(f"on / off spread (max - min): {s['spread']:.3f}")
    print(f"bench/stats.py took {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
