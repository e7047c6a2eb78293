"""perch.cdn.validate_cdn, cdn_nodes and serving_sites."""

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.cdn_nodes import cdn_nodes
from ansible_collections.perch.cdn.plugins.filter.serving_sites import serving_sites
from ansible_collections.perch.cdn.plugins.filter.validate_cdn import FilterModule, validate_cdn
from hypothesis import given
from hypothesis import strategies as st

SITES = {
    "fra1": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68, "provider": "hetzner"},
    "nyc1": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01, "provider": "vultr"},
    "sin1": {"country": "SG", "continent": "AS", "lat": 1.35, "lon": 103.82, "provider": "ovh", "weight": 10},
}
NODES = {
    "edge-fra1": {"site": "fra1", "ipv4": "192.0.2.11", "ipv6": "2001:db8:1::11", "state": "active"},
    "edge-nyc1": {"site": "nyc1", "ipv4": "198.51.100.11", "ipv6": None, "state": "active"},
    "edge-sin1": {"site": "sin1", "ipv4": "192.0.2.41", "ipv6": None, "state": "active"},
    "ns1": {"site": "fra1", "ipv4": "192.0.2.53", "ipv6": None, "state": "active"},
}
SERVICES = {
    "www": {"kind": "web", "aliases": ["www.example.org"]},
    "deb": {"kind": "apt"},
    "download": {"kind": "files"},
}
POLICY = {"failover_depth": 3, "avoid": {"RU": ["fra1", "hetzner"]}, "pin": {"CH": ["fra1", "nyc1"]}}
PREFIXES = ["203.0.113.0/24", "2001:db8:cdb::/48"]
EDGES = ["edge-fra1", "edge-nyc1", "edge-sin1"]


def args(**over):
    a = {"sites": SITES, "nodes": NODES, "services": SERVICES, "policy": POLICY, "anycast_prefixes": PREFIXES}
    a = copy.deepcopy(a)
    a.update(over)
    return a


def check(a, **kw):
    # the tests use documentation ranges (special-purpose) for the anycast prefixes
    kw.setdefault("anycast_allow_special", True)
    return validate_cdn(a["sites"], a["nodes"], a["services"], a["policy"], a["anycast_prefixes"], **kw)


def fails(a, *words, **kw):
    with pytest.raises(AnsibleFilterError) as exc:
        check(a, **kw)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.validate_cdn: "), msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_valid_inventory():
    assert check(args()) is True
    assert check(args(), edges=EDGES, zone="cdn.example.org") is True
    assert FilterModule().filters()["validate_cdn"] is validate_cdn


def test_nodes_may_omit_ipv6_and_state():
    a = args()
    a["nodes"]["edge-nyc1"] = {"site": "nyc1", "ipv4": "198.51.100.11"}
    assert check(a) is True


@pytest.mark.parametrize(("node_field", "value", "words"), [
    ("site", "zrh1", ["node 'edge-fra1'", "'cdn_site'", "'zrh1' is not a key of cdn_sites"]),
    ("site", None, ["node 'edge-fra1'", "'cdn_site'", "missing"]),
    ("ipv4", "192.0.2.256", ["node 'edge-fra1'", "'cdn_ipv4'", "'192.0.2.256' is not an IPv4 address"]),
    ("ipv4", "2001:db8::1", ["node 'edge-fra1'", "'cdn_ipv4'", "not an IPv4 address"]),
    ("ipv4", "fra1.example.org", ["node 'edge-fra1'", "'cdn_ipv4'"]),
    ("ipv4", "1", ["node 'edge-fra1'", "'cdn_ipv4'"]),
    ("ipv4", None, ["node 'edge-fra1'", "'cdn_ipv4'", "missing"]),
    ("ipv4", 3221225995, ["node 'edge-fra1'", "'cdn_ipv4'"]),
    ("ipv6", "2001:db8::zz", ["node 'edge-fra1'", "'cdn_ipv6'", "not an IPv6 address"]),
    ("ipv6", "192.0.2.1", ["node 'edge-fra1'", "'cdn_ipv6'"]),
    ("state", "maintenance", ["node 'edge-fra1'", "'cdn_state'", "'maintenance'"]),
    ("ipv4", "192.0.2.53", ["node 'ns1'", "'cdn_ipv4'", "192.0.2.53 is already the address of node 'edge-fra1'"]),
    ("ipv4", "203.0.113.7", ["node 'edge-fra1'", "'cdn_ipv4'", "inside anycast prefix 203.0.113.0/24"]),
    ("ipv6", "2001:db8:cdb::1", ["node 'edge-fra1'", "'cdn_ipv6'", "inside anycast prefix"]),
    ("bgp", 1, ["node 'edge-fra1'", "'bgp'", "unknown field"]),
])
def test_node_errors(node_field, value, words):
    a = args()
    a["nodes"]["edge-fra1"][node_field] = value
    fails(a, *words)


@pytest.mark.parametrize(("prefixes", "words"), [
    (["203.0.113.0/24", "203.0.113.128/25"], ["'203.0.113.128/25'", "overlaps '203.0.113.0/24'"]),
    (["2001:db8::/32", "2001:db8:cdb::/48"], ["'2001:db8:cdb::/48'", "overlaps '2001:db8::/32'"]),
    (["203.0.113.1/24"], ["'203.0.113.1/24'", "host bits set", "203.0.113.0/24"]),
    (["203.0.113.0/33"], ["'203.0.113.0/33'", "not an IP prefix"]),
    (["anycast"], ["'anycast'", "not an IP prefix"]),
    (["203.0.113.0"], ["'203.0.113.0'", "prefix length"]),
    ("203.0.113.0/24", ["cdn_anycast_prefixes", "list"]),
])
def test_anycast_prefix_errors(prefixes, words):
    fails(args(anycast_prefixes=prefixes), "cdn_anycast_prefixes", *words)


def test_anycast_v4_and_v6_do_not_overlap_each_other():
    # numerically 1.0.0.0/8 lies inside ::/19; they are different families
    assert check(args(anycast_prefixes=["1.0.0.0/8", "::/19"], nodes={})) is True


@pytest.mark.parametrize(("services", "words"), [
    ({"www": {"kind": "cdn"}}, ["service 'www'", "'kind'", "'cdn'"]),
    ({"www": {}}, ["service 'www'", "'kind'"]),
    ({"WWW": {"kind": "web"}}, ["service 'WWW'", "DNS labels"]),
    ({"whoami": {"kind": "web"}}, ["service 'whoami'", "reserved"]),
    ({"www": {"kind": "web", "aliases": "www.example.org"}}, ["service 'www'", "'aliases'"]),
    ({"www": {"kind": "web", "aliases": ["Bad Name"]}}, ["service 'www'", "'aliases'", "'Bad Name'"]),
    ({"www": {"kind": "web", "origin": "x"}}, ["service 'www'", "'origin'", "unknown field"]),
    ({}, ["cdn_services is empty"]),
])
def test_service_errors(services, words):
    fails(args(services=services), *words)


@pytest.mark.parametrize(("field", "value"), [
    ("country", "XX"), ("continent", "EA"), ("lat", 91), ("lon", -180.5), ("state", "off"), ("weight", 65536),
])
def test_site_errors(field, value):
    a = args()
    a["sites"]["nyc1"][field] = value
    fails(a, "site 'nyc1'", f"'{field}'", repr(value))


@pytest.mark.parametrize(("policy", "words"), [
    ({"avoid": {"RU": ["aws"]}}, ["cdn_policy.avoid entry 'RU'", "'aws' is neither a site nor a provider"]),
    ({"avoid": {"SU": ["fra1"]}}, ["cdn_policy.avoid entry 'SU'", "'country'"]),
    ({"pin": {"CH": ["zrh1"]}}, ["cdn_policy.pin entry 'CH'", "unknown site 'zrh1'"]),
    ({"pin": {"CH": ["hetzner"]}}, ["cdn_policy.pin entry 'CH'", "unknown site 'hetzner'"]),
])
def test_policy_errors(policy, words):
    fails(args(policy=policy), *words)


def test_empty_answer_avoided_everywhere():
    fails(args(policy={"avoid": {"RU": ["hetzner", "vultr", "ovh"]}}), "country RU", "empty answer")


def test_empty_answer_all_sites_drained():
    a = args()
    for s in a["sites"].values():
        s["state"] = "drained"
    fails(a, "every site in cdn_sites is drained")


def test_empty_answer_when_edges_are_drained():
    # sites are active but the only edges outside the avoided provider are drained
    a = args(policy={"avoid": {"RU": ["hetzner"]}})
    a["nodes"]["edge-nyc1"]["state"] = "drained"
    a["nodes"]["edge-sin1"]["state"] = "drained"
    assert check(a) is True
    fails(a, "country RU", "empty answer", edges=EDGES)


def test_edges_must_be_known_nodes():
    fails(args(), "edge 'edge-xxx1'", edges=["edge-xxx1"])


@pytest.mark.parametrize("zone", ["cdn", "bad zone.org", "-x.example.org", 7])
def test_zone_errors(zone):
    fails(args(), "cdn_zone", zone=zone)


@given(st.sampled_from(["ipv4", "ipv6"]),
       st.one_of(st.text(max_size=20), st.integers(), st.sampled_from(["256.0.0.1", "1.2.3", "::g", "1.2.3.4/24"])))
def test_property_not_an_address(field, bad):
    import netaddr

    version = 4 if field == "ipv4" else 6
    try:
        netaddr.IPAddress(bad, version=version)
        return  # hypothesis found a real address; nothing to check
    except Exception:  # noqa: BLE001 - anything netaddr refuses must be refused by us too
        pass
    a = args()
    a["nodes"]["ns1"][field] = bad
    fails(a, "node 'ns1'", f"'cdn_{field}'")


@given(st.lists(st.integers(0, 255), min_size=2, max_size=2), st.integers(16, 24), st.integers(16, 24))
def test_property_prefix_overlap_detected(octets, len1, len2):
    import netaddr

    n1 = netaddr.IPNetwork(f"198.18.{octets[0]}.0/{len1}").cidr
    n2 = netaddr.IPNetwork(f"198.18.{octets[1]}.0/{len2}").cidr
    overlap = n1.first <= n2.last and n2.first <= n1.last
    a = args(anycast_prefixes=[str(n1), str(n2)])
    if overlap:
        fails(a, "overlaps")
    else:
        assert check(a) is True


# ---------------------------------------------------------------- cdn_nodes / serving_sites

def test_cdn_nodes_normalises():
    hostvars = {
        "a": {"cdn_site": "fra1", "cdn_ipv4": "192.0.2.1"},
        "b": {"cdn_site": "nyc1", "cdn_ipv4": "192.0.2.2", "cdn_ipv6": "2001:db8::2", "cdn_state": "drained"},
        "c": {"unrelated": 1},
    }
    assert cdn_nodes(hostvars, ["b", "a", "a"]) == {
        "a": {"site": "fra1", "ipv4": "192.0.2.1", "ipv6": None, "state": "active"},
        "b": {"site": "nyc1", "ipv4": "192.0.2.2", "ipv6": "2001:db8::2", "state": "drained"},
    }
    assert list(cdn_nodes(hostvars, ["b", "a"])) == ["a", "b"]
    assert cdn_nodes(hostvars, []) == {}
    assert cdn_nodes(hostvars, ["c"])["c"]["site"] is None
    with pytest.raises(AnsibleFilterError, match=r"^perch\.cdn\.cdn_nodes: node 'zz'"):
        cdn_nodes(hostvars, ["zz"])


def test_serving_sites():
    nodes = {k: v for k, v in NODES.items() if k in EDGES}
    nodes["edge-sin1"] = dict(nodes["edge-sin1"], state="drained")
    out = serving_sites(SITES, nodes)
    assert out["fra1"].get("state", "active") == "active"
    assert out["sin1"]["state"] == "drained"
    assert "state" not in SITES["sin1"]  # input untouched
    # a DNS node alone does not make a site serve
    assert serving_sites(SITES, {"ns1": NODES["ns1"]})["nyc1"]["state"] == "drained"
    with pytest.raises(AnsibleFilterError, match=r"^perch\.cdn\.serving_sites: edge_nodes must be a mapping"):
        serving_sites(SITES, ["edge-fra1"])


@given(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True).filter(
    lambda n: n not in SITES and n not in {"hetzner", "vultr", "ovh"}),
    st.sampled_from(["avoid", "pin"]), st.sampled_from(["RU", "CH", "CN", "US"]))
def test_property_policy_names_unknown_site_or_provider(name, kind, cc):
    fails(args(policy={kind: {cc: [name]}}), f"cdn_policy.{kind} entry {cc!r}", f"{name!r}")


@given(st.text(max_size=12).filter(lambda s: s not in ("active", "drained")))
def test_property_unknown_node_state(state):
    a = args()
    a["nodes"]["edge-sin1"]["state"] = state
    fails(a, "node 'edge-sin1'", "'cdn_state'", repr(state))


@given(st.sampled_from(sorted(SITES)), st.sampled_from(["country", "provider"]))
def test_property_empty_answer_names_the_country(site, how):
    # avoid every site of one country by name, or by provider
    avoid = sorted(SITES) if how == "country" else sorted({s["provider"] for s in SITES.values()})
    fails(args(policy={"avoid": {SITES[site]["country"]: avoid}}), f"country {SITES[site]['country']}",
          "every site is drained or avoided", "empty answer")


# ---------------------------------------------------------------- what would fail late, or hurt others

@pytest.mark.parametrize(("field", "addr", "why"), [
    ("ipv4", "0.0.0.0", "unspecified"),
    ("ipv4", "127.0.0.1", "loopback"),
    ("ipv4", "224.0.0.5", "multicast"),
    ("ipv4", "255.255.255.255", "broadcast"),
    ("ipv4", "169.254.1.1", "link-local"),
    ("ipv6", "::", "unspecified"),
    ("ipv6", "::1", "loopback"),
    ("ipv6", "fe80::1", "link-local"),
    ("ipv6", "ff02::1", "multicast"),
    ("ipv6", "::ffff:192.0.2.99", "IPv4-mapped"),
])
def test_node_addresses_nobody_can_reach_are_refused(field, addr, why):
    a = args()
    a["nodes"]["edge-nyc1"][field] = addr
    fails(a, "node 'edge-nyc1'", f"'cdn_{field}'", why)


@pytest.mark.parametrize(("prefixes", "words"), [
    (["203.0.113.0/25"], ["/8 to /24", "/25"]),
    (["203.0.113.7/32"], ["/8 to /24", "/32"]),
    (["2.0.0.0/7"], ["/8 to /24", "/7"]),
    (["2001:db8:cdb::/49"], ["/19 to /48", "/49"]),
    (["2000::/18"], ["/19 to /48"]),
])
def test_anycast_prefixes_bgp_would_not_carry_are_refused(prefixes, words):
    fails(args(anycast_prefixes=prefixes), "cdn_anycast_prefixes", *words)


@pytest.mark.parametrize("prefix", ["10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/24", "100.64.0.0/10",
                                    "2001:db8::/32", "fc00::/19"])
def test_special_purpose_prefixes_need_the_lab_flag(prefix):
    a = args(anycast_prefixes=[prefix], nodes={})
    fails_strict = pytest.raises(AnsibleFilterError, match="special-purpose")
    with fails_strict:
        check(a, anycast_allow_special=False)
    assert check(a, anycast_allow_special=True) is True


def test_an_allow_list_keeps_other_peoples_space_out():
    a = args(anycast_prefixes=["8.8.8.0/24"], nodes={})
    assert check(a, anycast_allow_special=False) is True  # public, and nothing says whose
    with pytest.raises(AnsibleFilterError, match="outside the project's own address space"):
        check(a, anycast_allow_special=False, anycast_owned=["192.0.0.0/8"])
    assert check(args(anycast_prefixes=["192.0.2.0/24"], nodes={}), anycast_owned=["192.0.0.0/16"]) is True


def test_one_alias_one_service():
    a = args()
    a["services"]["deb"]["aliases"] = ["www.example.org"]
    fails(a, "service 'www'", "'aliases'", "already an alias of service 'deb'")


def test_dns_node_names_are_labels_and_not_all_drained():
    a = args()
    a["nodes"]["NS_1"] = dict(a["nodes"].pop("ns1"))
    fails_with = pytest.raises(AnsibleFilterError, match="DNS node 'NS_1'.*DNS label")
    with fails_with:
        check(a, dns=["NS_1"])
    b = args()
    b["nodes"]["ns1"]["state"] = "drained"
    with pytest.raises(AnsibleFilterError, match="every DNS node is drained"):
        check(b, dns=["ns1"])


@pytest.mark.parametrize(("ban", "words"), [
    ("127.0.0.0/8", ["loopback"]),
    ("127.0.0.1", ["loopback"]),
    ("::1", ["loopback"]),
    ("198.51.100.11", ["node 'edge-nyc1'"]),
    ("192.0.2.0/24", ["node 'edge-fra1'"]),
    ("203.0.113.0/28", ["anycast prefix 203.0.113.0/24"]),
])
def test_bans_that_would_lock_the_cdn_out_of_itself_are_refused(ban, words):
    fails(args(), "cdn_bans", *words, bans=[ban])


def test_evacuation_entries_are_names():
    from ansible_collections.perch.cdn.plugins.filter.with_evacuations import with_evacuations

    with pytest.raises(AnsibleFilterError, match="entries are site, provider or node names"):
        with_evacuations(POLICY, {"DE": [{"site": "fra1"}]}, {})
