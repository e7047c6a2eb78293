"""Changing the GeoDNS: a broken change never reaches a live server, and a rerun catches up a pdns
that a stopped run left on an older zone."""

import pytest
from cdn import DNS, ZONE, dig, playbook, site, wait_for

DE, US = "198.51.100.7/32", "198.51.100.70/32"


@pytest.mark.parametrize(
    "extra",
    [
        # pdns cannot load this record: the throwaway check server refuses the zone
        '{"geodns_extra_records": {"bad": [{"a": "not-an-address"}]}}',
        # a LUA record that does not run: the check server answers SERVFAIL for it
        '{"geodns_extra_records": {"badlua": [{"lua": "A \\";return nothing_here()\\""}]}}',
        # not a GeoIP database
        '{"geodns_mmdb_src": "/etc/hostname"}',
        # every site drained: an empty answer set is refused before anything is rendered
        '{"geodns_edges": {"edge-fra-1": {"site": "fra", "ipv4": "192.0.2.11", "ipv6": null, "state": "drained"}}}',
    ],
    ids=["broken-record", "broken-lua", "broken-mmdb", "empty-answer"],
)
def test_broken_input_fails_and_old_answers_keep_flowing(node, extra):
    res = playbook("dns.yml", "-e", extra)
    assert res.returncode != 0
    # serial: 1 and max_fail_percentage: 0 stop the rollout at the first server
    # (both servers are previewed at once in check mode first; the rollout is the last two plays,
    # and the first of them, for servers that answer nothing yet, has none here)
    rollout = res.stdout.split("PLAY [GeoDNS servers that answer nothing yet", 1)[1].split("PLAY RECAP")[0]
    assert "cdn-dns2" not in rollout
    for server in DNS.values():
        assert set(dig(node, server, f"+subnet={US}", "A", f"www.{ZONE}")) == site("nyc")
        assert set(dig(node, server, f"+subnet={DE}", "A", f"www.{ZONE}")) == site("fra")


def soa_serial(node, server):
    return dig(node, server, "SOA", ZONE)[0].split()[2]


def test_converge_reloads_a_pdns_left_on_an_older_zone(node):
    """A run stopped between publishing the zones file and the reload leaves pdns on the older
    zone, and the rerun has no file left to change: it must reload anyway."""
    dns1, dns2 = DNS.values()
    published = soa_serial(node, dns1)
    live = "/etc/powerdns/perch-zones.yml"
    # pdns loads a zone with serial 42; then the published file is put back, without a reload
    node("cdn-dns1").check_output(
        f"cp -p {live} /run/perch-zones.yml && sed -i -E 's/^( *- soa: [^ ]+ [^ ]+) [0-9]+/\\1 42/' {live}"
        f" && pdns_control reload && pdns_control purge && cp -p /run/perch-zones.yml {live}")
    # dnsdist in front keeps an answer up to geodns_frontend_cache_seconds (2 s here)
    wait_for(lambda: soa_serial(node, dns1) == "42", timeout=5)
    res = playbook("dns.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "RUNNING HANDLER [perch.cdn.geodns : Reload pdns zones]" in res.stdout
    wait_for(lambda: soa_serial(node, dns1) == soa_serial(node, dns2) == published, timeout=5)
