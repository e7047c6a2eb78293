#!/usr/bin/env python3
"""GeoDNS cost: QPS of pdns with the GeoIP backend as a ratio of the same pdns serving an
equivalent static zone with the bind backend, measured side by side in one run.

Usage: bench/dns_qps.py [--rounds 5] [--seconds 1] [--json PATH]
One container (bench-dns-1, 198.18.9.11) runs pdns 4.7; dnsperf runs on the host. The GeoIP zone
is rendered by the collection's own filters for a 3-site CDN; the bind zone answers the same
names with static records. Each round measures both backends (alternating which goes first) with
queries carrying the EDNS client subnet of 8 countries on 6 continents (one dnsperf run per subnet).
The ratio is geoip/bind per round; the table shows median, min and max.
"""

import argparse
import ipaddress
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))

from ansible_collections.perch.cdn.plugins.plugin_utils.geo import build_geo_map  # noqa: E402
from ansible_collections.perch.cdn.plugins.plugin_utils.pdns_zones import render_zones  # noqa: E402

NAME, IP, ZONE = "bench-dns-1", "198.18.9.11", "cdn.bench.example"
IMAGE = os.environ.get("PERCH_LAB_IMAGE", "localhost/perch-lab-base:bookworm")
SUBNETS = ["198.51.100.7", "198.51.100.70", "198.51.100.130", "198.51.100.200",
           "192.0.2.10", "192.0.2.70", "192.0.2.140", "192.0.2.200"]  # DE US SG BR AU ZA JP GB
SITES = {
    "fra": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68},
    "nyc": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01},
    "sin": {"country": "SG", "continent": "AS", "lat": 1.35, "lon": 103.82},
}
EDGES = {f"edge-{s}": {"site": s, "ipv4": f"192.0.2.{10 + i}", "ipv6": None, "state": "active"}
         for i, s in enumerate(SITES)}
SERVICES = {"www": {"kind": "web"}, "deb": {"kind": "apt"}, "download": {"kind": "files"}}
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "tests", "lab", "containers.conf"))


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, env=ENV, **kw)


def pexec(script):
    return sh("podman", "exec", NAME, "bash", "-c", script)


def ecs_option(ip):
    # EDNS option 8 (client subnet): family 1, source /32, scope 0, address
    return "8:0001" + "2000" + ipaddress.IPv4Address(ip).packed.hex()


def setup(work):
    import yaml

    geo = render_zones(build_geo_map(SITES, {}), ZONE, EDGES, SERVICES, [{"name": "ns1", "ipv4": IP}])
    with open(os.path.join(work, "zones.yml"), "w") as f:
        yaml.safe_dump(geo, f)
    with open(os.path.join(work, "bind.zone"), "w") as f:
        f.write(f"$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 7200 3600 1209600 60\n@ IN NS ns1.{ZONE}.\n")
        f.write(f"ns1 IN A {IP}\n")
        for svc in SERVICES:
            for edge in EDGES.values():
                f.write(f"{svc} IN A {edge['ipv4']}\n")
    with open(os.path.join(work, "named.conf"), "w") as f:
        f.write(f'zone "{ZONE}" {{ type master; file "/etc/powerdns/bench/bind.zone"; }};\n')
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-test-mmdb"), os.path.join(work, "geoip.mmdb")],
                   check=True)
    sh("podman", "rm", "-f", NAME, check=False)
    sh(os.path.join(ROOT, "scripts", "lab-networks"))
    sh("podman", "run", "-d", "--name", NAME, "--hostname", NAME, "--network", f"perch-lab:ip={IP}",
       "--systemd=always", "--label", "perch.bench=true", IMAGE, "/sbin/init")
    pexec("systemctl is-system-running --wait || true")
    pexec("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
          "pdns-server pdns-backend-geoip pdns-backend-bind >/dev/null")
    pexec("systemctl stop pdns && mkdir -p /etc/powerdns/bench")
    for f in ("zones.yml", "bind.zone", "named.conf", "geoip.mmdb"):
        sh("podman", "cp", os.path.join(work, f), f"{NAME}:/etc/powerdns/bench/{f}")


def use_backend(backend):
    common = ("local-address=0.0.0.0\nedns-subnet-processing=yes\nsecurity-poll-suffix=\nwebserver=no\n"
              "setuid=pdns\nsetgid=pdns\n")
    if backend == "geoip":
        conf = ("launch=geoip\ngeoip-database-files=mmdb:/etc/powerdns/bench/geoip.mmdb\n"
                "geoip-zones-file=/etc/powerdns/bench/zones.yml\n")
    else:
        conf = "launch=bind\nbind-config=/etc/powerdns/bench/named.conf\n"
    pexec(f"rm -f /etc/powerdns/pdns.d/*; printf '%s' '{common + conf}' > /etc/powerdns/pdns.conf; "
          f"chmod -R a+rX /etc/powerdns/bench; systemctl restart pdns")
    for _ in range(50):
        if "NOERROR" in sh("dig", f"@{IP}", "+time=1", "+tries=1", "SOA", ZONE, check=False).stdout:
            return
    raise SystemExit(f"pdns with {backend} did not answer")


def qps(work, seconds):
    queries = os.path.join(work, "queries")
    with open(queries, "w") as f:
        for svc in SERVICES:
            f.write(f"{svc}.{ZONE} A\n")
    total_q, total_t = 0, 0.0
    for ip in SUBNETS:
        out = sh("dnsperf", "-s", IP, "-d", queries, "-l", str(seconds), "-c", "4", "-q", "64",
                 "-e", "-E", ecs_option(ip)).stdout
        done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
        lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
        if lost > done * 0.01:
            raise SystemExit(f"dnsperf lost {lost} of {done + lost} queries: not a valid measurement")
        total_q += done
        total_t += float(re.search(r"Run time \(s\):\s+([\d.]+)", out).group(1))
    return total_q / total_t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="perch-bench-dns.")
    try:
        setup(work)
        res = {"geoip": [], "bind": [], "ratio": []}
        for r in range(args.rounds):
            order = ("geoip", "bind") if r % 2 == 0 else ("bind", "geoip")
            got = {}
            for backend in order:
                use_backend(backend)
                got[backend] = qps(work, args.seconds)
            for k in ("geoip", "bind"):
                res[k].append(got[k])
            res["ratio"].append(got["geoip"] / got["bind"])
            print(f"round {r + 1}: geoip {got['geoip']:.0f} qps, bind {got['bind']:.0f} qps, "
                  f"ratio {res['ratio'][-1]:.2f}", flush=True)
    finally:
        sh("podman", "rm", "-f", NAME, check=False)
    rows = []
    for key, metric, unit, target in (("geoip", "QPS, geoip backend (ECS, 8 countries)", "qps", ""),
                                      ("bind", "QPS, bind backend (static zone)", "qps", ""),
                                      ("ratio", "geoip / bind QPS", "ratio", ">= 0.5")):
        v = res[key]
        rows.append({"metric": metric, "median": statistics.median(v), "min": min(v), "max": max(v), "unit": unit,
                     "runs": len(v), "target": target,
                     "ok": (statistics.median(v) >= 0.5) if key == "ratio" else None})
    for row in rows:
        print(f"{row['metric']}: median {row['median']:.2f} (min {row['min']:.2f}, max {row['max']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
