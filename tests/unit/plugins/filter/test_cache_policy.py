"""perch.cdn.cache_policy: the policy of every service on an edge, every bad value named."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.cache_policy import FilterModule, cache_policy

SERVICES = {"www": {"kind": "web"}, "deb": {"kind": "apt"}, "download": {"kind": "files"}}
SETTINGS = {"valid": "10m", "meta_valid": "60s", "immutable_valid": "30d", "files_valid": "30d", "slice_size": "8m",
            "max_size": {"web": "2g", "apt": "20g", "files": "100g"}, "inactive": "30d",
            "origin_servers": ["192.0.2.80:443"], "hsts_max_age": "0"}
CERTS = [{"name": "cdn", "hostnames": ["www.cdn.example.org", "deb.cdn.example.org"]}]


def test_filter_module():
    assert FilterModule().filters()["cache_policy"] is cache_policy


def test_defaults_and_overrides():
    p = cache_policy(SERVICES, "cdn.example.org", SETTINGS, {"www": {"hsts_max_age": 31536000, "valid": "5m"}}, CERTS)
    assert p["www"]["hsts_max_age"] == 31536000 and p["www"]["valid"] == "5m" and p["www"]["tls"] == "cdn"
    assert p["deb"]["hsts_max_age"] == 0 and p["deb"]["max_size"] == "20g" and p["deb"]["tls"] == "cdn"
    assert p["download"]["tls"] == "" and p["download"]["origin_servers"] == ["192.0.2.80:443"]


@pytest.mark.parametrize(("overrides", "settings", "field"), [
    ({"www": {"hsts_max_age": -1}}, {}, "cache_edge_service_overrides.www.hsts_max_age"),
    ({"www": {"hsts_max_age": "1y"}}, {}, "cache_edge_service_overrides.www.hsts_max_age"),
    ({"www": {"hsts_max_age": True}}, {}, "cache_edge_service_overrides.www.hsts_max_age"),
    ({}, {"hsts_max_age": "yes"}, "cache_edge_hsts_max_age"),
    ({"www": {"hsts": 1}}, {}, "cache_edge_service_overrides.www.hsts"),
    ({"ftp": {"valid": "1m"}}, {}, "cache_edge_service_overrides.ftp"),
    ({"deb": {"meta_valid": "soon"}}, {}, "cache_edge_service_overrides.deb.meta_valid"),
    ({}, {"slice_size": "8 MiB"}, "cache_edge_slice_size"),
    ({}, {"valid": "soon"}, "cache_edge_web_valid"),
    ({"download": {"max_size": "lots"}}, {}, "cache_edge_service_overrides.download.max_size"),
    ({}, {"origin_servers": ["192.0.2.80"]}, "cache_edge_origin_servers"),
])
def test_a_bad_value_names_its_field(overrides, settings, field):
    with pytest.raises(AnsibleFilterError, match=rf"perch.cdn.cache_policy: field '{field}'"):
        cache_policy(SERVICES, "cdn.example.org", dict(SETTINGS, **settings), overrides, CERTS)
