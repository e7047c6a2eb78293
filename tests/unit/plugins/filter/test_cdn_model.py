"""perch.cdn.cdn_model: one model of the CDN from hostvars and groups."""

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.cdn_model import FilterModule, cdn_model
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
from ansible_collections.perch.cdn.plugins.plugin_utils.model import (
    normalize_monitoring,
    normalize_shields,
    shield_tiers,
)
from hypothesis import given
from hypothesis import strategies as st

GLOBAL = {
    "cdn_zone": "CDN.Example.org.",
    "cdn_sites": {
        "fra1": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68, "provider": "p1"},
        "nyc1": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01},
    },
    "cdn_services": {"www": {"kind": "web"}, "deb": {"kind": "apt"}},
    "cdn_policy": {"failover_depth": 2},
    "cdn_evacuations": {"RU": ["fra1"]},
    "cdn_anycast_prefixes": ["2001:db8:cdb::/48", "203.0.113.0/24"],
    "cdn_anycast_allow_special": True,
    "cdn_origin_tls": {"cert": "/ca/origin.pem", "key": "/ca/origin.key", "ca": "/ca/root.pem"},
}
HOSTS = {
    "edge-fra1-1": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.11", "cdn_ipv6": "2001:DB8:1::11"},
    "edge-nyc1-1": {"cdn_site": "nyc1", "cdn_ipv4": "198.51.100.11", "cdn_state": "drained"},
    "edge-nyc1-2": {"cdn_site": "nyc1", "cdn_ipv4": "198.51.100.12"},
    "dns1": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.53"},
    "origin": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.80"},
    "client": {},
}
GROUPS = {"cdn_edges": ["edge-nyc1-2", "edge-fra1-1", "edge-nyc1-1"], "cdn_dns": ["dns1"], "cdn_origin": ["origin"],
          "cdn_clients": ["client"]}


def hostvars(**changes):
    hv = {h: dict(GLOBAL, **v) for h, v in copy.deepcopy(HOSTS).items()}
    for host, values in changes.items():
        hv[host].update(values)
    return hv


def test_filter_module():
    assert FilterModule().filters()["cdn_model"] is cdn_model


def test_the_model():
    m = cdn_model(hostvars(), GROUPS)
    assert m["zone"] == "cdn.example.org"
    assert list(m["edges"]) == ["edge-fra1-1", "edge-nyc1-1", "edge-nyc1-2"]
    assert m["nodes"]["edge-fra1-1"] == {"site": "fra1", "ipv4": "192.0.2.11", "ipv6": "2001:db8:1::11",
                                         "state": "active", "role": "edge", "shield": None}
    assert m["nodes"]["edge-nyc1-1"]["state"] == "drained"
    assert m["dns"]["dns1"]["role"] == "dns" and m["origin"]["origin"]["role"] == "origin"
    assert "client" not in m["nodes"]
    assert m["policy"] == {"failover_depth": 2, "avoid": {"RU": ["fra1"]}, "pin": {}}
    assert m["anycast_prefixes"] == ["203.0.113.0/24", "2001:db8:cdb::/48"]
    assert m["anycast_addresses"] == ["203.0.113.1", "2001:db8:cdb::1"]
    assert m["services"] == {"deb": {"kind": "apt", "aliases": []}, "www": {"kind": "web", "aliases": []}}
    assert m["serving_sites"]["fra1"]["state"] == "active"


def test_a_site_without_an_active_edge_is_not_serving():
    m = cdn_model(hostvars(), GROUPS, states={"edge-nyc1-2": "drained"}, evacuations={})
    assert m["serving_sites"]["nyc1"]["state"] == "drained"
    assert m["nodes"]["edge-nyc1-2"]["state"] == "drained"


def test_what_if_states_are_validated():
    with pytest.raises(AnsibleFilterError, match=r"^perch\.cdn\.cdn_model: .*drained"):
        cdn_model(hostvars(), GROUPS, states={"edge-fra1-1": "drained", "edge-nyc1-2": "drained"})


def test_what_if_evacuations_replace_the_inventory_ones():
    m = cdn_model(hostvars(), GROUPS, evacuations={"DE": ["edge-fra1-1"]})
    assert m["policy"]["avoid"] == {"DE": ["fra1"]} and m["evacuations"] == {"DE": ["edge-fra1-1"]}


@pytest.mark.parametrize("changes, states, words", [
    ({"edge-fra1-1": {"cdn_ipv4": "192.0.2.300"}}, None, ["node 'edge-fra1-1'", "cdn_ipv4"]),
    ({"edge-fra1-1": {"cdn_state": "gone"}}, None, ["node 'edge-fra1-1'", "cdn_state"]),
    ({}, {"nobody": "drained"}, ["node 'nobody'", "not a CDN node"]),
    ({h: {"cdn_anycast_prefixes": ["203.0.113.0/255.255.255.0"]} for h in HOSTS}, None, ["cdn_anycast_prefixes"]),
])
def test_errors_name_the_filter_and_the_field(changes, states, words):
    with pytest.raises(AnsibleFilterError) as exc:
        cdn_model(hostvars(**changes), GROUPS, states=states)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.cdn_model: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_one_node_one_role():
    groups = dict(GROUPS, cdn_dns=["dns1", "edge-fra1-1"])
    with pytest.raises(AnsibleFilterError, match="edge-fra1-1.*two CDN groups"):
        cdn_model(hostvars(), groups)


def test_no_cdn_node():
    with pytest.raises(AnsibleFilterError, match="no host in cdn_edges"):
        cdn_model({}, {"all": []})


def test_check_false_skips_validation_but_not_normalisation():
    hv = hostvars()
    for h in hv:
        hv[h]["cdn_policy"] = {"failover_depth": 2, "avoid": {"DE": ["fra1"], "US": ["fra1", "nyc1"]}}
    with pytest.raises(AnsibleFilterError):
        cdn_model(hv, GROUPS)
    assert cdn_model(hv, GROUPS, check=False)["policy"]["avoid"]["US"] == ["fra1", "nyc1"]


def test_the_edges_check_the_origin_by_name():
    m = cdn_model(hostvars(), GROUPS)
    assert m["origin_tls"] == {"name": "origin.cdn.example.org", "cert": "/ca/origin.pem", "key": "/ca/origin.key",
                               "chain": "", "ca": "/ca/root.pem"}
    tls = dict(GLOBAL["cdn_origin_tls"], name="Origin.CDN.example.org.", chain="/ca/int.pem")
    m = cdn_model(hostvars(**{h: {"cdn_origin_tls": tls} for h in HOSTS}), GROUPS)
    assert m["origin_tls"]["name"] == "origin.cdn.example.org" and m["origin_tls"]["chain"] == "/ca/int.pem"


def test_plain_http_to_the_origin_only_when_said_and_with_a_warning(monkeypatch):
    warned = []
    monkeypatch.setattr("ansible.utils.display.Display.warning", lambda self, msg, *a, **k: warned.append(msg))
    with pytest.raises(AnsibleFilterError, match=r"field 'cdn_origin_tls': the edges fetch from the origin over TLS"):
        cdn_model(hostvars(**{h: {"cdn_origin_tls": None} for h in HOSTS}), GROUPS)
    assert warned == []
    m = cdn_model(hostvars(**{h: {"cdn_origin_tls": None, "cdn_origin_plain_http": True} for h in HOSTS}), GROUPS)
    assert m["origin_tls"] is None
    assert len(warned) == 1 and "cdn_origin_plain_http is true" in warned[0]
    # a CDN without an origin host needs neither
    groups = dict(GROUPS, cdn_origin=[])
    assert cdn_model(hostvars(**{h: {"cdn_origin_tls": None} for h in HOSTS}), groups)["origin_tls"] is None


@pytest.mark.parametrize(("tls", "plain", "field"), [
    ({"cert": "/c", "key": "/k"}, False, "cdn_origin_tls.ca"),
    ({"cert": "", "key": "/k", "ca": "/a"}, False, "cdn_origin_tls.cert"),
    ({"cert": "/c", "key": 3, "ca": "/a"}, False, "cdn_origin_tls.key"),
    ({"cert": "/c", "key": "/k", "ca": "/a", "chain": ["/x"]}, False, "cdn_origin_tls.chain"),
    ({"cert": "/c", "key": "/k", "ca": "/a", "name": "origin_1.example.org"}, False, "cdn_origin_tls.name"),
    ({"cert": "/c", "key": "/k", "ca": "/a", "name": "origin"}, False, "cdn_origin_tls.name"),
    ({"cert": "/c", "key": "/k", "ca": "/a", "verify": False}, False, "cdn_origin_tls.verify"),
    ({"cert": "/c", "key": "/k", "ca": "/a"}, True, "cdn_origin_tls"),
    (None, "yes", "cdn_origin_plain_http"),
    (["/c"], False, "cdn_origin_tls"),
])
def test_bad_origin_tls_names_the_field(tls, plain, field):
    hv = hostvars(**{h: {"cdn_origin_tls": tls, "cdn_origin_plain_http": plain} for h in HOSTS})
    with pytest.raises(AnsibleFilterError, match=rf"perch.cdn.cdn_model: .*{field}"):
        cdn_model(hv, GROUPS)


def test_shields_and_the_order_from_the_origin():
    hv = hostvars(**{"edge-nyc1-1": {"cdn_shield": "edge-nyc1-2"}, "edge-nyc1-2": {"cdn_shield": "edge-fra1-1"}})
    m = cdn_model(hv, GROUPS)
    assert m["edges"]["edge-nyc1-1"]["shield"] == "edge-nyc1-2"
    assert m["edges"]["edge-fra1-1"]["shield"] is None
    assert m["shields"] == {"edge-fra1-1": ["edge-nyc1-2"], "edge-nyc1-2": ["edge-nyc1-1"]}
    # purge and prewarm go tier by tier: each shield before the edges behind it
    assert m["tiers"] == [["edge-fra1-1"], ["edge-nyc1-2"], ["edge-nyc1-1"]]
    assert "shield" not in m["nodes"]["dns1"]


def test_without_shields_every_edge_is_one_tier():
    m = cdn_model(hostvars(**{"edge-fra1-1": {"cdn_shield": None}, "edge-nyc1-1": {"cdn_shield": ""}}), GROUPS)
    assert m["shields"] == {}
    assert m["tiers"] == [["edge-fra1-1", "edge-nyc1-1", "edge-nyc1-2"]]


@pytest.mark.parametrize("changes, words", [
    ({"edge-nyc1-1": {"cdn_shield": "edge-nyc1-1"}}, ["node 'edge-nyc1-1'", "'cdn_shield'", "itself"]),
    ({"edge-nyc1-1": {"cdn_shield": "dns1"}}, ["node 'edge-nyc1-1'", "'cdn_shield'", "'dns1' is not a cache edge"]),
    ({"edge-nyc1-1": {"cdn_shield": "nowhere"}}, ["node 'edge-nyc1-1'", "'nowhere' is not a cache edge"]),
    ({"edge-nyc1-1": {"cdn_shield": ["edge-fra1-1"]}}, ["node 'edge-nyc1-1'", "'cdn_shield'", "name of another"]),
    ({"edge-nyc1-1": {"cdn_shield": "edge-nyc1-2"}, "edge-nyc1-2": {"cdn_shield": "edge-fra1-1"},
      "edge-fra1-1": {"cdn_shield": "edge-nyc1-1"}},
     ["'cdn_shield'", "loop", "edge-fra1-1 -> edge-nyc1-1 -> edge-nyc1-2 -> edge-fra1-1"]),
])
def test_bad_shields_name_the_node(changes, words):
    with pytest.raises(AnsibleFilterError) as exc:
        cdn_model(hostvars(**changes), GROUPS)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.cdn_model:")
    for word in words:
        assert word in msg, msg


def _expected_problem(picks):
    """What the validation must say of an assignment (edge i -> edge picks[i]), by brute force, in name order."""
    for i in sorted(range(len(picks)), key=lambda n: f"e{n}"):
        p = picks[i]
        if p is not None and p >= len(picks):
            return "not a cache edge"
        if p == i:
            return "itself"
    for i in range(len(picks)):
        seen, nxt = set(), i
        while nxt is not None:
            if nxt in seen:
                return "loop"
            seen.add(nxt)
            nxt = picks[nxt]
    return None


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=11)), min_size=1, max_size=12))
def test_any_shield_assignment_is_refused_or_gives_tiers_with_each_shield_first(picks):
    edges = [f"e{i}" for i in range(len(picks))]
    shields = {e: (None if p is None else f"e{p}") for e, p in zip(edges, picks, strict=True)}
    problem = _expected_problem(picks)
    if problem:
        with pytest.raises(CdnInventoryError, match=problem):
            normalize_shields(shields, edges)
        return
    checked = normalize_shields(shields, edges)
    tiers = shield_tiers(checked)
    where = {e: n for n, tier in enumerate(tiers) for e in tier}
    assert sorted(e for tier in tiers for e in tier) == sorted(edges)
    assert all(where[s] < where[e] for e, s in checked.items() if s is not None)
    assert all(checked[e] is None for e in tiers[0])


def test_a_backup_origin_for_when_the_origin_fails():
    backup = {"servers": ["198.51.100.80:443", "[2001:db8::80]:443"], "name": "Mirror.Example.net.", "ca": "/ca/m.pem"}
    m = cdn_model(hostvars(**{h: {"cdn_origin_backup": backup} for h in HOSTS}), GROUPS)
    assert m["origin_backup"] == {"servers": ["198.51.100.80:443", "[2001:db8::80]:443"], "name": "mirror.example.net",
                                  "ca": "/ca/m.pem"}
    assert cdn_model(hostvars(), GROUPS)["origin_backup"] is None
    # the controller's system bundle unless said otherwise (a public mirror has a public certificate)
    public = {"servers": ["mirror.example.net:443"], "name": "mirror.example.net"}
    m = cdn_model(hostvars(**{h: {"cdn_origin_backup": public} for h in HOSTS}), GROUPS)
    assert m["origin_backup"]["ca"] == "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize("backup, field, words", [
    ("198.51.100.80:443", "cdn_origin_backup", "must be a mapping"),
    ({"servers": []}, "cdn_origin_backup.servers", "list of host:port"),
    ({"servers": ["198.51.100.80"], "name": "m.example.net"}, "cdn_origin_backup.servers[0]", "not host:port"),
    ({"servers": ["198.51.100.80:0"], "name": "m.example.net"}, "cdn_origin_backup.servers[0]", "not host:port"),
    ({"servers": ["198.51.100.80:443"]}, "cdn_origin_backup.name", "not a host name"),
    ({"servers": ["198.51.100.80:443"], "name": "m.example.net", "ca": ""}, "cdn_origin_backup.ca", "path"),
    ({"servers": ["198.51.100.80:443"], "name": "m.example.net", "weight": 1}, "cdn_origin_backup.weight", "unknown"),
    ({"servers": ["198.51.100.12:443"], "name": "m.example.net"}, "cdn_origin_backup.servers[0]",
     "is the edge 'edge-nyc1-2'"),
])
def test_a_bad_backup_origin_names_the_field(backup, field, words):
    with pytest.raises(AnsibleFilterError) as exc:
        cdn_model(hostvars(**{h: {"cdn_origin_backup": backup} for h in HOSTS}), GROUPS)
    assert f"'{field}'" in str(exc.value) or field in str(exc.value), str(exc.value)
    assert words in str(exc.value), str(exc.value)


def test_no_monitoring_without_the_group():
    assert cdn_model(hostvars(), GROUPS)["monitoring"] == {}
    assert cdn_model(hostvars(), dict(GROUPS, cdn_monitoring=[]))["monitoring"] == {}


def test_the_monitoring_hosts_by_ipv4():
    hv = hostvars(origin={"ansible_host": "origin.example.org"})
    hv["mon"] = dict(GLOBAL, ansible_host="198.51.100.99")
    m = cdn_model(hv, dict(GROUPS, cdn_monitoring=["origin", "mon", "origin"]))
    # cdn_ipv4 for a CDN node, else ansible_host; the monitoring host alone is no CDN node
    assert m["monitoring"] == {"mon": {"ipv4": "198.51.100.99"}, "origin": {"ipv4": "192.0.2.80"}}
    assert "mon" not in m["nodes"]


@pytest.mark.parametrize("mon, field", [
    ({"ansible_host": "mon.example.org"}, "ansible_host"),
    ({"ansible_host": "2001:db8::99"}, "ansible_host"),
    ({"ansible_host": "198.51.100.300"}, "ansible_host"),
    ({}, "ansible_host"),
    ({"cdn_ipv4": "2001:db8::99", "ansible_host": "198.51.100.99"}, "cdn_ipv4"),
])
def test_a_monitoring_host_without_ipv4_names_the_host_and_the_field(mon, field):
    hv = hostvars()
    hv["mon"] = dict(GLOBAL, **mon)
    with pytest.raises(AnsibleFilterError) as exc:
        cdn_model(hv, dict(GROUPS, cdn_monitoring=["mon"]))
    assert isinstance(exc.value.__cause__, CdnInventoryError)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.cdn_model: ") and "'mon'" in msg and f"'{field}'" in msg, msg
    with pytest.raises(CdnInventoryError, match=rf"cdn_monitoring host 'mon': field '{field}'"):
        normalize_monitoring(hv, ["mon"])


def test_an_edge_is_no_monitoring_host():
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError as _Err
    from ansible_collections.perch.cdn.plugins.plugin_utils.model import cdn_model as _model
    groups = dict(GROUPS, cdn_monitoring=[sorted(GROUPS["cdn_edges"])[0]])
    with pytest.raises(_Err, match=r"cdn_monitoring host .*: is an edge"):
        _model(hostvars(), groups)
