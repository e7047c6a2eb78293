"""perch.cdn.ip_version and perch.cdn.first_addresses: the anycast role's address helpers.

They stand in for ansible.utils.ipv4/ipv6/ipaddr in the anycast templates, so they are checked
against netaddr (what ansible.utils uses) on generated addresses and prefixes.
"""

import ipaddress

import netaddr
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.first_addresses import FilterModule as FirstModule
from ansible_collections.perch.cdn.plugins.filter.first_addresses import first_addresses
from ansible_collections.perch.cdn.plugins.filter.ip_version import FilterModule as VersionModule
from ansible_collections.perch.cdn.plugins.filter.ip_version import ip_version
from hypothesis import given
from hypothesis import strategies as st


def fails(fqcn, func, *args, words=()):
    with pytest.raises(AnsibleFilterError) as exc:
        func(*args)
    msg = str(exc.value)
    assert msg.startswith(f"{fqcn}: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_filters_are_registered():
    assert VersionModule().filters() == {"ip_version": ip_version}
    assert FirstModule().filters() == {"first_addresses": first_addresses}


def test_split_keeps_order():
    items = ["2001:db8:1::/48", "203.0.113.0/24", "192.0.2.10", "2001:db8::7", "198.51.100.0/24"]
    assert ip_version(items, 4) == ["203.0.113.0/24", "192.0.2.10", "198.51.100.0/24"]
    assert ip_version(items, 6) == ["2001:db8:1::/48", "2001:db8::7"]
    assert ip_version([], 4) == []


def test_single_value():
    assert ip_version("198.19.100.2", 4) == "198.19.100.2"
    assert ip_version("198.19.100.2", 6) is False
    assert ip_version("2001:db8::2", 6) == "2001:db8::2"


def test_first_addresses():
    assert first_addresses(["203.0.113.0/24", "2001:db8:1::/48"]) == ["203.0.113.1", "2001:db8:1::1"]
    assert first_addresses(["192.0.2.8/31"]) == ["192.0.2.9"]
    assert first_addresses([]) == []


@pytest.mark.parametrize("bad", [["bogus"], ["203.0.113.0/24", ""], [None], ["203.0.113.0/33"], [7]])
def test_ip_version_names_the_bad_item(bad):
    fails("perch.cdn.ip_version", ip_version, bad, 4, words=["not an IP address or prefix"])


def test_ip_version_rejects_other_versions_and_types():
    fails("perch.cdn.ip_version", ip_version, ["192.0.2.1"], 5, words=["4 or 6", "5"])
    fails("perch.cdn.ip_version", ip_version, {"a": 1}, 4, words=["expected a list"])


@pytest.mark.parametrize("bad, words", [
    (["192.0.2.7/32"], ["'192.0.2.7/32'", "no address after"]),
    (["2001:db8::1/128"], ["'2001:db8::1/128'", "no address after"]),
    (["192.0.2.7"], ["'192.0.2.7'", "not a prefix"]),
    (["nonsense/24"], ["'nonsense/24'", "not an IP address or prefix"]),
    ("203.0.113.0/24", ["expected a list"]),
])
def test_first_addresses_names_the_bad_item(bad, words):
    fails("perch.cdn.first_addresses", first_addresses, bad, words=words)


v4_nets = st.builds(lambda a, n: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{n}", strict=False)),
                    st.integers(0, 2**32 - 1), st.integers(0, 31))
v6_nets = st.builds(lambda a, n: str(ipaddress.ip_network(f"{ipaddress.IPv6Address(a)}/{n}", strict=False)),
                    st.integers(0, 2**128 - 1), st.integers(0, 127))
v4_addrs = st.integers(0, 2**32 - 1).map(lambda a: str(ipaddress.IPv4Address(a)))
v6_addrs = st.integers(0, 2**128 - 1).map(lambda a: str(ipaddress.IPv6Address(a)))


@given(st.lists(st.one_of(v4_nets, v6_nets, v4_addrs, v6_addrs), max_size=12))
def test_split_agrees_with_netaddr(items):
    for version in (4, 6):
        expected = [i for i in items if (netaddr.IPNetwork(i) if "/" in i else netaddr.IPAddress(i)).version == version]
        assert ip_version(items, version) == expected
    assert sorted(ip_version(items, 4) + ip_version(items, 6)) == sorted(items)


@given(st.lists(st.one_of(v4_nets, v6_nets), max_size=8))
def test_first_address_is_netaddr_index_1(prefixes):
    # what the role's old default computed: ipaddr('1') then ipaddr('address'), i.e. IPNetwork(p)[1]
    # compared as addresses: netaddr writes some IPv6 addresses in the IPv4-compatible form
    got = [ipaddress.ip_address(a) for a in first_addresses(prefixes)]
    assert got == [ipaddress.ip_address(str(netaddr.IPNetwork(p)[1])) for p in prefixes]
