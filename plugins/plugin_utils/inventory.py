# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The perch.cdn inventory model: normalisation and validation (see docs/inventory.md).

Everything here is pure Python on plain data so it runs on the controller before any host is
touched and is unit-testable without Ansible. Errors are CdnInventoryError; the filter plugins
prefix the message with their FQCN and re-raise AnsibleFilterError.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES

STATES = ("active", "drained")
SERVICE_KINDS = ("web", "apt", "files")
SITE_KEYS = ("country", "continent", "lat", "lon", "provider", "state", "weight")
NODE_KEYS = ("site", "ipv4", "ipv6", "state")
SERVICE_KEYS = ("kind", "aliases")
POLICY_KEYS = ("failover_depth", "avoid", "pin")
DEFAULT_FAILOVER_DEPTH = 3
# names that end up as DNS labels (sites, services, nameservers)
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}$")


class CdnInventoryError(ValueError):
    """Bad inventory data; the message names the entry and the field."""


def _fail(what: str, field: str, msg: str) -> CdnInventoryError:
    return CdnInventoryError(f"{what}: field '{field}': {msg}")


def _is_number(value) -> bool:
    # bool is an int subclass; `lat: true` is a typo, not a coordinate
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value, what: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CdnInventoryError(f"{what} must be a mapping, got {type(value).__name__}")
    return value


def _name_list(value, what: str, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise _fail(what, field, f"must be a list of names, got {value!r}")
    names = list(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise _fail(what, field, f"entries must be non-empty strings, got {name!r}")
    return names


# ---------------------------------------------------------------- sites

def normalize_site(name, site) -> dict:
    """Validate one site and return it with defaults filled in (state active, provider/weight None)."""
    what = f"site {name!r}"
    if not isinstance(name, str) or not LABEL_RE.match(name):
        raise CdnInventoryError(f"{what}: site names must be DNS labels (a-z, 0-9, '-'), got {name!r}")
    if not isinstance(site, Mapping):
        raise CdnInventoryError(f"{what} must be a mapping, got {type(site).__name__}")
    unknown = sorted(str(k) for k in site if k not in SITE_KEYS)
    if unknown:
        raise _fail(what, unknown[0], f"unknown field (allowed: {', '.join(SITE_KEYS)})")
    for field in ("country", "continent", "lat", "lon"):
        if site.get(field) is None:
            raise _fail(what, field, "missing")
    country = site["country"]
    if not isinstance(country, str) or country not in COUNTRIES:
        raise _fail(what, "country", f"unknown ISO 3166-1 alpha-2 country code {country!r} (use upper case, e.g. 'DE')")
    continent = site["continent"]
    if not isinstance(continent, str) or continent not in CONTINENTS:
        raise _fail(what, "continent", f"unknown continent code {continent!r} (one of {', '.join(CONTINENTS)})")
    for field, limit in (("lat", 90), ("lon", 180)):
        value = site[field]
        if not _is_number(value) or not -limit <= value <= limit:
            raise _fail(what, field, f"must be a number in -{limit}..{limit}, got {value!r}")
    state = site.get("state", "active")
    if state is None:
        state = "active"
    if state not in STATES:
        raise _fail(what, "state", f"unknown state {state!r} (one of {', '.join(STATES)})")
    provider = site.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise _fail(what, "provider", f"must be a non-empty string, got {provider!r}")
    weight = site.get("weight")
    if weight is not None and (not _is_int(weight) or not 0 <= weight <= 65535):
        raise _fail(what, "weight", f"must be an integer in 0..65535, got {weight!r}")
    return {
        "country": country,
        "continent": continent,
        "lat": float(site["lat"]),
        "lon": float(site["lon"]),
        "provider": provider,
        "state": state,
        "weight": weight,
    }


def normalize_sites(sites) -> dict[str, dict]:
    """Validate cdn_sites; return {name: site} sorted by name, defaults filled in."""
    sites = _mapping(sites, "cdn_sites")
    if not sites:
        raise CdnInventoryError("cdn_sites is empty: define at least one site")
    return {name: normalize_site(name, sites[name]) for name in sorted(sites, key=str)}


# ---------------------------------------------------------------- policy

def _country_lists(policy, key):
    """(country, what, names) for each entry of cdn_policy.<key>, in country order, the country checked."""
    for cc, names in sorted(_mapping(policy.get(key), f"cdn_policy.{key}").items(), key=lambda kv: str(kv[0])):
        what = f"cdn_policy.{key} entry {cc!r}"
        if cc not in COUNTRIES:
            raise _fail(what, "country", f"unknown ISO 3166-1 alpha-2 country code {cc!r}")
        yield cc, what, _name_list(names, what, key)


def normalize_policy(policy, sites: Mapping[str, dict]) -> dict:
    """Validate cdn_policy against the (normalised) sites; return {failover_depth, avoid, pin}."""
    policy = _mapping(policy, "cdn_policy")
    unknown = sorted(str(k) for k in policy if k not in POLICY_KEYS)
    if unknown:
        raise _fail("cdn_policy", unknown[0], f"unknown field (allowed: {', '.join(POLICY_KEYS)})")
    depth = policy.get("failover_depth", DEFAULT_FAILOVER_DEPTH)
    if depth is None:
        depth = DEFAULT_FAILOVER_DEPTH
    if not _is_int(depth) or depth < 1:
        raise _fail("cdn_policy", "failover_depth", f"must be an integer >= 1, got {depth!r}")
    providers = {s["provider"] for s in sites.values() if s["provider"]}

    avoid = {}
    for cc, what, names in _country_lists(policy, "avoid"):
        for n in names:
            if n not in sites and n not in providers:
                raise _fail(what, "avoid", f"{n!r} is neither a site nor a provider in cdn_sites")
        avoid[cc] = sorted(set(names))

    pin = {}
    for cc, what, names in _country_lists(policy, "pin"):
        if not names:
            raise _fail(what, "pin", "must list at least one site")
        for n in names:
            if n not in sites:
                raise _fail(what, "pin", f"unknown site {n!r}")
            if is_avoided(n, sites[n], avoid.get(cc, ())):
                raise _fail(what, "pin", f"site {n!r} is also in cdn_policy.avoid for {cc}")
        if len(set(names)) != len(names):
            raise _fail(what, "pin", f"lists a site twice: {names!r}")
        pin[cc] = list(names)
    return {"failover_depth": depth, "avoid": avoid, "pin": pin}


def is_avoided(name: str, site: Mapping, avoided: Iterable[str]) -> bool:
    avoided = set(avoided)
    return name in avoided or (site.get("provider") is not None and site["provider"] in avoided)


# ---------------------------------------------------------------- nodes

def _address(value, version: int, what: str, field: str) -> str:
    """The address in its canonical form (IPv6 compressed, RFC 5952), or an error naming the field."""
    if not isinstance(value, str) or "%" in value:
        raise _fail(what, field, f"{value!r} is not an IPv{version} address")
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise _fail(what, field, f"{value!r} is not an IPv{version} address") from None
    if addr.version != version:
        raise _fail(what, field, f"{value!r} is not an IPv{version} address")
    return str(addr)


def unusable_address(addr) -> str | None:
    """Why a node cannot be reached at this unicast address, or None."""
    ip = ipaddress.ip_address(addr)
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return f"an IPv4-mapped IPv6 address (give {ip.ipv4_mapped} as cdn_ipv4)"
    return None


# "address/length" with a decimal length: no netmask form, no spaces
_CIDR_RE = re.compile(r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$")


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def parse_prefix(value):
    """An ipaddress network from a CIDR string, or ValueError naming what is wrong."""
    if not isinstance(value, str) or not _CIDR_RE.match(value):
        if isinstance(value, str) and "/" not in value and _is_address(value):
            raise ValueError("needs a prefix length (e.g. 203.0.113.0/24)")
        raise ValueError("is not an IP prefix (CIDR, address/length)")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("is not an IP prefix (CIDR, address/length)") from None
    if str(net.network_address) != str(ipaddress.ip_address(value.split("/")[0])):
        raise ValueError(f"has host bits set (did you mean {net}?)")
    return net


def cdn_nodes(hostvars, hosts) -> dict[str, dict]:
    """{node: {site, ipv4, ipv6, state}} from hostvars for the given hosts; no validation here."""
    nodes = {}
    for host in sorted(set(hosts or ())):
        if host not in hostvars:
            raise CdnInventoryError(f"node {host!r}: not in the inventory (no hostvars)")
        hv = hostvars[host]
        state = hv.get("cdn_state")
        nodes[host] = {
            "site": hv.get("cdn_site"),
            "ipv4": hv.get("cdn_ipv4"),
            "ipv6": hv.get("cdn_ipv6") or None,
            "state": "active" if state is None else state,
        }
    return nodes


def normalize_nodes(nodes, sites: Mapping[str, dict]) -> dict[str, dict]:
    """Validate nodes (as from cdn_nodes) against the sites; addresses come back canonical."""
    nodes = _mapping(nodes, "nodes")
    out = {}
    seen = {}
    for name in sorted(nodes, key=str):
        node = nodes[name]
        what = f"node {name!r}"
        if not isinstance(node, Mapping):
            raise CdnInventoryError(f"{what} must be a mapping, got {type(node).__name__}")
        unknown = sorted(str(k) for k in node if k not in NODE_KEYS)
        if unknown:
            raise _fail(what, unknown[0], f"unknown field (allowed: {', '.join(NODE_KEYS)})")
        site = node.get("site")
        if site is None:
            raise _fail(what, "cdn_site", "missing")
        if site not in sites:
            raise _fail(what, "cdn_site", f"{site!r} is not a key of cdn_sites")
        if node.get("ipv4") is None:
            raise _fail(what, "cdn_ipv4", "missing")
        ipv4 = _address(node["ipv4"], 4, what, "cdn_ipv4")
        ipv6 = None if node.get("ipv6") is None else _address(node["ipv6"], 6, what, "cdn_ipv6")
        state = node.get("state", "active")
        if state is None:
            state = "active"
        if state not in STATES:
            raise _fail(what, "cdn_state", f"unknown state {state!r} (one of {', '.join(STATES)})")
        for field, addr in (("cdn_ipv4", ipv4), ("cdn_ipv6", ipv6)):
            if addr is None:
                continue
            why = unusable_address(addr)
            if why:
                raise _fail(what, field, f"{addr} is {why}: no client or node can reach it")
            if addr in seen:
                raise _fail(what, field, f"{addr} is already the address of node {seen[addr]!r}")
            seen[addr] = name
        out[name] = {"site": site, "ipv4": ipv4, "ipv6": ipv6, "state": state}
    return out


def serving_sites(sites, edge_nodes) -> dict[str, dict]:
    """sites where every site without an active edge node gets state drained (input not modified)."""
    sites = _mapping(sites, "cdn_sites")
    edge_nodes = _mapping(edge_nodes, "edge_nodes")
    serving = {n.get("site") for n in edge_nodes.values()
               if isinstance(n, Mapping) and (n.get("state") or "active") == "active"}
    out = {}
    for name in sorted(sites, key=str):
        site = dict(sites[name]) if isinstance(sites[name], Mapping) else sites[name]
        if name not in serving and isinstance(site, dict):
            site["state"] = "drained"
        out[name] = site
    return out


# ---------------------------------------------------------------- services and prefixes

def normalize_services(services) -> dict[str, dict]:
    services = _mapping(services, "cdn_services")
    if not services:
        raise CdnInventoryError("cdn_services is empty: define at least one service")
    out = {}
    claimed: dict[str, str] = {}
    for name in sorted(services, key=str):
        svc = services[name]
        what = f"service {name!r}"
        if not isinstance(name, str) or not LABEL_RE.match(name):
            raise CdnInventoryError(f"{what}: service names must be DNS labels (a-z, 0-9, '-'), got {name!r}")
        if name in RESERVED_LABELS:
            raise CdnInventoryError(f"{what}: the name is reserved for {RESERVED_LABELS[name]}")
        svc = _mapping(svc, what)
        unknown = sorted(str(k) for k in svc if k not in SERVICE_KEYS)
        if unknown:
            raise _fail(what, unknown[0], f"unknown field (allowed: {', '.join(SERVICE_KEYS)})")
        kind = svc.get("kind")
        if kind not in SERVICE_KINDS:
            raise _fail(what, "kind", f"unknown kind {kind!r} (one of {', '.join(SERVICE_KINDS)})")
        aliases = _name_list(svc.get("aliases") or [], what, "aliases")
        for alias in aliases:
            if not HOSTNAME_RE.match(alias):
                raise _fail(what, "aliases", f"{alias!r} is not a lower-case host name")
            if alias in claimed:
                raise _fail(what, "aliases", f"{alias!r} is already an alias of service {claimed[alias]!r}")
            claimed[alias] = name
        out[name] = {"kind": kind, "aliases": aliases}
    return out


# labels the zone renderer uses for itself
RESERVED_LABELS = {
    "whoami": "the debug TXT record",
    "site": "per-site records",
    "health": "the health debug TXT record",
}


# what BGP carries between networks: a longer prefix is filtered, a shorter one is almost surely a typo
ANYCAST_PREFIXLEN = {4: (8, 24), 6: (19, 48)}


def normalize_prefixes(prefixes, allow_special=False, owned=None) -> list[str]:
    """Validate cdn_anycast_prefixes: CIDR, no host bits, no overlap, a length BGP carries (IPv4
    /8-/24, IPv6 /19-/48), public address space unless allow_special (a lab on documentation
    ranges), and inside one of `owned` (cdn_anycast_owned) when that allow-list is given."""
    if prefixes is None:
        return []
    prefixes = _name_list(prefixes, "cdn_anycast_prefixes", "cdn_anycast_prefixes")
    owned_nets = []
    for o in owned or []:
        try:
            owned_nets.append(parse_prefix(o))
        except ValueError as exc:
            raise _fail(f"cdn_anycast_owned entry {o!r}", "cdn_anycast_owned", str(exc)) from None
    nets = []
    for p in prefixes:
        what = f"cdn_anycast_prefixes entry {p!r}"
        try:
            net = parse_prefix(p)
        except ValueError as exc:
            raise _fail(what, "prefix", str(exc)) from None
        for other_p, other in nets:
            if net.version == other.version and net.overlaps(other):
                raise _fail(what, "prefix", f"overlaps {other_p!r}")
        low, high = ANYCAST_PREFIXLEN[net.version]
        if not low <= net.prefixlen <= high:
            raise _fail(what, "prefix", f"IPv{net.version} anycast prefixes are /{low} to /{high} "
                                        f"(what BGP carries between networks), got /{net.prefixlen}")
        if not net.is_global and not allow_special:
            raise _fail(what, "prefix", "is special-purpose address space (private, documentation, reserved...); "
                                        "a lab on such ranges sets cdn_anycast_allow_special: true")
        if owned_nets and not any(net.version == o.version and net.subnet_of(o) for o in owned_nets):
            raise _fail(what, "prefix", f"is outside the project's own address space (cdn_anycast_owned: "
                                        f"{', '.join(map(str, owned_nets))})")
        nets.append((p, net))
    nets.sort(key=lambda pn: (pn[1].version, int(pn[1].network_address), pn[1].prefixlen))
    return [str(net) for _prefix, net in nets]
