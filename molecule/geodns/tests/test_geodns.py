"""GeoDNS as a user sees it: dig with EDNS client subnet against both real pdns servers."""

import os
import subprocess

import pytest

SERVERS = ["198.18.2.11", "198.18.2.12"]
ZONE = "cdn.test.example"
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# client subnet (scripts/make-test-mmdb) -> the edges of the nearest site
EXPECTED = {
    "198.51.100.7/32": ["192.0.2.11", "192.0.2.12"],  # DE -> fra (its own country)
    "198.51.100.70/32": ["192.0.2.21"],  # US -> nyc
    "198.51.100.130/32": ["192.0.2.31"],  # SG -> sin
    "198.51.100.200/32": ["192.0.2.41"],  # BR -> gru
    "192.0.2.10/32": ["192.0.2.31"],  # AU -> sin (no site in Oceania)
}


def dig(node, server, *args):
    out = node("geodns-client").check_output(f"dig +short +time=2 +tries=2 @{server} " + " ".join(args))
    return sorted(line.strip('"') for line in out.splitlines() if line)


def converge(*extra):
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    cmd = ["ansible-playbook", "-i", os.path.join(eph, "inventory"), os.path.join(SCENARIO, "converge.yml"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize("subnet", sorted(EXPECTED))
def test_nearest_edges(node, server, transport, subnet):
    assert dig(node, server, transport, f"+subnet={subnet}", "A", f"www.{ZONE}") == EXPECTED[subnet]


@pytest.mark.parametrize("server", SERVERS)
def test_whoami_shows_country_and_city(node, server):
    txt = dig(node, server, "+subnet=198.51.100.7/32", "TXT", f"whoami.{ZONE}")
    assert txt == ["ip 198.51.100.7 country de city frankfurt am main as 64501"]
    txt = dig(node, server, "+subnet=192.0.2.140/32", "TXT", f"whoami.{ZONE}")
    assert "country jp city tokyo" in txt[0]


def test_each_server_says_who_it_is(node):
    assert dig(node, SERVERS[0], "CH", "TXT", "id.server") == ["geodns-dns1"]
    assert dig(node, SERVERS[1], "CH", "TXT", "id.server") == ["geodns-dns2"]
    nsid = node("geodns-client").check_output(f"dig +nsid @{SERVERS[1]} SOA {ZONE}")
    assert '("geodns-dns2")' in nsid


def test_no_recursion(node):
    out = node("geodns-client").check_output(f"dig @{SERVERS[0]} A deb.debian.org")
    assert "status: REFUSED" in out and " ra" not in out.split("flags:")[1].split(";")[0]


def test_drained_site_disappears_then_returns(node):
    res = converge("-e", "@" + os.path.join(SCENARIO, "vars", "drained.yml"))
    assert res.returncode == 0, res.stdout[-2000:]
    for server in SERVERS:
        for subnet in EXPECTED:
            answer = dig(node, server, f"+subnet={subnet}", "A", f"www.{ZONE}")
            assert answer and not {"192.0.2.11", "192.0.2.12"} & set(answer), (server, subnet, answer)
        # Germany falls back to the next nearest site
        assert dig(node, server, "+subnet=198.51.100.7/32", "A", f"deb.{ZONE}") == ["192.0.2.21"]
    res = converge()
    assert res.returncode == 0, res.stdout[-2000:]
    assert dig(node, SERVERS[1], "+subnet=198.51.100.7/32", "A", f"www.{ZONE}") == EXPECTED["198.51.100.7/32"]


@pytest.mark.parametrize(
    "extra",
    [
        # pdns cannot load this record: the throwaway check server refuses the zone
        ['{"geodns_extra_records": {"bad": [{"a": "not-an-address"}]}}'],
        # not a GeoIP database
        ['{"geodns_mmdb_src": "/etc/hostname"}'],
        # every site drained: an empty answer set is refused before anything is rendered
        ['{"geodns_edges": {"edge-fra-1": {"site": "fra", "ipv4": "192.0.2.11", "ipv6": null, "state": "drained"}}}'],
    ],
    ids=["broken-record", "broken-mmdb", "empty-answer"],
)
def test_broken_input_fails_and_old_answers_keep_flowing(node, extra):
    res = converge("-e", extra[0])
    assert res.returncode != 0
    # serial: 1 and max_fail_percentage: 0 stop the rollout at the first server
    # (both servers are previewed at once in check mode first; the rollout is the last two plays,
    # and the first of them, for servers that answer nothing yet, has none here)
    rollout = res.stdout.split("PLAY [GeoDNS servers that answer nothing yet", 1)[1].split("PLAY RECAP")[0]
    assert "geodns-dns2" not in rollout
    for server in SERVERS:
        assert dig(node, server, "+subnet=198.51.100.70/32", "A", f"www.{ZONE}") == ["192.0.2.21"]
        assert dig(node, server, "+subnet=198.51.100.7/32", "A", f"www.{ZONE}") == EXPECTED["198.51.100.7/32"]


def soa_serial(node, server):
    return dig(node, server, "SOA", ZONE)[0].split()[2]


def test_converge_reloads_a_pdns_left_on_an_older_zone(node):
    """A run stopped between publishing the zones file and the reload leaves pdns on the older
    zone, and the rerun has no file left to change: it must reload anyway."""
    published = soa_serial(node, SERVERS[0])
    live = "/etc/powerdns/perch-zones.yml"
    # pdns loads a zone with serial 42; then the published file is put back, without a reload
    node("geodns-dns1").check_output(
        f"cp -p {live} /run/perch-zones.yml && sed -i -E 's/^( *- soa: [^ ]+ [^ ]+) [0-9]+/\\1 42/' {live}"
        f" && pdns_control reload && pdns_control purge && cp -p /run/perch-zones.yml {live}")
    assert soa_serial(node, SERVERS[0]) == "42"
    res = converge()
    assert res.returncode == 0, res.stdout[-3000:]
    assert "RUNNING HANDLER [perch.cdn.geodns : Reload pdns zones]" in res.stdout
    assert soa_serial(node, SERVERS[0]) == soa_serial(node, SERVERS[1]) == published


def test_query_logging_and_api_off(node):
    for name in ("geodns-dns1", "geodns-dns2"):
        host = node(name)
        running = host.check_output("pdns_control current-config")
        assert "query-logging=no" in running and "log-dns-queries=no" in running
        enabled = [line for line in running.splitlines() if line.split("=")[0] in ("api", "webserver", "query-logging")
                   and not line.startswith("#") and line.endswith("=yes")]
        assert enabled == []
        assert not host.socket("tcp://0.0.0.0:8081").is_listening
