"""perch.cdn monitoring: what the monitoring host scrapes and probes, from the model of the CDN."""

import copy

import pytest
import yaml
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
from ansible_collections.perch.cdn.plugins.plugin_utils.model import cdn_model
from ansible_collections.perch.cdn.plugins.plugin_utils.monitoring import (
    BLACKBOX,
    PORTS,
    THRESHOLDS,
    foreign_addresses,
    monitoring_plan,
    normalize_thresholds,
)
from hypothesis import given
from hypothesis import strategies as st

GLOBAL = {
    "cdn_zone": "cdn.example.org",
    "cdn_sites": {
        "fra1": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68},
        "nyc1": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01},
    },
    "cdn_services": {"www": {"kind": "web"}, "deb": {"kind": "apt"}},
    "cdn_anycast_prefixes": ["203.0.113.0/24", "2001:db8:cdb::/48"],
    "cdn_anycast_allow_special": True,
    "cdn_origin_tls": {"cert": "/ca/origin.pem", "key": "/ca/origin.key", "ca": "/ca/root.pem"},
}
HOSTS = {
    "edge-fra1-1": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.11", "cdn_ipv6": "2001:db8:1::11"},
    "edge-nyc1-1": {"cdn_site": "nyc1", "cdn_ipv4": "198.51.100.11", "cdn_state": "drained"},
    "dns1": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.53"},
    "dns2": {"cdn_site": "nyc1", "cdn_ipv4": "198.51.100.53"},
    "origin": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.80", "ansible_host": "origin.example.org"},
    "mon": {"ansible_host": "198.51.100.99"},
}
# the origin is a monitoring host too: it keeps its role; mon is a monitoring host only
GROUPS = {"cdn_edges": ["edge-nyc1-1", "edge-fra1-1"], "cdn_dns": ["dns2", "dns1"], "cdn_origin": ["origin"],
          "cdn_monitoring": ["origin", "mon"]}
EDGES = {"edge-fra1-1": "192.0.2.11", "edge-nyc1-1": "198.51.100.11"}
DNS = {"dns1": "192.0.2.53", "dns2": "198.51.100.53"}
ROLE = {"edge-fra1-1": ("fra1", "edge"), "edge-nyc1-1": ("nyc1", "edge"), "dns1": ("fra1", "dns"),
        "dns2": ("nyc1", "dns"), "origin": ("fra1", "origin"), "mon": ("", "monitoring")}


def model(groups=None, **glob):
    hv = {h: dict(GLOBAL, **glob, **v) for h, v in copy.deepcopy(HOSTS).items()}
    return cdn_model(hv, GROUPS if groups is None else groups)


MODEL = model()


def plan(m=None, **kw):
    return monitoring_plan(copy.deepcopy(MODEL) if m is None else m, **kw)


def jobs(p):
    return {j["job_name"]: j for j in p["scrape_configs"]}


def targets(job):
    """[(target, labels)] of a scrape job, one target per static config."""
    out = []
    for sc in job["static_configs"]:
        assert len(sc["targets"]) == 1
        out.append((sc["targets"][0], sc["labels"]))
    return out


def labels(name):
    site, role = ROLE[name]
    return {"node": name, "site": site, "role": role}


def test_every_host_is_scraped_once_by_node_with_its_labels():
    node = targets(jobs(plan())["node"])
    names = [lb["node"] for _t, lb in node]
    assert sorted(names) == sorted(ROLE) and len(names) == len(set(names))
    assert all(lb == labels(lb["node"]) for _t, lb in node)
    assert {lb["node"]: t for t, lb in node} == {
        **{n: f"{ip}:{PORTS['node']}" for n, ip in {**EDGES, **DNS}.items()},
        "origin": "192.0.2.80:9100", "mon": "198.51.100.99:9100"}


@pytest.mark.parametrize("job, hosts", [("nginx", EDGES), ("bird", EDGES), ("edge_stats", EDGES), ("pdns", DNS)])
def test_exporters_of_the_edges_and_the_dns_servers(job, hosts):
    got = targets(jobs(plan())[job])
    assert got == [(f"{hosts[n]}:{PORTS[job]}", labels(n)) for n in sorted(hosts)]


def test_no_pdns_job_without_dns_servers():
    m = model(groups=dict(GROUPS, cdn_dns=[]))
    assert "pdns" not in jobs(plan(m)) and "probe_dns" not in jobs(plan(m))


def _blackbox(job, module):
    assert job["metrics_path"] == "/probe"
    assert job["params"] == {"module": [module]}
    assert job["scrape_interval"] == "15s"
    relabel = job["relabel_configs"]
    assert {"source_labels": ["__address__"], "target_label": "__param_target"} in relabel
    assert {"target_label": "__address__", "replacement": BLACKBOX} in relabel


@pytest.mark.parametrize("https", [True, False])
def test_one_probe_job_per_service_through_every_edge(https):
    p = plan(probe_https=https, probe_path="/.well-known/probe")
    scheme = "https" if https else "http"
    probe = {n: j for n, j in jobs(p).items() if n.startswith("probe_edge")}
    assert sorted(probe) == ["probe_edge_deb", "probe_edge_www"]
    for svc in ("deb", "www"):
        job = probe[f"probe_edge_{svc}"]
        _blackbox(job, f"perch_{svc}")
        assert job["relabel_configs"][-1] == {"target_label": "job", "replacement": "probe_edge"}
        assert targets(job) == [(f"{scheme}://{EDGES[n]}/.well-known/probe", dict(labels(n), service=svc))
                                for n in sorted(EDGES)]
        http = p["blackbox_modules"][f"perch_{svc}"]["http"]
        assert http["headers"] == {"Host": f"{svc}.cdn.example.org"}
        if https:
            assert http["tls_config"] == {"server_name": f"{svc}.cdn.example.org"}
        else:
            assert "tls_config" not in http


def test_anycast_probes_skip_ipv6():
    assert MODEL["anycast_addresses"] == ["203.0.113.1", "2001:db8:cdb::1"]
    probe = {n: j for n, j in jobs(plan(probe_path="/x")).items() if n.startswith("probe_anycast")}
    assert sorted(probe) == ["probe_anycast_deb", "probe_anycast_www"]
    for svc, job in probe.items():
        svc = svc[len("probe_anycast_"):]
        _blackbox(job, f"perch_{svc}")
        assert job["relabel_configs"][-1] == {"target_label": "job", "replacement": "probe_anycast"}
        assert targets(job) == [("https://203.0.113.1/x", {"anycast": "203.0.113.1", "service": svc})]


def test_no_anycast_probe_with_ipv6_anycast_only():
    m = model(cdn_anycast_prefixes=["2001:db8:cdb::/48"])
    assert not [n for n in jobs(plan(m)) if n.startswith("probe_anycast")]


def test_dns_health_and_origin_probes():
    p = plan(health_path="/_health")
    j = jobs(p)
    _blackbox(j["probe_dns"], "perch_dns_soa")
    assert targets(j["probe_dns"]) == [(f"{DNS[n]}:53", labels(n)) for n in sorted(DNS)]
    assert p["blackbox_modules"]["perch_dns_soa"]["dns"]["query_name"] == "cdn.example.org"
    _blackbox(j["probe_health"], "perch_health")
    assert targets(j["probe_health"]) == [(f"http://{EDGES[n]}/_health", labels(n)) for n in sorted(EDGES)]
    # the Host header of the health probe: the first service
    assert p["blackbox_modules"]["perch_health"]["http"]["headers"] == {"Host": "deb.cdn.example.org"}
    assert p["blackbox_modules"]["perch_health"]["http"]["valid_status_codes"] == [200]
    _blackbox(j["probe_origin"], "perch_origin")
    assert targets(j["probe_origin"]) == [("192.0.2.80:80", labels("origin"))]
    assert targets(jobs(plan())["probe_health"])[0][0] == "http://192.0.2.11/.perch/health"


def test_the_interval_of_the_probes():
    for job in plan(interval="1m30s")["scrape_configs"]:
        if job["job_name"].startswith("probe_"):
            assert job["scrape_interval"] == "1m30s"


def test_the_apt_probe():
    p = plan(apt_suite="stable")
    assert p["apt_probe"] == {"host": "deb.cdn.example.org", "path": "/dists/stable/InRelease",
                              "origin": ["192.0.2.80"], "edges": EDGES}
    assert plan()["apt_probe"]["path"] == "/dists/perch/InRelease"
    assert plan(model(cdn_services={"www": {"kind": "web"}}))["apt_probe"] is None


def test_the_monitoring_hosts_are_let_in():
    assert plan()["allow"] == ["192.0.2.80", "198.51.100.99"]


def test_default_thresholds():
    assert plan()["thresholds"] == {k: default for k, (_kind, default) in THRESHOLDS.items()}
    assert normalize_thresholds(None) == normalize_thresholds({}) == plan()["thresholds"]


def test_the_plan_is_yaml_and_shares_no_object():
    p = plan()
    text = yaml.safe_dump(p)
    assert "&id" not in text  # an anchor: one object reached twice
    assert yaml.safe_load(text) == p
    seen = {}

    def walk(obj, where):
        if isinstance(obj, (dict, list)):
            assert id(obj) not in seen, (where, seen.get(id(obj)))
            seen[id(obj)] = where
            for k, v in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
                walk(v, f"{where}.{k}")

    walk(p, "plan")
    node = jobs(p)["node"]["static_configs"]
    node[0]["labels"]["node"] = "changed"
    assert all(sc["labels"]["node"] != "changed" for sc in node[1:])
    assert all(sc["labels"].get("node") != "changed" for j in p["scrape_configs"][1:] for sc in j["static_configs"])


def test_the_plan_does_not_change_the_model():
    m = copy.deepcopy(MODEL)
    monitoring_plan(m)
    assert m == MODEL


@pytest.mark.parametrize("kw, word", [
    ({"m": model(groups={k: v for k, v in GROUPS.items() if k != "cdn_monitoring"})}, "cdn_monitoring"),
    ({"m": model(groups=dict(GROUPS, cdn_monitoring=[]))}, "cdn_monitoring"),
    ({"m": {"zone": "cdn.example.org"}}, "not a CDN model"),
    ({"m": "model"}, "not a CDN model"),
    ({"interval": "15"}, "monitoring_scrape_interval"),
    ({"interval": "fast"}, "monitoring_scrape_interval"),
    ({"interval": 15}, "monitoring_scrape_interval"),
    ({"interval": ""}, "monitoring_scrape_interval"),
    ({"interval": "15s\n"}, "monitoring_scrape_interval"),
    ({"interval": "30s1m"}, "monitoring_scrape_interval"),  # Prometheus wants the units in order
    ({"probe_path": "health"}, "monitoring_probe_path"),
    ({"probe_path": None}, "monitoring_probe_path"),
    ({"health_path": "health"}, "monitoring_health_path"),
    ({"thresholds": ["edge_down_for"]}, "monitoring_alert_thresholds"),
    ({"thresholds": {"edge_down": "1m"}}, "monitoring_alert_thresholds.edge_down"),
])
def test_errors_name_the_variable(kw, word):
    m = kw.pop("m", None)
    with pytest.raises(CdnInventoryError) as exc:
        plan(m, **kw)
    assert word in str(exc.value), str(exc.value)


@pytest.mark.parametrize("key, value", [
    ("edge_down_for", "5 minutes"),
    ("edge_down_for", 60),
    ("edge_down_for", ""),
    ("edge_down_for", "1m\n"),
    ("bgp_down_for", "1m1h"),
    ("hit_ratio_window", None),
    ("hit_ratio_min", 0),
    ("hit_ratio_min", 1.5),
    ("hit_ratio_min", -0.5),
    ("hit_ratio_min", float("nan")),
    ("hit_ratio_min", True),
    ("cache_disk_used_max", "0.9"),
    ("hit_ratio_min_rps", -1),
    ("hit_ratio_min_rps", True),
    ("hit_ratio_min_rps", "1"),
    ("hit_ratio_min_rps", float("nan")),
    ("cert_days_min", 14.0),
    ("cert_days_min", 14.5),
    ("cert_days_min", -1),
    ("cert_days_min", True),
    ("cert_days_min", "14"),
    ("no_such_threshold", 1),
])
def test_bad_thresholds_name_the_key(key, value):
    with pytest.raises(CdnInventoryError) as exc:
        normalize_thresholds({key: value})
    assert str(exc.value).startswith(f"monitoring_alert_thresholds.{key}: "), str(exc.value)


def test_edge_values_of_thresholds():
    got = normalize_thresholds({"hit_ratio_min": 1, "cache_disk_used_max": 0.01, "hit_ratio_min_rps": 0,
                                "cert_days_min": 0, "edge_down_for": "0s", "apt_lag_for": "1h30m",
                                "hit_ratio_window": "1d"})
    assert got["hit_ratio_min"] == 1 and got["hit_ratio_min_rps"] == 0 and got["cert_days_min"] == 0
    assert got["apt_lag_for"] == "1h30m" and got["edge_down_for"] == "0s"


DURATIONS = st.from_regex(r"\A([1-9][0-9]{0,2}(ms|s|m|h))\Z") | st.from_regex(r"\A[1-9][0-9]?h[1-5][0-9]?m\Z")
KINDS = {
    "duration": DURATIONS,
    "ratio": st.floats(min_value=0, max_value=1, exclude_min=True) | st.just(1),
    "number": st.floats(min_value=0, allow_nan=False, allow_infinity=False) | st.integers(min_value=0),
    "days": st.integers(min_value=0, max_value=100_000),
}


@given(st.fixed_dictionaries({}, optional={k: KINDS[kind] for k, (kind, _d) in THRESHOLDS.items()}))
def test_any_valid_thresholds_are_taken_over_the_defaults(given_):
    got = normalize_thresholds(given_)
    assert set(got) == set(THRESHOLDS)
    for key, (_kind, default) in THRESHOLDS.items():
        assert got[key] == given_.get(key, default)


@given(st.text(min_size=1).filter(lambda k: k not in THRESHOLDS), st.one_of(st.none(), st.integers(), DURATIONS))
def test_any_unknown_threshold_is_named(key, value):
    with pytest.raises(CdnInventoryError) as exc:
        normalize_thresholds({"edge_down_for": "1m", key: value})
    assert f"monitoring_alert_thresholds.{key}:" in str(exc.value)


def test_foreign_addresses_spares_the_cdn_and_names_anyone_else():
    own = ["192.0.2.11:9100", "https://198.51.100.11/", "[2001:db8:1::11]:9100", "203.0.113.1", "198.51.100.99",
           "127.0.0.1:9090", "[::1]:9093", "www", "3.0.0~rc50", "11:00:00", "2026-12-06T11:00:00Z", "go1.19.8"]
    assert foreign_addresses(own, MODEL) == []
    client = ["198.51.100.7", "client 2001:db8:99::7 here", "192.0.2.200:55555"]
    assert foreign_addresses(own + client, MODEL) == client
    # the edges' BGP neighbours are the CDN's own when the caller says so
    assert foreign_addresses(["198.18.100.2"], MODEL) == ["198.18.100.2"]
    assert foreign_addresses(["198.18.100.2"], MODEL, known=["198.18.100.2"]) == []


@given(st.ip_addresses(v=4) | st.ip_addresses(v=6))
def test_any_address_outside_the_cdn_is_found(addr):
    value = f"x={addr}"
    ours = {"192.0.2.11", "198.51.100.11", "2001:db8:1::11", "192.0.2.53", "198.51.100.53", "192.0.2.80",
            "203.0.113.1", "2001:db8:cdb::1", "198.51.100.99"}
    found = foreign_addresses([value], MODEL)
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:192.0.2.11 is written with the IPv4 address in it
    inner = mapped if mapped is not None else addr
    assert found == ([] if str(inner) in ours or inner.is_loopback or inner.is_unspecified else [value])
