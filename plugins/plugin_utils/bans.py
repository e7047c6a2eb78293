# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IP ban list of the cache edges (cdn_bans, maintained by playbooks/ban.yml).

Pure Python on plain data, like inventory.py: errors are CdnInventoryError and the filter plugins
prefix the message with their FQCN. Addresses are parsed with the standard library's ipaddress,
as everywhere in perch.cdn.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError

# broader prefixes are almost certainly a mistake (a ban of /0 locks everyone out)
MIN_PREFIXLEN = {4: 8, 6: 19}
MAX_PREFIXLEN = {4: 32, 6: 128}
# only "address" or "address/length" (a decimal length, no netmask forms)
_PREFIXLEN_RE = re.compile(r"^[0-9]{1,3}$")


def _show(value) -> str:
    # plain repr; tagged/unsafe str subclasses print like ordinary strings
    return repr(str(value)) if isinstance(value, str) else repr(value)


def _network(value):
    """Parse one ban entry; return an ipaddress network, or raise naming the value."""
    if not isinstance(value, str):
        raise CdnInventoryError(f"{_show(value)} is not a string (give an IPv4/IPv6 address or CIDR prefix)")
    shown = _show(value)
    addr_part, slash, len_part = value.partition("/")
    try:
        if "%" in addr_part:
            raise ValueError("scoped address")
        addr = ipaddress.ip_address(addr_part)
    except ValueError:
        raise CdnInventoryError(f"{shown} is not an IPv4/IPv6 address or CIDR prefix") from None
    version = addr.version
    if slash:
        if not _PREFIXLEN_RE.match(len_part) or int(len_part) > MAX_PREFIXLEN[version]:
            raise CdnInventoryError(
                f"{shown} has an invalid prefix length (0..{MAX_PREFIXLEN[version]} for IPv{version})")
        prefixlen = int(len_part)
    else:
        prefixlen = MAX_PREFIXLEN[version]
    if version == 6 and addr.ipv4_mapped is not None:
        # nginx matches IPv4 clients on a dual-stack socket as IPv4: this ban would never apply
        raise CdnInventoryError(f"{shown} is an IPv4-mapped IPv6 address (ban {addr.ipv4_mapped} instead)")
    net = ipaddress.ip_network(f"{addr}/{prefixlen}", strict=False)
    if prefixlen < MIN_PREFIXLEN[version]:
        raise CdnInventoryError(
            f"{shown} is broader than /{MIN_PREFIXLEN[version]}: almost certainly a mistake "
            f"(a ban of /0 would lock everyone out)")
    if net.network_address != addr:
        raise CdnInventoryError(f"{shown} has host bits set (did you mean {net}?)")
    return net


def _cidr(net) -> str:
    # the stdlib writes IPv6 as RFC 5952 says (compressed, lower case)
    return str(net)


def normalize_ban(value) -> str:
    """One entry as a normalised CIDR string (an address becomes /32 or /128, IPv6 compressed)."""
    return _cidr(_network(value))


def ban_list(entries) -> list[str]:
    """Validate ban entries; return them normalised, de-duplicated, IPv4 then IPv6, numerically sorted."""
    if entries is None or isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Iterable):
        raise CdnInventoryError(
            f"expected a list of IPv4/IPv6 addresses or CIDR prefixes, got {_show(entries)}"
            + (" (use [] for no bans)" if entries is None else ""))
    nets = {}
    for value in entries:
        net = _network(value)
        nets[(net.version, int(net.network_address), net.prefixlen)] = net
    return [_cidr(nets[key]) for key in sorted(nets)]


def ban_list_change(entries, ip, unban=False) -> list[str]:
    """ban_list(entries) with ``ip`` (an address or prefix) added, or removed when ``unban``.

    Removing an entry that is not in the list is not an error: the normalised list comes back unchanged.
    Only the exact (normalised) entry is removed; an address inside a banned prefix stays banned.
    """
    if not isinstance(unban, bool):
        raise CdnInventoryError(f"unban must be true or false, got {_show(unban)}")
    current = ban_list(entries)
    entry = normalize_ban(ip)
    if unban:
        return [e for e in current if e != entry]
    return ban_list([*current, entry])
