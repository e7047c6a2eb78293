"""GeoDNS as a user sees it: dig with EDNS client subnet against both real pdns servers."""

import pytest
from cdn import CLIENT, DNS, ECS, IP, ORIGIN, ZONE, dig, site

# client country (scripts/make-test-mmdb) -> the edges of the nearest site
EXPECTED = {
    "DE": site("fra"),  # its own country: both fra edges
    "US": site("nyc"),
    "SG": site("sin"),
    "BR": site("nyc"),  # no site in South America: Sao Paulo is nearer New York than Frankfurt
    "AU": site("sin"),  # no site in Oceania
}


@pytest.mark.parametrize("server", sorted(DNS.values()))
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize("country", sorted(EXPECTED))
def test_nearest_edges(node, server, transport, country):
    assert set(dig(node, server, transport, f"+subnet={ECS[country]}", "A", f"www.{ZONE}")) == EXPECTED[country]


@pytest.mark.parametrize("server", sorted(DNS.values()))
def test_whoami_shows_country_and_city(node, server):
    txt = dig(node, server, "+subnet=198.51.100.7/32", "TXT", f"whoami.{ZONE}")
    assert txt == ["ip 198.51.100.7 country de city frankfurt am main as 64501"]
    txt = dig(node, server, "+subnet=192.0.2.140/32", "TXT", f"whoami.{ZONE}")
    assert "country jp city tokyo" in txt[0]


def test_each_server_says_who_it_is(node):
    for name, server in DNS.items():
        assert dig(node, server, "CH", "TXT", "id.server") == [name]
    nsid = node(CLIENT).check_output(f"dig +nsid @{DNS['cdn-dns2']} SOA {ZONE}")
    assert '("cdn-dns2")' in nsid


def test_no_recursion(node):
    out = node(CLIENT).check_output(f"dig @{DNS['cdn-dns1']} A deb.debian.org")
    assert "status: REFUSED" in out and " ra" not in out.split("flags:")[1].split(";")[0]


@pytest.mark.parametrize("name", sorted(DNS))
def test_query_logging_and_api_off(node, name):
    """No query log and no API; pdns's web server serves /metrics to the monitoring host (cdn-origin) alone."""
    host = node(name)
    running = host.check_output("pdns_control current-config")
    assert "query-logging=no" in running and "log-dns-queries=no" in running
    enabled = [line for line in running.splitlines() if line.split("=")[0] in ("api", "webserver", "query-logging")
               and not line.startswith("#") and line.endswith("=yes")]
    assert enabled == ["webserver=yes"]
    assert f"webserver-allow-from=127.0.0.1,::1,{IP[ORIGIN]}" in running
    metrics = f"curl -s -m 2 -o /dev/null -w '%{{http_code}}' http://{DNS[name]}:8081"
    assert node(ORIGIN).check_output(f"{metrics}/metrics") == "200"
    assert node(ORIGIN).check_output(f"{metrics}/api/v1/servers") != "200"
    assert node(CLIENT).run(f"{metrics}/metrics").stdout != "200"
