"""GeoDNS follows edge health: every DNS server checks every edge itself, and answers with the
live edges of the first site in the client's list that has one (perch.cdn.geodns, LUA records)."""

import subprocess
import time

import pytest
from cdn import ANYCAST, CLIENT, DNS, EDGES, ENV, ZONE, answers, dig, podman, site, unicast, wait_for

RISE = 3  # cache_edge_health_rise in the scenario's inventory


def everywhere(node, country, want, service="www"):
    """Both DNS servers answer the country with exactly `want`."""
    return all(answers(node, country, server=s, service=service) == want for s in DNS.values())


def health(node, server):
    """{edge: {service: 'up' | 'down'}} as the DNS server believes."""
    out = {}
    for line in dig(node, server, "TXT", f"health.{ZONE}"):
        name, _addr, *checks = line.split()
        out[name] = dict(c.split(":") for c in checks)
    return out


@pytest.fixture(autouse=True)
def every_edge_serves(node):
    """Each test starts, and leaves, with every edge serving and in the answers."""
    yield
    for edge in EDGES:
        node(edge).run("systemctl reset-failed nginx; systemctl start nginx")
    wait_for(lambda: everywhere(node, "DE", site("fra")) and everywhere(node, "SG", site("sin"))
             and everywhere(node, "US", site("nyc")), timeout=60, step=0.5)


def test_each_server_shows_what_it_believes(node):
    for server in DNS.values():
        seen = health(node, server)
        assert set(seen) == set(EDGES)
        assert all(state == "up" for checks in seen.values() for state in checks.values()), seen
        assert set(next(iter(seen.values()))) == {"www", "deb", "download"}


def test_a_stopped_edge_leaves_the_answers_and_comes_back_after_its_rise(node):
    node("cdn-edge-sin").check_output("systemctl stop nginx")
    gone = wait_for(lambda: everywhere(node, "SG", site("fra")), timeout=10, step=0.2)
    print(f"sin stopped: both DNS servers answer Singapore with fra after {gone:.1f} s")
    ip = sorted(answers(node, "SG"))[0]
    assert node(CLIENT).check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' --resolve www.{ZONE}:80:{ip} http://www.{ZONE}/") == "200"
    assert all(health(node, s)["cdn-edge-sin"]["www"] == "down" for s in DNS.values())
    node("cdn-edge-sin").check_output("systemctl start nginx")
    back = wait_for(lambda: everywhere(node, "SG", site("sin")), timeout=30, step=0.2)
    print(f"sin started: back in the answers after {back:.1f} s (rise {RISE} s)")
    assert back >= RISE  # not before it has served for its rise


def test_a_crashed_nginx_is_left_out_of_its_own_site(node):
    """fra is also the shield of fra2, nyc and sin: while it is down they fetch their misses from the origin."""
    children = [e for e in EDGES if e != "cdn-edge-fra"]
    node("cdn-origin").check_output(
        "mkdir -p /srv/perch/www/crash && for i in $(seq 40); do echo $i > /srv/perch/www/crash/$i.html; done")
    # a client asks the three for cold pages, before, during and after the crash
    load = subprocess.Popen(
        ["podman", "exec", CLIENT, "sh", "-c",
         "for i in $(seq 40); do for e in " + " ".join(EDGES[e][0] for e in children) + "; do"
         f" curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 10 --resolve www.{ZONE}:80:$e http://www.{ZONE}/crash/$i.html;"
         " done; sleep 0.1; done"], env=ENV, stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    node("cdn-edge-fra").check_output("systemctl kill -s KILL nginx")
    took = wait_for(lambda: everywhere(node, "DE", unicast("cdn-edge-fra2")), timeout=10, step=0.2)
    print(f"fra crashed: Germany gets fra2 alone after {took:.1f} s")
    assert everywhere(node, "DE", unicast("cdn-edge-fra2"), service="deb")
    codes = load.communicate(timeout=120)[0].split()
    print(f"fra crashed: its 3 edges served {codes.count('200')} of {len(codes)} cold pages")
    assert codes == ["200"] * 120
    # from the origin, not the shield (no X-Shield-Cache-Status)
    out = node(CLIENT).check_output(f"curl -s -o /dev/null -D - --resolve www.{ZONE}:80:{EDGES['cdn-edge-nyc'][0]}"
                                    f" 'http://www.{ZONE}/crash/1.html?after'").lower()
    assert "x-cache-status: miss" in out and "x-shield-cache-status" not in out, out


def test_a_host_that_stops_answering_is_left_out(node):
    """A frozen host (no RST, no answer at all): the checks time out."""
    podman("pause", "cdn-edge-nyc")
    try:
        took = wait_for(lambda: everywhere(node, "US", site("fra")), timeout=10, step=0.2)
        print(f"nyc frozen: the USA gets fra after {took:.1f} s")
    finally:
        podman("unpause", "cdn-edge-nyc")


def test_a_frozen_shield_costs_its_edges_time_not_requests(node):
    """fra frozen (no RST, no answer): a miss on an edge behind it waits until its fetch from fra times out
    (3 s to connect, proxy_read_timeout on a kept-alive connection), then comes from the origin; the next
    miss goes to the origin at once (fra is left alone for cache_edge_shield_retry)."""
    node("cdn-origin").check_output(
        "mkdir -p /srv/perch/www/frozen && for i in 1 2; do echo $i > /srv/perch/www/frozen/$i.html; done")
    sin = EDGES["cdn-edge-sin"][0]
    podman("pause", "cdn-edge-fra")
    try:
        for i in (1, 2):
            out = node(CLIENT).check_output(
                f"curl -s -o /dev/null -D - -w 'took %{{time_total}} s' --max-time 60 --resolve www.{ZONE}:80:{sin}"
                f" http://www.{ZONE}/frozen/{i}.html").lower()
            print(f"fra frozen: miss {i} on sin {out.rsplit('took', 1)[1].strip()}")
            assert out.startswith("http/1.1 200") and "x-shield-cache-status" not in out, out
    finally:
        podman("unpause", "cdn-edge-fra")


def test_every_edge_down_answers_the_anycast_address(node):
    for edge in EDGES:
        node(edge).check_output("systemctl stop nginx")
    wait_for(lambda: everywhere(node, "DE", {ANYCAST}), timeout=10, step=0.2)
    for server in DNS.values():
        # never SERVFAIL, never empty: with a client subnet, and without one (the client's own address)
        for subnet in ("+subnet=198.51.100.7/32", "+subnet=192.0.2.10/32", ""):
            out = node(CLIENT).check_output(f"dig +time=2 +tries=2 @{server} {subnet} A www.{ZONE}")
            assert "status: NOERROR" in out, out
            assert dig(node, server, subnet, "A", f"www.{ZONE}") == [ANYCAST]
    # whoami still answers
    assert dig(node, DNS["cdn-dns1"], "+subnet=198.51.100.7/32", "TXT", f"whoami.{ZONE}")
