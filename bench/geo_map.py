#!/usr/bin/env python
"""Benchmark perch.cdn.geo_map + perch.cdn.pdns_geoip_zones on synthetic inventories.

Usage: bench/geo_map.py [--sizes 10,100,1000,10000] [--repeat 5] [--json [PATH]]
Prints, per number of sites, the median/min/max wall time of geo_map alone and of geo_map plus
the zone render (one edge per site, 3 services). Sites are spread pseudo-randomly (fixed seed)
over the countries of the bundled reference table, so every run measures the same data.
--json writes the bench/run.py result format ({"rows": [...], "curves": {...}}) to PATH, or to
stdout without PATH. The only target is ours: geo_map + render of 1,000 sites under 1 s.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".cache", "collections"))

from ansible_collections.perch.cdn.plugins.plugin_utils.geo import build_geo_map  # noqa: E402
from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import COUNTRIES  # noqa: E402
from ansible_collections.perch.cdn.plugins.plugin_utils.pdns_zones import render_zones  # noqa: E402


def inventory(n: int, seed: int = 42):
    rnd = random.Random(seed)
    codes = sorted(COUNTRIES)
    sites, edges = {}, {}
    for i in range(n):
        cc = rnd.choice(codes)
        lat, lon, _place = COUNTRIES[cc]
        name = f"s{i:05d}"
        sites[name] = {
            "country": cc, "continent": "EU",
            "lat": max(-90.0, min(90.0, lat + rnd.uniform(-2, 2))),
            "lon": ((lon + rnd.uniform(-2, 2) + 180) % 360) - 180,
            "provider": f"p{i % 7}",
        }
        # one edge per site, benchmark addresses (RFC 2544 / RFC 3849)
        edges[f"e{i:05d}"] = {"site": name, "ipv4": f"198.18.{i // 256 % 256}.{i % 256}",
                              "ipv6": f"2001:db8:{i // 65536:x}::{i % 65536:x}", "state": "active"}
    policy = {"failover_depth": 3, "avoid": {"RU": ["p1"]}, "pin": {"CH": ["s00000"]}}
    return sites, edges, policy


def timed(fn, repeat: int) -> dict:
    times = []
    for _run in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def _map_and_render(sites, edges, policy, services, ns):
    render_zones(build_geo_map(sites, policy), "cdn.example.org", edges, services, ns)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="write JSON (bench/run.py format) to PATH, or stdout with no PATH")
    args = ap.parse_args(argv)
    services = {"www": {"kind": "web"}, "deb": {"kind": "apt"}, "download": {"kind": "files"}}
    ns = [{"name": "ns1", "ipv4": "192.0.2.53"}, {"name": "ns2", "ipv4": "198.51.100.53"}]
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        sites, edges, policy = inventory(n)
        results.append({
            "sites": n,
            "geo_map": timed(functools.partial(build_geo_map, sites, policy), args.repeat),
            "geo_map_and_render": timed(functools.partial(_map_and_render, sites, edges, policy, services, ns),
                                        args.repeat),
        })
    if args.json:
        doc = {"rows": _rows(results, args.repeat), "curves": _curves(results),
               "python": sys.version.split()[0]}
        text = json.dumps(doc, indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
            _table(results, args.repeat)
        return 0
    _table(results, args.repeat)
    return 0


TARGET_SITES, TARGET_SECONDS = 1000, 1.0


def _rows(results, repeat):
    rows = []
    for r in results:
        for key, label in (("geo_map", "geo_map"), ("geo_map_and_render", "geo_map + zone render")):
            t = r[key]
            row = {"metric": f"{label}, {r['sites']} sites", "median": t["median"], "min": t["min"],
                   "max": t["max"], "unit": "s", "runs": repeat, "target": "", "ok": None}
            if key == "geo_map_and_render" and r["sites"] == TARGET_SITES:
                row["target"] = f"< {TARGET_SECONDS:g} s"
                row["ok"] = t["median"] < TARGET_SECONDS
            rows.append(row)
    return rows


def _curves(results):
    series = {label: [[r["sites"], r[key]["median"], r[key]["min"], r[key]["max"]] for r in results]
              for key, label in (("geo_map", "geo_map"), ("geo_map_and_render", "geo_map + zone render"))}
    return {"scaling": {"x": "sites", "y": "seconds", "xscale": "log", "yscale": "log", "series": series}}


def _table(results, repeat):
    print(f"median of {repeat} runs, seconds (min..max)")
    print(f"{'sites':>7}  {'geo_map':>24}  {'geo_map + zone render':>24}")
    for r in results:
        g, b = r["geo_map"], r["geo_map_and_render"]
        print(f"{r['sites']:>7}  {g['median']:8.4f} ({g['min']:.4f}..{g['max']:.4f})"
              f"  {b['median']:8.4f} ({b['min']:.4f}..{b['max']:.4f})")


if __name__ == "__main__":
    sys.exit(main())
