"""perch.cdn.ban_list and perch.cdn.ban_list_change: the cache edges' IP ban list (cdn_bans)."""

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.ban_list import FilterModule as BanListModule
from ansible_collections.perch.cdn.plugins.filter.ban_list import ban_list
from ansible_collections.perch.cdn.plugins.filter.ban_list_change import FilterModule as ChangeModule
from ansible_collections.perch.cdn.plugins.filter.ban_list_change import ban_list_change
from hypothesis import assume, given
from hypothesis import strategies as st


def fails(fqcn, func, *args, words=(), **kw):
    with pytest.raises(AnsibleFilterError) as exc:
        func(*args, **kw)
    msg = str(exc.value)
    assert msg.startswith(f"{fqcn}: "), msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


# ---------------------------------------------------------------- normal cases

def test_filters_are_registered():
    assert BanListModule().filters() == {"ban_list": ban_list}
    assert ChangeModule().filters() == {"ban_list_change": ban_list_change}


def test_empty():
    assert ban_list([]) == []
    assert ban_list(()) == []


def test_normalises_sorts_and_deduplicates():
    entries = [
        "2001:DB8:0:0:0:0:0:1",
        "203.0.113.0/24",
        "198.51.100.7",
        "2001:db8::/32",
        "198.51.100.7/32",
        "198.18.0.0/15",
        "2001:db8::1/128",
        "192.0.2.255",
        "2001:0db8:0000::/48",
    ]
    assert ban_list(entries) == [
        "192.0.2.255/32",
        "198.18.0.0/15",
        "198.51.100.7/32",
        "203.0.113.0/24",
        "2001:db8::/32",
        "2001:db8::/48",
        "2001:db8::1/128",
    ]


def test_sorted_numerically_not_as_text():
    assert ban_list(["198.51.100.100", "198.51.100.20", "198.51.100.3"]) == [
        "198.51.100.3/32", "198.51.100.20/32", "198.51.100.100/32"]
    assert ban_list(["2001:db8::a", "2001:db8::9", "2001:db8::10"]) == [
        "2001:db8::9/128", "2001:db8::a/128", "2001:db8::10/128"]


def test_same_network_shorter_prefix_first_and_overlaps_are_kept():
    assert ban_list(["198.51.100.0/25", "198.51.100.0/24", "198.51.100.0"]) == [
        "198.51.100.0/24", "198.51.100.0/25", "198.51.100.0/32"]


def test_ipv6_is_written_in_rfc5952_form():
    # not the deprecated IPv4-compatible form glibc's inet_ntop produces (::0.1.0.0)
    assert ban_list(["::1:0", "0:0:0:0:0:0:0:1", "2001:DB8:0:0:1:0:0:1"]) == [
        "::1/128", "::1:0/128", "2001:db8::1:0:0:1/128"]
    assert ban_list_change([], "::1:0") == ["::1:0/128"]


def test_broad_documentation_prefixes_are_allowed():
    # only documentation/benchmark space in tests; the /8 and /19 limits are checked by the rejections
    assert ban_list(["198.18.0.0/15", "2001:db8::/32"]) == ["198.18.0.0/15", "2001:db8::/32"]


def test_input_not_modified():
    entries = ["198.51.100.7", "192.0.2.1"]
    ban_list(entries)
    ban_list_change(entries, "203.0.113.9")
    assert entries == ["198.51.100.7", "192.0.2.1"]


def test_change_adds_and_removes():
    assert ban_list_change([], "198.51.100.7") == ["198.51.100.7/32"]
    assert ban_list_change(["2001:db8::1"], "198.51.100.7") == ["198.51.100.7/32", "2001:db8::1/128"]
    assert ban_list_change(["198.51.100.7/32"], "198.51.100.7", unban=True) == []
    assert ban_list_change(["198.51.100.7"], "198.51.100.7/32", True) == []
    assert ban_list_change(["2001:db8::1/128"], "2001:DB8:0::1", unban=True) == []


def test_change_is_idempotent_and_normalises_the_rest():
    assert ban_list_change(["198.51.100.7"], "198.51.100.7") == ["198.51.100.7/32"]
    assert ban_list_change(["2001:DB8::1", "192.0.2.1"], "192.0.2.1") == ["192.0.2.1/32", "2001:db8::1/128"]


def test_unban_of_an_absent_entry_returns_the_list_unchanged():
    assert ban_list_change(["192.0.2.1", "2001:DB8::1"], "203.0.113.9", unban=True) == [
        "192.0.2.1/32", "2001:db8::1/128"]
    assert ban_list_change([], "203.0.113.9", unban=True) == []


def test_unban_removes_only_the_exact_entry():
    # an address inside a banned prefix stays banned: the prefix is not split
    assert ban_list_change(["198.51.100.0/24"], "198.51.100.7", unban=True) == ["198.51.100.0/24"]


# ---------------------------------------------------------------- errors

BAD_ENTRIES = [
    ("garbage", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("198.51.100.256", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("198.51.100", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("0198.51.100.1", "is not an IPv4/IPv6 address or CIDR prefix"),
    (" 198.51.100.7", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("2001:db8::g", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("fe80::1%eth0", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("example.org", "is not an IPv4/IPv6 address or CIDR prefix"),
    ("198.51.100.0/", "invalid prefix length"),
    ("198.51.100.0/33", "invalid prefix length (0..32 for IPv4)"),
    ("198.51.100.0/-1", "invalid prefix length"),
    ("198.51.100.0/255.255.255.0", "invalid prefix length"),
    ("198.51.100.0/24/24", "invalid prefix length"),
    ("2001:db8::/129", "invalid prefix length (0..128 for IPv6)"),
    ("198.51.100.7/24", "has host bits set (did you mean 198.51.100.0/24?)"),
    ("2001:db8::1/64", "has host bits set (did you mean 2001:db8::/64?)"),
    ("0.0.0.0/0", "broader than /8"),
    ("198.0.0.0/7", "broader than /8"),
    ("::/0", "broader than /19"),
    ("2001:c000::/18", "broader than /19"),
    ("::ffff:198.51.100.7", "IPv4-mapped IPv6 address (ban 198.51.100.7 instead)"),
]


@pytest.mark.parametrize("bad,words", BAD_ENTRIES)
def test_bad_entry_names_the_filter_and_the_value(bad, words):
    fails("perch.cdn.ban_list", ban_list, ["192.0.2.1", bad], words=[repr(bad), words])


@pytest.mark.parametrize("bad,words", BAD_ENTRIES)
def test_bad_ip_names_the_filter_and_the_value(bad, words):
    fails("perch.cdn.ban_list_change", ban_list_change, ["192.0.2.1"], bad, words=[repr(bad), words])
    fails("perch.cdn.ban_list_change", ban_list_change, ["192.0.2.1"], bad, unban=True, words=[repr(bad), words])


def test_host_bits_message_exactly():
    msg = fails("perch.cdn.ban_list", ban_list, ["198.51.100.7/24"])
    assert msg == "perch.cdn.ban_list: '198.51.100.7/24' has host bits set (did you mean 198.51.100.0/24?)"


def test_too_broad_wins_over_host_bits():
    # no point suggesting 0.0.0.0/0
    fails("perch.cdn.ban_list", ban_list, ["198.51.100.7/0"], words=["'198.51.100.7/0'", "broader than /8"])


@pytest.mark.parametrize("bad", [7, 3232235777, None, True, 1.5, ["198.51.100.7"], {"ip": "198.51.100.7"}])
def test_non_string_entries(bad):
    fails("perch.cdn.ban_list", ban_list, [bad], words=[repr(bad), "is not a string"])
    fails("perch.cdn.ban_list_change", ban_list_change, [bad], "192.0.2.1", words=[repr(bad), "is not a string"])
    fails("perch.cdn.ban_list_change", ban_list_change, [], bad, words=[repr(bad), "is not a string"])


@pytest.mark.parametrize("bad", [None, "198.51.100.7", b"198.51.100.7", {"198.51.100.7": True}, 5])
def test_not_a_list(bad):
    fails("perch.cdn.ban_list", ban_list, bad, words=[repr(bad), "expected a list"])
    fails("perch.cdn.ban_list_change", ban_list_change, bad, "192.0.2.1", words=[repr(bad), "expected a list"])


def test_none_hints_at_the_empty_list():
    fails("perch.cdn.ban_list", ban_list, None, words=["got None", "use [] for no bans"])


@pytest.mark.parametrize("bad", ["true", "yes", 1, None])
def test_unban_must_be_a_boolean(bad):
    fails("perch.cdn.ban_list_change", ban_list_change, [], "192.0.2.1", unban=bad, words=[repr(bad), "unban"])


def test_a_bad_existing_entry_fails_the_change_too():
    fails("perch.cdn.ban_list_change", ban_list_change, ["192.0.2.1", "nonsense"], "198.51.100.7",
          words=["'nonsense'"])


# ---------------------------------------------------------------- properties

@st.composite
def entries(draw):
    """A valid ban entry in any accepted spelling (address or prefix, v4 or v6, any case)."""
    if draw(st.booleans()):
        addr = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
        plen = draw(st.one_of(st.just(None), st.integers(8, 32)))
        maxlen = 32
    else:
        # a few fixed networks so duplicates and equal networks with different lengths come up
        addr = ipaddress.IPv6Address(draw(st.one_of(st.integers(0, 2**128 - 1),
                                                    st.sampled_from([0x20010DB8 << 96, (0x20010DB8 << 96) + 1]))))
        assume(addr.ipv4_mapped is None)
        plen = draw(st.one_of(st.just(None), st.integers(19, 128)))
        maxlen = 128
    if plen is None:
        text = str(addr)
        if addr.version == 6:
            text = draw(st.sampled_from([text, text.upper(), addr.exploded]))
        return text
    net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    text = f"{net.network_address}/{plen}"
    if addr.version == 6 and draw(st.booleans()):
        text = f"{net.network_address.exploded.upper()}/{plen}"
    assert plen <= maxlen
    return text


def _oracle(entry_list):
    nets = {ipaddress.ip_network(e.lower()) for e in entry_list}
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen))]


ban_lists = st.lists(entries(), max_size=12)


@given(ban_lists)
def test_matches_the_stdlib_oracle(x):
    assert ban_list(x) == _oracle(x)


@given(ban_lists)
def test_idempotent(x):
    once = ban_list(x)
    assert ban_list(once) == once


@given(ban_lists, st.randoms(use_true_random=False))
def test_order_independent(x, rnd):
    shuffled = list(x)
    rnd.shuffle(shuffled)
    assert ban_list(shuffled) == ban_list(x)
    assert ban_list(x + shuffled) == ban_list(x)


@given(ban_lists, entries())
def test_ban_then_unban_gives_back_the_original(x, ip):
    before = ban_list(x)
    added = ban_list_change(x, ip)
    assert ban_list_change(added, ip) == added
    if ban_list([ip])[0] not in before:
        assert len(added) == len(before) + 1
        assert ban_list_change(added, ip, unban=True) == before
    else:
        assert added == before


@given(ban_lists, entries())
def test_unban_result_never_holds_the_entry(x, ip):
    out = ban_list_change(x, ip, unban=True)
    assert ban_list([ip])[0] not in out
    assert set(out) <= set(ban_list(x))
