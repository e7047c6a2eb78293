# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP address helpers for the templates, on plain strings with the standard library.

They replace ansible.utils.ipv4/ipv6/ipaddr in per-host templates: under ansible-core 2.19 those
filters validate their input with a deep copy of the lazy template containers they are given,
which made them the largest single controller cost of a site.yml run on a 16-edge fleet.
"""

from __future__ import annotations

import ipaddress


class AddressError(ValueError):
    """A value that is not an IP address or prefix; the message names it."""


def _parse(value):
    if not isinstance(value, str) or not value:
        raise AddressError(f"{value!r} is not an IP address or prefix")
    try:
        if "/" in value:
            return ipaddress.ip_network(value, strict=False)
        return ipaddress.ip_address(value)
    except ValueError:
        raise AddressError(f"{value!r} is not an IP address or prefix") from None


def by_version(values, version: int):
    """The addresses/prefixes of IP version `version` (4 or 6), in order.

    A list gives a list; a single string gives itself when it is of that version, else False.
    """
    if version not in (4, 6):
        raise AddressError(f"version must be 4 or 6, got {version!r}")
    if isinstance(values, str):
        return values if _parse(values).version == version else False
    if not isinstance(values, (list, tuple)):
        raise AddressError(f"expected a list of addresses or prefixes, got {type(values).__name__} {values!r}")
    return [v for v in values if _parse(v).version == version]


def first_addresses(prefixes) -> list[str]:
    """The first address after the network address of each prefix: 203.0.113.0/24 -> 203.0.113.1."""
    if isinstance(prefixes, str) or not isinstance(prefixes, (list, tuple)):
        raise AddressError(f"expected a list of prefixes, got {prefixes!r}")
    out = []
    for p in prefixes:
        net = _parse(p)
        if not isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            raise AddressError(f"{p!r} is an address, not a prefix (CIDR)")
        if net.num_addresses < 2:
            raise AddressError(f"{p!r} has no address after its network address (give the addresses explicitly)")
        out.append(str(net.network_address + 1))
    return out
