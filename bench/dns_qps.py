#!/usr/bin/env python
"""GeoDNS cost: QPS of the GeoDNS server as perch.cdn.geodns runs it (health-checked LUA answers in the
GeoIP backend, behind dnsdist's ECS-aware packet cache), as a ratio of the same pdns serving an
equivalent static zone with the bind backend, measured side by side in one run; with the static GeoIP
zone of earlier versions and the health-checked zone without dnsdist beside them.

Usage: bench/dns_qps.py [--rounds 5] [--seconds 1] [--json PATH]
One container (bench-dns-1, 198.18.9.11) runs pdns 4.7 and dnsdist 1.7; dnsperf runs on the host. The
zones are rendered by the collection's own module_utils for a 3-site CDN whose edges are three HTTP
responders on the container's loopback (the health checks stay inside it). Each round measures every
setup (rotating which goes first) with queries carrying the EDNS client subnet of 8 countries on 6
continents (one dnsperf run per subnet), so every figure includes the GeoIP lookup; dnsdist's cache
answers a repeated (subnet, name) for 2 s, as it does for a resolver that serves many users.
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

from lab import ROOT, pexec, row, sh

sys.path.insert(0, str(ROOT / ".cache" / "collections"))
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
# the edges are HTTP responders on the container's loopback, so the health checks go nowhere else
EDGES = {f"edge-{s}": {"site": s, "ipv4": f"127.0.0.{11 + i}", "ipv6": None, "state": "active"}
         for i, s in enumerate(SITES)}
SERVICES = {"www": {"kind": "web"}, "deb": {"kind": "apt"}, "download": {"kind": "files"}}
SETUPS = ("geoip", "health", "dnsdist", "bind")
DNSDIST = f"""setSecurityPollSuffix('')
setACL({{'0.0.0.0/0'}})
setLocal('0.0.0.0:53', {{reusePort=true}})
setECSSourcePrefixV4(32)
newServer({{address='127.0.0.1:5300', useClientSubnet=true, checkName='{ZONE}', checkType='SOA', mustResolve=true}})
getPool(''):setCache(newPacketCache(200000, {{maxTTL=2, minTTL=0, temporaryFailureTTL=0, parseECS=true}}))
"""
RESPONDER = """import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '9'); self.end_headers()
        self.wfile.write(b'perch-ok\\n')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()
"""


def ecs_option(ip):
    # EDNS option 8 (client subnet): family 1, source /32, scope 0, address
    return "8:0001" + "2000" + ipaddress.IPv4Address(ip).packed.hex()


def setup(work):
    import yaml

    ns = [{"name": "ns1", "ipv4": IP}]
    for name, health in (("zones.yml", None), ("health.yml", {"timeout": 1})):
        zones = render_zones(build_geo_map(SITES, {}), ZONE, EDGES, SERVICES, ns, health=health)
        with open(os.path.join(work, name), "w") as f:
            yaml.safe_dump(zones, f, width=100000)
    with open(os.path.join(work, "bind.zone"), "w") as f:
        f.write(f"$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 7200 3600 1209600 60\n@ IN NS ns1.{ZONE}.\n")
        f.write(f"ns1 IN A {IP}\n")
        for svc in SERVICES:
            for edge in EDGES.values():
                f.write(f"{svc} IN A {edge['ipv4']}\n")
    with open(os.path.join(work, "named.conf"), "w") as f:
        f.write(f'zone "{ZONE}" {{ type master; file "/etc/powerdns/bench/bind.zone"; }};\n')
    for name, text in (("dnsdist.conf", DNSDIST), ("responder.py", RESPONDER)):
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make-test-mmdb"), os.path.join(work, "geoip.mmdb")],
                   check=True)
    sh("podman", "rm", "-f", NAME, check=False)
    sh(ROOT / "scripts" / "lab-networks")
    sh("podman", "run", "-d", "--name", NAME, "--hostname", NAME, "--network", f"perch-lab:ip={IP}",
       "--systemd=always", "--label", "perch.bench=true", IMAGE, "/sbin/init")
    pexec(NAME, "systemctl is-system-running --wait || true", check=False)
    pexec(NAME, "systemctl mask dnsdist && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                "pdns-server pdns-backend-geoip pdns-backend-bind dnsdist >/dev/null")
    pexec(NAME, "systemctl stop pdns && mkdir -p /etc/powerdns/bench")
    for f in ("zones.yml", "health.yml", "bind.zone", "named.conf", "geoip.mmdb", "dnsdist.conf", "responder.py"):
        sh("podman", "cp", os.path.join(work, f), f"{NAME}:/etc/powerdns/bench/{f}")
    for edge in EDGES.values():
        pexec(NAME, f"nohup python3 /etc/powerdns/bench/responder.py {edge['ipv4']} >/dev/null 2>&1 &")
    pexec(NAME, "cp /etc/powerdns/bench/dnsdist.conf /etc/dnsdist/dnsdist.conf && systemctl unmask dnsdist")


def use(setup_name):
    """Configure and (re)start pdns (and dnsdist) for one setup; wait until it answers."""
    common = "edns-subnet-processing=yes\nsecurity-poll-suffix=\nwebserver=no\nsetuid=pdns\nsetgid=pdns\n"
    zones = {"geoip": "zones.yml", "health": "health.yml", "dnsdist": "health.yml"}.get(setup_name)
    if zones:
        conf = (f"launch=geoip\ngeoip-database-files=mmdb:/etc/powerdns/bench/geoip.mmdb\n"
                f"geoip-zones-file=/etc/powerdns/bench/{zones}\n")
        if zones == "health.yml":
            conf += "enable-lua-records=shared\nlua-records-exec-limit=100000\nlua-health-checks-interval=2\n"
    else:
        conf = "launch=bind\nbind-config=/etc/powerdns/bench/named.conf\n"
    listen = "local-address=127.0.0.1\nlocal-port=5300\n" if setup_name == "dnsdist" else "local-address=0.0.0.0\n"
    pexec(NAME, f"systemctl stop dnsdist; rm -f /etc/powerdns/pdns.d/*; "
                f"printf '%s' '{common + conf + listen}' > /etc/powerdns/pdns.conf; "
                f"chmod -R a+rX /etc/powerdns/bench; systemctl restart pdns"
                + ("; systemctl restart dnsdist" if setup_name == "dnsdist" else ""))
    for _poll in range(100):
        out = sh("dig", f"@{IP}", "+time=1", "+tries=1", "+subnet=198.51.100.7/32", "A", f"www.{ZONE}", check=False)
        # health-checked answers: wait until the checks know the edges (the first answers are the fallback)
        if "NOERROR" in out.stdout and "127.0.0.11" in out.stdout:
            return
        pexec(NAME, "sleep 0.2")
    raise SystemExit(f"bench/dns_qps.py: the {setup_name} setup did not answer with the fra edge")


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
            raise SystemExit(f"bench/dns_qps.py: dnsperf lost {lost} of {done + lost} queries: not a valid measurement")
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
        res = {k: [] for k in (*SETUPS, "ratio_geoip", "ratio_health", "ratio_dnsdist")}
        for r in range(args.rounds):
            order = SETUPS[r % len(SETUPS):] + SETUPS[:r % len(SETUPS)]
            got = {}
            for name in order:
                use(name)
                got[name] = qps(work, args.seconds)
            for k in SETUPS:
                res[k].append(got[k])
            for k in ("geoip", "health", "dnsdist"):
                res["ratio_" + k].append(got[k] / got["bind"])
            print(f"round {r + 1}: " + ", ".join(f"{k} {got[k]:.0f} qps" for k in SETUPS), flush=True)
    finally:
        sh("podman", "rm", "-f", NAME, check=False)
    dnsdist_ratio = statistics.median(res["ratio_dnsdist"])
    rows = [row("QPS, geoip backend, static answers (ECS, 8 countries)", res["geoip"], "qps"),
            row("QPS, geoip backend, health-checked LUA answers, pdns alone", res["health"], "qps"),
            row("QPS, health-checked answers behind dnsdist (perch.cdn.geodns's default)", res["dnsdist"], "qps"),
            row("QPS, bind backend (static zone)", res["bind"], "qps"),
            row("geoip static / bind QPS", res["ratio_geoip"], "ratio"),
            row("health-checked, pdns alone / bind QPS", res["ratio_health"], "ratio"),
            row("health-checked behind dnsdist / bind QPS", res["ratio_dnsdist"], "ratio", ">= 0.5 (goal 0.8)",
                dnsdist_ratio >= 0.5)]
    for r in rows:
        print(f"{r['metric']}: median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
