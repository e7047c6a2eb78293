"""perch.cdn.answer_lifetime: how long a removed DNS answer can reach users (drain.yml waits that long)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.answer_lifetime import FilterModule, answer_lifetime

ROLE = {"geodns_ttl": 60, "geodns_packet_cache_ttl": 20, "geodns_query_cache_ttl": 20, "geodns_frontend": True,
        "geodns_frontend_cache_seconds": 2, "geodns_health_checks": True, "geodns_health_interval": 2,
        "geodns_health_timeout": 2}


def test_filter_module():
    assert FilterModule().filters()["answer_lifetime"] is answer_lifetime


def test_the_role_defaults():
    assert answer_lifetime([{}, {}], ROLE) == 60 + 20 + 20 + 2 + 2 + 2
    assert answer_lifetime([], ROLE) == 106  # no DNS server in the inventory: the role's own values


def test_the_longest_server_wins_and_its_own_settings_count():
    lab = {"geodns_ttl": "20", "geodns_packet_cache_ttl": 5, "geodns_query_cache_ttl": 5}
    assert answer_lifetime([lab], ROLE) == 20 + 5 + 5 + 2 + 2 + 2
    assert answer_lifetime([lab, {"geodns_ttl": 300}], ROLE) == 300 + 20 + 20 + 2 + 2 + 2


def test_without_dnsdist_or_health_checks_their_terms_drop():
    assert answer_lifetime([{"geodns_frontend": False, "geodns_health_checks": "false"}], ROLE) == 100


@pytest.mark.parametrize("bad, name", [
    ({"geodns_ttl": "a minute"}, "geodns_ttl"),
    ({"geodns_ttl": -1}, "geodns_ttl"),
    ({"geodns_frontend": "perhaps"}, "geodns_frontend"),
    ({"geodns_health_interval": True}, "geodns_health_interval"),
])
def test_bad_values_name_the_variable(bad, name):
    with pytest.raises(AnsibleFilterError, match=rf"^perch\.cdn\.answer_lifetime: {name} "):
        answer_lifetime([bad], ROLE)


def test_defaults_must_hold_every_setting():
    with pytest.raises(AnsibleFilterError, match="defaults must hold"):
        answer_lifetime([], {"geodns_ttl": 60})
