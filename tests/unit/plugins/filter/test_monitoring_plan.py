"""perch.cdn.monitoring_plan: the filter around plugin_utils.monitoring."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.monitoring_plan import FilterModule, monitoring_plan
from ansible_collections.perch.cdn.plugins.plugin_utils import monitoring
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
from ansible_collections.perch.cdn.plugins.plugin_utils.model import cdn_model

GLOBAL = {
    "cdn_zone": "cdn.example.org",
    "cdn_sites": {"fra1": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68}},
    "cdn_services": {"www": {"kind": "web"}, "deb": {"kind": "apt"}},
    "cdn_anycast_prefixes": ["203.0.113.0/24"],
    "cdn_anycast_allow_special": True,
    "cdn_origin_tls": {"cert": "/ca/origin.pem", "key": "/ca/origin.key", "ca": "/ca/root.pem"},
}
HOSTVARS = {
    "edge-fra1-1": dict(GLOBAL, cdn_site="fra1", cdn_ipv4="192.0.2.11"),
    "dns1": dict(GLOBAL, cdn_site="fra1", cdn_ipv4="192.0.2.53"),
    "origin": dict(GLOBAL, cdn_site="fra1", cdn_ipv4="192.0.2.80"),
}
GROUPS = {"cdn_edges": ["edge-fra1-1"], "cdn_dns": ["dns1"], "cdn_origin": ["origin"], "cdn_monitoring": ["origin"]}
MODEL = cdn_model(HOSTVARS, GROUPS)


def test_filter_module():
    assert FilterModule().filters() == {"monitoring_plan": monitoring_plan}


def test_the_plan():
    p = monitoring_plan(MODEL)
    assert p == monitoring.monitoring_plan(MODEL)
    assert p["allow"] == ["192.0.2.80"]


def test_options_are_passed_through(monkeypatch):
    options = {"interval": "30s", "probe_https": False, "probe_path": "/p", "apt_suite": "stable",
               "thresholds": {"cert_days_min": 3}, "health_path": "/h"}
    p = monitoring_plan(MODEL, **options)
    assert p == monitoring.monitoring_plan(MODEL, **options)
    assert p["apt_probe"]["path"] == "/dists/stable/InRelease" and p["thresholds"]["cert_days_min"] == 3
    seen = {}
    monkeypatch.setattr(monitoring, "monitoring_plan", lambda model, **kw: seen.update(kw, model=model) or "plan")
    assert monitoring_plan(MODEL, **options) == "plan"
    assert seen == dict(options, model=MODEL)


@pytest.mark.parametrize("model, kw, word", [
    (dict(MODEL, monitoring={}), {}, "cdn_monitoring"),
    (MODEL, {"interval": "soon"}, "monitoring_scrape_interval"),
    (MODEL, {"probe_path": "p"}, "monitoring_probe_path"),
    (MODEL, {"thresholds": {"hit_ratio_min": 2}}, "monitoring_alert_thresholds.hit_ratio_min"),
    ("model", {}, "not a CDN model"),
])
def test_errors_are_filter_errors_with_the_fqcn(model, kw, word):
    with pytest.raises(AnsibleFilterError) as exc:
        monitoring_plan(model, **kw)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.monitoring_plan: "), msg
    assert word in msg, msg
    assert isinstance(exc.value.__cause__, CdnInventoryError)
