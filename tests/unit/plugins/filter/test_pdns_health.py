"""Health-following answers in a real pdns_server (GeoIP backend + LUA records), against real HTTP
health endpoints on loopback addresses that the test turns on and off.

Skipped when pdns_server or dig is not installed, or when the test cannot listen on port 80 of
127.0.0.x (the health URL is http://<service>.<zone>/.perch/health, port 80, like the edges').
"""

import http.server
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml
from ansible_collections.perch.cdn.plugins.filter.geo_map import geo_map
from ansible_collections.perch.cdn.plugins.filter.pdns_geoip_zones import pdns_geoip_zones
from ansible_collections.perch.cdn.tests.unit.utils.pdns import DIG, PDNS, free_port, pdns_server

ZONE = "cdn.health.example"
SITES = {
    "fra": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68},
    "lon": {"country": "GB", "continent": "EU", "lat": 51.51, "lon": -0.13},
    "nyc": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01},
}
EDGES = {
    "edge-fra-1": {"site": "fra", "ipv4": "127.0.0.21", "ipv6": None, "state": "active"},
    "edge-fra-2": {"site": "fra", "ipv4": "127.0.0.22", "ipv6": None, "state": "active"},
    "edge-lon-1": {"site": "lon", "ipv4": "127.0.0.23", "ipv6": None, "state": "active"},
    "edge-nyc-1": {"site": "nyc", "ipv4": "127.0.0.24", "ipv6": None, "state": "active"},
}
ANYCAST = "203.0.113.1"
DE, US, GB = "198.51.100.7/32", "198.51.100.70/32", "192.0.2.200/32"


class Health(http.server.BaseHTTPRequestHandler):
    up: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        ok = self.path == "/.perch/health" and self.up.get(self.server.server_address[0], False)
        body = b"perch-ok test\n" if ok else b"down\n"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def edges():
    servers = []
    try:
        for node in EDGES.values():
            srv = http.server.ThreadingHTTPServer((node["ipv4"], 80), Health)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            servers.append(srv)
    except OSError as exc:
        for srv in servers:
            srv.shutdown()
        pytest.skip(f"cannot listen on port 80 of 127.0.0.x: {exc}")
    Health.up = {n["ipv4"]: True for n in EDGES.values()}
    yield Health.up
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def pdns(edges, root, tmp_path_factory):
    if PDNS is None or DIG is None:
        pytest.skip("pdns_server or dig is not installed")
    tmp = tmp_path_factory.mktemp("pdns-health")
    mmdb = tmp / "test.mmdb"
    subprocess.run([sys.executable, os.path.join(root, "scripts", "make-test-mmdb"), str(mmdb)], check=True)
    gm = geo_map(SITES, {"failover_depth": 1})
    zones = pdns_geoip_zones(gm, ZONE, EDGES, {"www": {"kind": "web"}, "deb": {"kind": "apt"}},
                             [{"name": "ns1", "ipv4": "192.0.2.53"}],
                             health={"timeout": 1}, last_resort=[ANYCAST])
    (tmp / "zones.yml").write_text(yaml.safe_dump(zones, default_flow_style=False, width=100000))
    (tmp / "pdns.conf").write_text("")
    port = free_port()
    args = [
        f"--config-dir={tmp}", f"--socket-dir={tmp}", "--guardian=no", "--daemon=no", "--disable-syslog",
        "--write-pid=no", "--local-address=127.0.0.1", f"--local-port={port}", "--launch=geoip",
        f"--geoip-database-files=mmdb:{mmdb}", f"--geoip-zones-file={tmp / 'zones.yml'}",
        "--edns-subnet-processing=yes", "--enable-lua-records=shared", "--lua-health-checks-interval=1",
        "--lua-records-exec-limit=100000",
    ]
    with pdns_server(args, tmp / "pdns.log") as proc:
        ask = {"port": port, "geo_map": gm, "log": tmp / "pdns.log"}
        deadline = time.monotonic() + 20
        while not dig(ask, ZONE, "SOA"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pdns_server did not answer:\n{(tmp / 'pdns.log').read_text()}")
            time.sleep(0.2)
        wait(lambda: all_up(ask))  # the first ask starts a check of every edge
        yield ask


def dig(pdns, name, rtype, subnet=None):
    cmd = [DIG, "+short", "+time=2", "+tries=2", "-p", str(pdns["port"]), "@127.0.0.1", name, rtype]
    if subnet:
        cmd.insert(1, f"+subnet={subnet}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert "SERVFAIL" not in out.stdout + out.stderr
    return sorted(line for line in out.stdout.splitlines() if line)


def wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "not within the timeout"
        time.sleep(0.2)


def www(pdns, subnet):
    return dig(pdns, f"www.{ZONE}", "A", subnet)


def all_up(pdns):
    lines = dig(pdns, f"health.{ZONE}", "TXT")
    return len(lines) == len(EDGES) and all(line.count(":up") == 2 for line in lines)


@pytest.fixture
def restore(pdns, edges):
    yield edges
    for ip in edges:
        edges[ip] = True
    wait(lambda: all_up(pdns))


def test_all_up_answers_the_site_of_the_country(pdns):
    assert www(pdns, DE) == ["127.0.0.21", "127.0.0.22"]
    assert www(pdns, US) == ["127.0.0.24"]
    assert www(pdns, GB) == ["127.0.0.23"]


def test_a_dead_edge_is_left_out_of_its_site(pdns, restore):
    restore["127.0.0.21"] = False
    wait(lambda: www(pdns, DE) == ["127.0.0.22"])
    assert dig(pdns, f"deb.{ZONE}", "A", DE) == ["127.0.0.22"]


def test_a_dead_site_falls_back_to_the_continent_then_the_default(pdns, restore):
    restore["127.0.0.21"] = restore["127.0.0.22"] = False
    # Germany's list (failover_depth 1) is fra alone: next the Europe list, or the default list
    eu = [s for s in pdns["geo_map"]["continents"]["EU"] + pdns["geo_map"]["default"] if s != "fra"][0]
    want = sorted(n["ipv4"] for n in EDGES.values() if n["site"] == eu)
    wait(lambda: www(pdns, DE) == want)


def test_nothing_up_answers_the_anycast_address(pdns, restore):
    for ip in restore:
        restore[ip] = False
    wait(lambda: www(pdns, DE) == [ANYCAST])
    assert www(pdns, US) == [ANYCAST]
    assert www(pdns, None) == [ANYCAST]  # no client subnet at all
    assert dig(pdns, f"www.{ZONE}", "AAAA", DE) == []  # no IPv6 anywhere: no data, no error


def test_an_edge_that_comes_back_is_answered_again(pdns, restore):
    restore["127.0.0.24"] = False
    wait(lambda: www(pdns, US) != ["127.0.0.24"])
    restore["127.0.0.24"] = True
    wait(lambda: www(pdns, US) == ["127.0.0.24"])


def test_health_txt_shows_every_edge(pdns, restore):
    restore["127.0.0.23"] = False
    wait(lambda: '"edge-lon-1 127.0.0.23 deb:down www:down"' in dig(pdns, f"health.{ZONE}", "TXT"))
    assert '"edge-fra-1 127.0.0.21 deb:up www:up"' in dig(pdns, f"health.{ZONE}", "TXT")


def test_whoami_still_answers(pdns):
    assert dig(pdns, f"whoami.{ZONE}", "TXT", DE) == ['"ip 198.51.100.7 country de city frankfurt am main as 64501"']
