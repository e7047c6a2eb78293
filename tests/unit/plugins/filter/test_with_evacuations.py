"""perch.cdn.with_evacuations: evacuations extend the avoid policy, and geo_map honours them."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.geo_map import geo_map
from ansible_collections.perch.cdn.plugins.filter.with_evacuations import with_evacuations
from hypothesis import given
from hypothesis import strategies as st

SITES = {
    "fra": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68, "provider": "eu-cloud"},
    "ams": {"country": "NL", "continent": "EU", "lat": 52.37, "lon": 4.9, "provider": "eu-cloud"},
    "nyc": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01, "provider": "na-cloud"},
}
NODES = {"edge-fra-1": {"site": "fra", "ipv4": "192.0.2.1", "ipv6": None, "state": "active"}}


def test_merges_and_keeps_existing_avoid():
    policy = {"failover_depth": 2, "avoid": {"RU": ["nyc"]}}
    out = with_evacuations(policy, {"RU": ["fra"], "BY": ["eu-cloud"]})
    assert out == {"failover_depth": 2, "avoid": {"BY": ["eu-cloud"], "RU": ["nyc", "fra"]}}
    assert policy == {"failover_depth": 2, "avoid": {"RU": ["nyc"]}}  # input untouched


def test_node_is_resolved_to_its_site_and_geo_map_keeps_the_country_off_it():
    policy = with_evacuations({}, {"DE": ["edge-fra-1"]}, NODES)
    assert policy["avoid"] == {"DE": ["fra"]}
    assert "fra" not in geo_map(SITES, policy)["countries"]["DE"]
    assert geo_map(SITES, policy)["countries"]["DE"][0] == "ams"
    assert geo_map(SITES, policy)["countries"]["FR"][0] in ("ams", "fra")  # other countries unchanged


def test_evacuating_a_country_from_everything_is_refused():
    policy = with_evacuations({}, {"DE": ["eu-cloud", "nyc"]})
    with pytest.raises(AnsibleFilterError, match="DE"):
        geo_map(SITES, policy)


@pytest.mark.parametrize("bad", [["fra"], {"DE": "fra"}])
def test_bad_shapes_name_the_filter(bad):
    with pytest.raises(AnsibleFilterError, match="perch.cdn.with_evacuations"):
        with_evacuations({}, bad)


@given(st.dictionaries(st.sampled_from(["DE", "FR", "BR", "JP"]), st.lists(st.sampled_from(list(SITES)), max_size=3)))
def test_idempotent(evac):
    once = with_evacuations({}, evac)
    assert with_evacuations(once, evac) == once
