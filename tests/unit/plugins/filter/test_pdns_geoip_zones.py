"""perch.cdn.pdns_geoip_zones: the structure it renders (the live pdns test is test_pdns_server.py)."""

import copy
import random

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.pdns_geoip_zones import FilterModule, pdns_geoip_zones
from ansible_collections.perch.cdn.plugins.plugin_utils.geo import build_geo_map
from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
from ansible_collections.perch.cdn.plugins.plugin_utils.pdns_zones import WHOAMI_TXT, render_zones
from ansible_collections.perch.cdn.tests.unit.utils.strategies import shuffled, sites
from hypothesis import given, settings
from hypothesis import strategies as st

ZONE = "cdn.example.org"
SITES = {
    "fra1": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68},
    "nyc1": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01},
    "sin1": {"country": "SG", "continent": "AS", "lat": 1.35, "lon": 103.82},
}
EDGES = {
    "e-fra1-2": {"site": "fra1", "ipv4": "192.0.2.12", "ipv6": "2001:db8:1::12", "state": "active"},
    "e-fra1-1": {"site": "fra1", "ipv4": "192.0.2.11", "ipv6": "2001:db8:1::11", "state": "active"},
    "e-nyc1-1": {"site": "nyc1", "ipv4": "198.51.100.11", "ipv6": None, "state": "active"},
    "e-sin1-1": {"site": "sin1", "ipv4": "192.0.2.41", "ipv6": None, "state": "active"},
    "e-sin1-2": {"site": "sin1", "ipv4": "192.0.2.42", "ipv6": None, "state": "drained"},
}
SERVICES = {"www": {"kind": "web"}, "deb": {"kind": "apt"}, "download": {"kind": "files"}}
NS = [{"name": "ns1", "ipv4": "192.0.2.53", "ipv6": "2001:db8:1::53"}, {"name": "ns2", "ipv4": "198.51.100.53"}]


def render(**kw):
    gm = kw.pop("geo_map", None) or build_geo_map(SITES, {})
    zone, edge_nodes = kw.pop("zone", ZONE), kw.pop("edge_nodes", EDGES)
    services, nameservers = kw.pop("services", SERVICES), kw.pop("nameservers", NS)
    return pdns_geoip_zones(gm, zone, edge_nodes, services, nameservers, **kw)


def test_filter_module():
    assert FilterModule().filters()["pdns_geoip_zones"] is pdns_geoip_zones


def test_structure():
    out = render()
    assert list(out) == ["domains"] and len(out["domains"]) == 1
    dom = out["domains"][0]
    assert dom["domain"] == ZONE and dom["ttl"] == 60
    rec = dom["records"]
    soa = rec[ZONE][0]["soa"].split()
    assert soa[:2] == ["ns1.cdn.example.org", "hostmaster.cdn.example.org"]
    assert soa[3:] == ["7200", "3600", "1209600", "60"]
    assert {"ns": "ns1.cdn.example.org"} in rec[ZONE] and {"ns": "ns2.cdn.example.org"} in rec[ZONE]
    assert rec["ns1.cdn.example.org"] == [{"a": "192.0.2.53"}, {"aaaa": "2001:db8:1::53"}]
    assert rec["ns2.cdn.example.org"] == [{"a": "198.51.100.53"}]
    assert rec["whoami.cdn.example.org"] == [{"txt": '"ip %ip country %cc city %ci as %as"'}] == [{"txt": WHOAMI_TXT}]
    assert dom["services"]["www.cdn.example.org"] == [
        "%cc.country.www.cdn.example.org", "%cn.continent.www.cdn.example.org", "default.www.cdn.example.org"]
    assert set(dom["services"]) == {f"{s}.{ZONE}" for s in SERVICES}
    # edges sorted numerically, both families, drained edge left out
    assert rec["de.country.www.cdn.example.org"] == [
        {"a": "192.0.2.11"}, {"a": "192.0.2.12"}, {"aaaa": "2001:db8:1::11"}, {"aaaa": "2001:db8:1::12"}]
    assert rec["sg.country.deb.cdn.example.org"] == [{"a": "192.0.2.41"}]
    assert rec["us.country.download.cdn.example.org"] == [{"a": "198.51.100.11"}]
    assert rec["na.continent.www.cdn.example.org"] == [{"a": "198.51.100.11"}]
    assert rec["sin1.site.cdn.example.org"] == [{"a": "192.0.2.41"}]
    for svc in SERVICES:
        for cc in COUNTRIES:
            assert f"{cc.lower()}.country.{svc}.{ZONE}" in rec
        for c in CONTINENTS:
            assert f"{c.lower()}.continent.{svc}.{ZONE}" in rec
        assert f"default.{svc}.{ZONE}" in rec
    # names are lower case: the backend lower-cases %cc/%cn
    assert all(name == name.lower() for name in rec)


def test_answer_sites():
    rec = render(answer_sites=2)["domains"][0]["records"]
    assert [r.get("a") for r in rec["de.country.www.cdn.example.org"] if "a" in r] == [
        "192.0.2.11", "192.0.2.12", "198.51.100.11"]


def test_sites_without_edges_are_skipped_within_the_list():
    edges = {k: v for k, v in EDGES.items() if not k.startswith("e-fra1")}
    rec = render(edge_nodes=edges)["domains"][0]["records"]
    assert rec["de.country.www.cdn.example.org"] == [{"a": "198.51.100.11"}]
    assert "fra1.site.cdn.example.org" not in rec


def test_serial_follows_content_and_can_be_set():
    a, b = render(), render()
    assert a == b
    c = render(edge_nodes=dict(EDGES, extra={"site": "nyc1", "ipv4": "198.51.100.12"}))

    def serial(out):
        return out["domains"][0]["records"][ZONE][0]["soa"].split()[2]

    assert serial(a) != serial(c)
    assert serial(render(serial=2026112401)) == "2026112401"
    assert render(hostmaster="noc.example.org")["domains"][0]["records"][ZONE][0]["soa"].split()[1] == "noc.example.org"


def test_zone_normalised_and_external_nameserver():
    out = render(zone="CDN.Example.org.", nameservers=[{"name": "ns.provider.example.net"}, NS[0]])
    dom = out["domains"][0]
    assert dom["domain"] == ZONE
    assert {"ns": "ns.provider.example.net"} in dom["records"][ZONE]
    assert "ns.provider.example.net" not in dom["records"]  # no glue out of zone


def test_yaml_round_trip():
    out = render()
    assert yaml.safe_load(yaml.safe_dump(out)) == out


@pytest.mark.parametrize(("kw", "words"), [
    ({"zone": "cdn"}, ["zone: 'cdn'"]),
    ({"ttl": 0}, ["'ttl'"]),
    ({"answer_sites": "1"}, ["'answer_sites'"]),
    ({"nameservers": []}, ["'nameservers'"]),
    ({"nameservers": [{"name": "ns1"}]}, ["nameserver 'ns1'", "glue"]),
    ({"nameservers": [{"name": "ns1", "ipv4": "999.1.1.1"}]}, ["nameserver 'ns1'", "'ipv4'", "'999.1.1.1'"]),
    ({"nameservers": [{"name": "whoami", "ipv4": "192.0.2.1"}]}, ["nameserver 'whoami'", "reserved"]),
    ({"nameservers": NS + NS[:1]}, ["duplicate"]),
    ({"services": {"ns1": {"kind": "web"}}}, ["service 'ns1'", "name server"]),
    ({"services": {"whoami": {"kind": "web"}}}, ["service 'whoami'", "reserved"]),
    ({"services": {}}, ["no services"]),
    ({"services": "www"}, ["'services'"]),
    ({"edge_nodes": {"e": {"site": "fra1", "ipv4": "192.0.2"}}}, ["node 'e'", "'cdn_ipv4'"]),
    ({"edge_nodes": {"e": {"site": "fra1", "ipv4": "192.0.2.1", "ipv6": "x"}}}, ["node 'e'", "'cdn_ipv6'"]),
    ({"edge_nodes": {}}, ["has an active edge node", "refusing to publish an empty answer"]),
    ({"geo_map": {"countries": {}}}, ["geo_map"]),
])
def test_errors(kw, words):
    with pytest.raises(AnsibleFilterError) as exc:
        render(**kw)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.pdns_geoip_zones: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_refuses_empty_region():
    gm = copy.deepcopy(build_geo_map(SITES, {}))
    gm["countries"]["RU"] = []
    with pytest.raises(AnsibleFilterError, match=r"region countries\.RU: empty site list"):
        render(geo_map=gm)
    gm = copy.deepcopy(build_geo_map(SITES, {}))
    del gm["countries"]["FR"]
    with pytest.raises(AnsibleFilterError, match=r"region countries\.FR: missing"):
        render(geo_map=gm)
    gm = copy.deepcopy(build_geo_map(SITES, {}))
    gm["default"] = []
    with pytest.raises(AnsibleFilterError, match="region default: empty"):
        render(geo_map=gm)


@settings(max_examples=15)  # each example renders ~800 names twice
@given(sites(max_size=6), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_property_render_answers_and_purity(s, answer_sites, seed):
    gm = build_geo_map(s, {})
    # one edge per active site, deterministic addresses
    edges = {}
    for i, name in enumerate(sorted(s)):
        edges[f"e-{name}"] = {"site": name, "ipv4": f"198.51.100.{i + 1}", "ipv6": f"2001:db8::{i + 1:x}",
                              "state": "active"}
    ns = [{"name": "ns1", "ipv4": "192.0.2.53"}]
    out = render_zones(gm, ZONE, edges, SERVICES, ns, answer_sites=answer_sites)
    rng = random.Random(seed)
    again = render_zones(shuffled(gm, rng), ZONE, shuffled(edges, rng), shuffled(SERVICES, rng), ns,
                         answer_sites=answer_sites)
    assert yaml.safe_dump(out) == yaml.safe_dump(again)
    rec = out["domains"][0]["records"]
    for cc, lst in gm["countries"].items():
        want = sorted(edges[f"e-{n}"]["ipv4"] for n in lst[:answer_sites])
        got = sorted(r["a"] for r in rec[f"{cc.lower()}.country.www.{ZONE}"] if "a" in r)
        assert got == want
        assert {r["aaaa"] for r in rec[f"{cc.lower()}.country.deb.{ZONE}"] if "aaaa" in r} == {
            edges[f"e-{n}"]["ipv6"] for n in lst[:answer_sites]}


def test_module_utils_error_type():
    with pytest.raises(CdnInventoryError):
        render_zones({}, ZONE, EDGES, SERVICES, NS)


def test_nameservers_from_cdn_nodes():
    dns = {
        "lab-dns2": {"site": "nyc1", "ipv4": "198.51.100.53", "ipv6": None, "state": "active"},
        "lab-dns1": {"site": "fra1", "ipv4": "192.0.2.53", "ipv6": "2001:db8:1::53", "state": "active"},
        "lab-dns3": {"site": "sin1", "ipv4": "192.0.2.153", "ipv6": None, "state": "drained"},
    }
    dom = render(nameservers=dns)["domains"][0]
    apex = dom["records"][ZONE]
    assert apex[0]["soa"].startswith("lab-dns1.cdn.example.org ")
    assert [r["ns"] for r in apex[1:]] == ["lab-dns1.cdn.example.org", "lab-dns2.cdn.example.org"]
    assert dom["records"]["lab-dns1.cdn.example.org"] == [{"a": "192.0.2.53"}, {"aaaa": "2001:db8:1::53"}]
    assert "lab-dns3.cdn.example.org" not in dom["records"]
    with pytest.raises(AnsibleFilterError, match="at least one active node"):
        render(nameservers={"d": dict(dns["lab-dns3"])})


# ---------------------------------------------------------------- health-following answers

HEALTH = {"path": "/.perch/health", "match": "perch-ok", "timeout": 2}


def test_health_puts_a_lua_record_where_the_addresses_were():
    rec = render(health=HEALTH, last_resort=["203.0.113.1", "2001:db8:cdb::1"])["domains"][0]["records"]
    lua = rec["de.country.www.cdn.example.org"]
    assert [r["lua"].split()[0] for r in lua] == ["A", "AAAA"]  # AAAA because fra1 has IPv6
    code = lua[0]["lua"]
    # the whole ordered list of the country's sites, each one group of its active edges
    assert "perch_answer('www', 'A', {{'192.0.2.11', '192.0.2.12', s='fra1'}, {'198.51.100.11', s='nyc1'}," in code
    assert "'192.0.2.42'" not in code  # drained
    assert "include('_perch-lua')" in code
    library = rec["_perch-lua.cdn.example.org"][0]["lua"]
    assert library.startswith('TXT "(function() ')
    assert "http://www.cdn.example.org/.perch/health" in library and "stringmatch='perch-ok'" in library
    assert "l={'203.0.113.1'}" in library and "l={'2001:db8:cdb::1'}" in library
    assert rec["health.cdn.example.org"][0]["lua"].startswith('TXT ";')
    # the static per-site names stay
    assert rec["fra1.site.cdn.example.org"] == [
        {"a": "192.0.2.11"}, {"a": "192.0.2.12"}, {"aaaa": "2001:db8:1::11"}, {"aaaa": "2001:db8:1::12"}]


def test_health_records_load_the_library_of_their_own_zone():
    one = render(health=HEALTH)["domains"][0]["records"]
    two = render(health=dict(HEALTH, timeout=3))["domains"][0]["records"]
    v1 = one["de.country.www.cdn.example.org"][0]["lua"].split("perch_lua ~= '")[1][:8]
    v2 = two["de.country.www.cdn.example.org"][0]["lua"].split("perch_lua ~= '")[1][:8]
    assert v1 != v2  # a pdns thread that ran the old library loads the new one


def test_health_output_is_deterministic_and_loads_as_yaml():
    a = render(health=HEALTH, last_resort=["203.0.113.1"])
    shuffled_edges = dict(random.sample(list(EDGES.items()), len(EDGES)))
    b = render(health=HEALTH, last_resort=["203.0.113.1"], edge_nodes=shuffled_edges)
    assert a == b
    text = yaml.safe_dump(a, width=100000)
    assert yaml.safe_load(text) == a


def test_without_ipv6_there_is_no_aaaa_record():
    edges = {k: dict(v, ipv6=None) for k, v in EDGES.items()}
    rec = render(health=HEALTH, edge_nodes=edges)["domains"][0]["records"]
    assert [r["lua"].split()[0] for r in rec["default.deb.cdn.example.org"]] == ["A"]


@pytest.mark.parametrize("health, field", [
    ({"path": "no-slash"}, "health.path"),
    ({"path": "/x'); os.exit() --"}, "health.path"),
    ({"match": "it's"}, "health.match"),
    ({"match": ""}, "health.match"),
    ({"timeout": 0}, "health.timeout"),
    ({"timeout": "2"}, "health.timeout"),
    ({"interval": 2}, "health.interval"),
    ("yes", "health"),
])
def test_bad_health_settings_name_the_field(health, field):
    with pytest.raises(AnsibleFilterError, match=rf"perch\.cdn\.pdns_geoip_zones: field '{field}'"):
        render(health=health)


@pytest.mark.parametrize("last", [["not-an-address"], "203.0.113.1", [1]])
def test_bad_last_resort_is_refused(last):
    with pytest.raises(AnsibleFilterError, match="last_resort"):
        render(health=HEALTH, last_resort=last)


def test_health_is_a_reserved_service_name():
    with pytest.raises(AnsibleFilterError, match="reserved"):
        render(services={"health": {"kind": "web"}})
