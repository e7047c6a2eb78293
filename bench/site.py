#!/usr/bin/env python
"""site.yml wall time: cold vs idempotent on the lab, and how it grows with the number of edges.

Usage: bench/site.py [--runs 5] [--part lab|scaling|all] [--sizes 1,4,8,16] [--json PATH] [--keep-fleet]

lab (needs `make lab`): per run, the lab's CDN nodes (origin, 3 edges, 2 DNS) are removed and created
again from the base image (not timed), then `playbooks/site.yml` is timed twice: cold, then the rerun,
which must report changed=0 on every host or the run is an error. The router and the client stay up.
Rows: cold, idempotent, and the per-run ratio idempotent / cold (target <= 0.3, issue #24).

scaling: a separate fleet of lab containers (bench-origin, bench-dns, bench-router and up to 16
bench-edgeNN on 198.18.150.0/24 and 198.19.150.0/24) reached over SSH like the lab. For each size the
inventory has the origin, the DNS server and the first N edges; one untimed run converges the fleet
to that size (the zone and the origin's edge list change with N), then idempotent site.yml runs are
timed alternately with ansible's defaults (bench/ansible-default.cfg) and with the settings the README
recommends (ansible.cfg). Rows: the wall time per size, the per-edge marginal cost (least-squares
slope over the sizes; target <= 4 s/edge with the recommended settings, stretch 2) and 16 edges / 4 edges
(target <= 2; issue #24). Curves: wall time against edges.
The fleet is removed at the end unless --keep-fleet.
"""

import argparse
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml
from lab import ENV, LAB, ROOT, row, sh

RECOMMENDED = ROOT / "ansible.cfg"  # lab.ENV's ANSIBLE_CONFIG
DEFAULT = ROOT / "bench" / "ansible-default.cfg"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
CAPS = ["NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE"]
SITES = ["fra", "nyc", "sin"]


def log(msg):
    print(msg, flush=True)


def playbook(inv, play, cfg=RECOMMENDED, idempotent=False):
    """Run a playbook; return (wall seconds, changed tasks). An idempotent run must change nothing."""
    env = dict(ENV, ANSIBLE_CONFIG=str(cfg))
    start = time.monotonic()
    res = sh("ansible-playbook", "-i", str(inv), str(play), env=env)
    took = time.monotonic() - start
    recap = RECAP.findall(res.stdout)
    if not recap:
        raise SystemExit(f"bench/site.py: no PLAY RECAP from {play}:\n{res.stdout[-2000:]}")
    changed = sum(int(r[2]) for r in recap)
    if idempotent and changed:
        hosts = [r[0] for r in recap if int(r[2])]
        raise SystemExit(f"bench/site.py: the rerun of {play} changed {changed} tasks on {hosts}: "
                         "not an idempotent figure")
    return took, changed


# ---------------------------------------------------------------- lab: cold vs idempotent
def lab_nodes():
    """The lab's CDN nodes (origin, edges, DNS): the hosts site.yml provisions."""
    inv = yaml.safe_load((LAB / "hosts.yml").read_text())["all"]["children"]
    return [h for g in ("cdn_origin", "cdn_edges", "cdn_dns") for h in inv[g]["hosts"]]


def lab_part(runs):
    if sh("podman", "container", "exists", "lab-router", check=False).returncode != 0:
        raise SystemExit("bench/site.py: the lab is not up (run `make lab`)")
    nodes = lab_nodes()
    cold, idem = [], []
    for i in range(runs):
        sh("podman", "rm", "-f", "-t", "0", *nodes)
        sh("ansible-playbook", "-i", str(LAB), "tests/lab/up.yml")
        c, _out = playbook(LAB, "playbooks/site.yml")
        d, _out = playbook(LAB, "playbooks/site.yml", idempotent=True)
        cold.append(c)
        idem.append(d)
        log(f"lab run {i + 1}: cold {c:.1f} s, idempotent {d:.1f} s, ratio {d / c:.3f}")
    ratios = [d / c for c, d in zip(cold, idem, strict=True)]
    return [
        row("site.yml cold on new containers (lab: origin, 3 edges, 2 DNS)", cold, "s", digits=3),
        row("site.yml idempotent rerun (lab), changed=0", idem, "s", digits=3),
        row("idempotent / cold (per run)", ratios, "ratio", "<= 0.3", statistics.median(ratios) <= 0.3, digits=3),
    ]


# ---------------------------------------------------------------- scaling fleet
def fleet_hosts(edges):
    """Inventory groups for a fleet with `edges` edges (all sizes share names and addresses)."""
    def node(ip, bgp=None, **extra):
        spec = {"ip": f"198.18.150.{ip}"}
        if bgp:
            spec["extra_opts"] = [f"--network=perch-bgp:ip=198.19.150.{ip}"] + extra.pop("opts", [])
            spec["capabilities"] = CAPS
        return spec

    edge_hosts = {}
    for n in range(1, edges + 1):
        ip = 100 + n
        edge_hosts[f"bench-edge{n:02d}"] = {
            "cdn_site": SITES[(n - 1) % len(SITES)], "cdn_ipv4": f"198.18.150.{ip}",
            "anycast_bgp_address": f"198.19.150.{ip}", "perch_lab_container": node(ip, bgp=True)}
    return {
        "cdn_origin": {"hosts": {"bench-origin": {
            "cdn_site": "fra", "cdn_ipv4": "198.18.150.10", "perch_lab_container": node(10)}}},
        "cdn_edges": {"hosts": edge_hosts},
        "cdn_dns": {"hosts": {"bench-dns": {
            "cdn_site": "fra", "cdn_ipv4": "198.18.150.31", "anycast_bgp_address": "198.19.150.31",
            "perch_lab_container": node(31, bgp=True)}}},
        "cdn_routers": {"hosts": {"bench-router": {
            "perch_lab_bgp_address": "198.19.150.2",
            "perch_lab_container": node(2, bgp=True, opts=["--sysctl=net.ipv4.ip_forward=1"])}}},
    }


def write_inventory(edges):
    """A copy of the lab inventory's settings with the fleet's hosts, two levels below the checkout
    (so the lab's `inventory_dir/../..` paths to the GeoIP database and the TLS material still hold)."""
    inv = ROOT / ".cache" / f"bench-fleet-{edges}"
    shutil.rmtree(inv, ignore_errors=True)
    shutil.copytree(LAB / "group_vars", inv / "group_vars")
    shutil.copy(LAB / "zz_sites.yml", inv / "zz_sites.yml")
    cdn = yaml.safe_load((inv / "group_vars" / "all" / "cdn.yml").read_text())
    used = SITES[:min(edges, len(SITES))]
    cdn["cdn_sites"] = {k: v for k, v in cdn["cdn_sites"].items() if k in used}
    (inv / "group_vars" / "all" / "cdn.yml").write_text("---\n" + yaml.safe_dump(cdn, sort_keys=False))
    anycast = yaml.safe_load((inv / "group_vars" / "cdn_edges" / "anycast.yml").read_text())
    for nb in anycast["anycast_neighbors"]:
        nb["address"] = "198.19.150.2"
    (inv / "group_vars" / "cdn_edges" / "anycast.yml").write_text("---\n" + yaml.safe_dump(anycast))
    lab_all = yaml.safe_load((LAB / "hosts.yml").read_text())["all"]
    groups = fleet_hosts(edges)
    groups["perch_lab"] = dict(lab_all["children"]["perch_lab"])
    groups["perch_lab"]["children"] = {g: None for g in groups if g != "perch_lab"}
    (inv / "hosts.yml").write_text("---\n" + yaml.safe_dump(
        {"all": {"vars": lab_all["vars"], "children": groups}}, sort_keys=False))
    return inv


def fleet_up(biggest):
    inv = write_inventory(biggest)
    log(f"fleet: creating {biggest} edges, an origin, a DNS server and a router")
    sh("ansible-playbook", "-i", str(inv), "tests/lab/up.yml")
    sh("ansible-playbook", "-i", str(inv), "tests/lab/router.yml")
    start = time.monotonic()
    playbook(inv, "playbooks/site.yml")
    log(f"fleet: first site.yml on {biggest} edges took {time.monotonic() - start:.0f} s (not a figure)")
    return inv


def fleet_down():
    sh("ansible-playbook", "-i", str(write_inventory(16)), "tests/lab/down.yml", check=False)


def slope(points):
    """Least-squares seconds per edge through (edges, seconds) points."""
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def scaling_part(runs, sizes, keep):
    series = {"default settings": DEFAULT, "recommended settings": RECOMMENDED}
    times = {name: {n: [] for n in sizes} for name in series}
    try:
        fleet_up(max(sizes))
        # largest first: the fleet was just converged to it, and the costly sizes are measured first
        for n in sorted(sizes, reverse=True):
            inv = write_inventory(n)
            playbook(inv, "playbooks/site.yml")  # converge to this size: zone and edge lists change
            for r in range(runs):
                for name, cfg in series.items():
                    took, _out = playbook(inv, "playbooks/site.yml", cfg=cfg, idempotent=True)
                    times[name][n].append(took)
                    log(f"scaling {n:2d} edges, {name}, run {r + 1}: {took:.1f} s")
    finally:
        if not keep:
            fleet_down()
    rows, curve = [], {}
    for name in series:
        goal = name == "recommended settings"  # the targets are for the settings the README recommends
        for n in sizes:
            rows.append(row(f"site.yml idempotent, {n} edges, {name}", times[name][n], "s", digits=3))
        if len(sizes) > 1:
            per_run = [[(n, times[name][n][r]) for n in sizes] for r in range(runs)]
            slopes = [slope(p) for p in per_run]
            rows.append(row(f"marginal cost per edge, {name} (least-squares slope)", slopes, "s/edge",
                            "<= 4 (stretch 2)" if goal else "", statistics.median(slopes) <= 4 if goal else None,
                            digits=3))
        if 4 in sizes and 16 in sizes:
            ratio = [times[name][16][r] / times[name][4][r] for r in range(runs)]
            rows.append(row(f"16 edges / 4 edges, {name}", ratio, "ratio", "<= 2" if goal else "",
                            statistics.median(ratio) <= 2 if goal else None, digits=3))
        curve[name] = [[n, statistics.median(v), min(v), max(v)] for n, v in times[name].items()]
    curves = {"site.yml idempotent vs edges": {"x": "edges", "y": "wall time (s)", "series": curve}}
    return rows, curves


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--part", choices=["lab", "scaling", "all"], default="all")
    ap.add_argument("--sizes", default="1,4,8,16")
    ap.add_argument("--keep-fleet", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not sizes or sizes[0] < 1 or sizes[-1] > 16:
        raise SystemExit(f"bench/site.py: --sizes must be between 1 and 16, got {args.sizes!r}")
    rows, curves = [], {}
    if args.part in ("scaling", "all"):
        rows, curves = scaling_part(args.runs, sizes, args.keep_fleet)
    if args.part in ("lab", "all"):
        rows = lab_part(args.runs) + rows
    for r in rows:
        log(f"{r['metric']}: median {r['median']} {r['unit']} (min {r['min']}, max {r['max']}, {r['runs']} runs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "curves": curves}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
