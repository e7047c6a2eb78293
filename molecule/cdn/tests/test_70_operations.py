"""The whole CDN as an operator runs it: drain, undrain and evacuate while a client keeps
requesting over anycast and by GeoDNS name. Tests run in file order."""

import re
import time

import pytest
from cdn import (
    ANYCAST,
    CLIENT,
    DNS,
    DNS1,
    DNS2,
    ECS,
    EDGES,
    INV,
    ROOT,
    SITES,
    ZONE,
    answers,
    next_hops,
    playbook,
    put,
    site,
    wait_for,
)

EVACUATIONS = INV / "group_vars" / "all" / "cdn_evacuations.yml"
FRA_BGP = {EDGES[e][1] for e in SITES["fra"]}
TTL = 10  # geodns_ttl in the scenario's inventory
TTL_CLIENT = ROOT / "tests" / "lab" / "files" / "perch-ttl-client"
ALL_BGP = {bgp for _unicast, bgp in EDGES.values()}


@pytest.fixture(scope="module", autouse=True)
def restore_inventory():
    evacuations = EVACUATIONS.read_text()
    yield
    EVACUATIONS.write_text(evacuations)
    for edge in EDGES:
        (INV / "host_vars" / edge / "cdn_state.yml").unlink(missing_ok=True)


def shield_status(node, edge="cdn-edge-nyc"):
    """X-Shield-Cache-Status of a cold page fetched through an edge behind the shield fra ('' from the origin)."""
    page = f"/drain-{time.monotonic_ns()}.html"
    node("cdn-origin").check_output(f"echo drain > /srv/perch/www{page}")
    out = node(CLIENT).check_output(
        f"curl -sf -o /dev/null -D - --resolve www.{ZONE}:80:{EDGES[edge][0]} http://www.{ZONE}{page}")
    found = re.search(r"(?im)^x-shield-cache-status:\s*(\S+)", out)
    return found.group(1) if found else ""


class Load:
    """A client in Germany that behaves like a browser behind a resolver (perch-ttl-client): it keeps
    each GeoDNS answer for its TTL and its connection open, and also requests over anycast; every
    failed request is counted."""

    def __init__(self, node, country="DE"):
        self.node = node
        put(CLIENT, "/usr/local/bin/perch-ttl-client", TTL_CLIENT.read_bytes())
        node(CLIENT).check_output(
            f"rm -f /tmp/load.*; nohup python3 /usr/local/bin/perch-ttl-client www.{ZONE} {ECS[country]}"
            f" {DNS1},{DNS2} {ANYCAST} /tmp/load.stop /tmp/load.done >/dev/null 2>&1 &")

    def stop(self):
        self.node(CLIENT).check_output("touch /tmp/load.stop")
        wait_for(lambda: self.node(CLIENT).run("test -s /tmp/load.done").rc == 0, 30)
        ok, fail, peer = self.node(CLIENT).check_output("cat /tmp/load.done").split()
        failures = self.node(CLIENT).run("cat /tmp/load.done.log").stdout
        return int(ok), int(fail), failures, peer


def test_site_built_the_cdn(node):
    assert answers(node, "DE") == site("fra")
    assert answers(node, "US") == site("nyc")
    assert answers(node, "SG", server=DNS["cdn-dns2"]) == site("sin")
    wait_for(lambda: next_hops(node) == ALL_BGP)
    out = node(CLIENT).check_output(f"curl -s -D - -o /dev/null -H 'Host: www.{ZONE}' http://{ANYCAST}/")
    assert "x-cache-status: " in out.lower()


def test_https_with_http2_through_every_edge(node):
    put(CLIENT, "/usr/local/share/perch/labca.pem", (ROOT / ".cache" / "cdn-tls" / "labca.pem").read_bytes())
    for unicast, _bgp in EDGES.values():
        out = node(CLIENT).check_output(
            f"curl -s -o /dev/null -w '%{{http_code}} %{{http_version}}' --cacert /usr/local/share/perch/labca.pem"
            f" --resolve www.{ZONE}:443:{unicast} https://www.{ZONE}/")
        assert out == "200 2"


def test_refuses_to_drain_every_edge(node):
    res = playbook("drain.yml", "-l", "cdn_edges")
    assert res.returncode != 0
    assert "perch.cdn" in res.stdout
    assert not any((INV / "host_vars" / edge / "cdn_state.yml").exists() for edge in EDGES)


def test_drain_a_site_with_zero_failed_requests(node):
    load = Load(node)
    time.sleep(3)
    res = playbook("drain.yml", "-l", "site_fra")
    ok, fail, failures, _peer = load.stop()
    print(f"drain: {res.seconds:.1f} s, {ok} requests served, {fail} failed")
    assert res.returncode == 0, res.stdout[-3000:]
    assert fail == 0, failures
    assert ok > 50
    for server in DNS.values():
        for country in ECS:
            got = answers(node, country, server=server)
            assert got and not got & site("fra"), (server, country, got)
        # Germany falls back to the next nearest site, for every service
        assert answers(node, "DE", server=server) == site("nyc")
        assert answers(node, "DE", server=server, service="deb") == site("nyc")
    assert not next_hops(node) & FRA_BGP
    for edge in SITES["fra"]:
        assert (INV / "host_vars" / edge / "cdn_state.yml").exists()
    # fra, drained, is no longer the shield of the others: their misses go to the origin
    assert shield_status(node) == shield_status(node, "cdn-edge-sin") == ""


def test_site_yml_keeps_the_drained_state(node):
    """A rerun of site.yml after a drain changes nothing on any node: it keeps the drained state."""
    res = playbook("site.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", res.stdout, re.M)
    assert recap and all(n == "0" for _h, n in recap), [line for line in res.stdout.splitlines() if "changed:" in line]
    assert not answers(node, "DE") & site("fra")
    time.sleep(2)
    assert not next_hops(node) & FRA_BGP


def test_undrain_brings_it_back(node):
    res = playbook("undrain.yml", "-l", "site_fra")
    assert res.returncode == 0, res.stdout[-3000:]
    for server in DNS.values():
        assert answers(node, "DE", server=server) == site("fra")
    wait_for(lambda: next_hops(node) == ALL_BGP)
    # and it shields them again (once cache_edge_shield_retry, 10 s, has passed since they left it)
    back = wait_for(lambda: shield_status(node) == "MISS", timeout=15, step=1)
    print(f"undrained: nyc fetches through the shield fra again after {back:.1f} s")


def test_evacuate_a_country_from_a_site_and_back(node):
    res = playbook("evacuate.yml", "-e", "country=DE", "-e", "away_from=fra")
    assert res.returncode == 0, res.stdout[-3000:]
    assert answers(node, "DE") == site("nyc")
    assert answers(node, "SG") == site("sin")
    # only DNS changed: the site still serves over anycast
    assert next_hops(node) >= FRA_BGP
    res = playbook("evacuate.yml", "-e", "country=DE", "-e", "away_from=fra", "-e", "undo=true")
    assert res.returncode == 0, res.stdout[-3000:]
    assert answers(node, "DE") == site("fra")


def test_drain_outlasts_every_dns_cache(node):
    """Drain one edge under load from a client that keeps its answer for the TTL, stop nginx on it
    as soon as drain.yml returns, and keep the load going for one more TTL: no request fails."""
    load = Load(node)
    time.sleep(3)
    res = playbook("drain.yml", "-l", "cdn-edge-fra")
    try:
        assert res.returncode == 0, res.stdout[-3000:]
        node("cdn-edge-fra").check_output("systemctl stop nginx")
        time.sleep(TTL + 2)
        ok, fail, failures, peer = load.stop()
        print(f"drain then stop: drain.yml {res.seconds:.1f} s, {ok} requests served, {fail} failed, last edge {peer}")
        assert fail == 0, failures
        assert ok > 100
        assert peer == EDGES["cdn-edge-fra2"][0]
        assert "safe_to_stop: true" in res.stdout.replace('"', "")
    finally:
        node("cdn-edge-fra").check_output("systemctl start nginx")
        res = playbook("undrain.yml", "-l", "cdn-edge-fra")
    assert res.returncode == 0, res.stdout[-3000:]
    assert answers(node, "DE") == site("fra")
