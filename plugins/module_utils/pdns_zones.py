# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a geo map into the zones structure of the PowerDNS GeoIP backend (pdns 4.7).

Facts about the backend this relies on (docs/backends/geoip.rst and geoipbackend.cc, 4.x):
- a service is a list of name formats; the first formatted name that exists under `records` is
  answered directly (no CNAME), so country -> continent -> default is one list;
- %cc (ISO country), %cn (continent), %ci (city), %as (AS number), %ip (client address) are
  expanded with the GeoIP value lower-cased, or "unknown" when the database has none;
- record content is expanded too, including TXT (an empty TXT is still answered);
- %ip disables caching of every record at that name, so whoami gets a name of its own.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping

from ansible_collections.perch.cdn.plugins.module_utils.geodata import CONTINENTS, COUNTRIES
from ansible_collections.perch.cdn.plugins.module_utils.inventory import (
    HOSTNAME_RE,
    LABEL_RE,
    RESERVED_LABELS,
    CdnInventoryError,
    _address,
    _is_int,
)

# content of whoami.<zone> TXT, expanded per query by the backend
WHOAMI_TXT = '"ip %ip country %cc city %ci as %as"'
SOA_TIMERS = "7200 3600 1209600"


def service_formats(service: str, zone: str) -> list[str]:
    """The GeoIP `services:` fallback list for one service (names are all lower case)."""
    base = f"{service}.{zone}"
    # separate subtrees: country and continent codes collide (NA Namibia / North America, AS, AF, SA)
    return [f"%cc.country.{base}", f"%cn.continent.{base}", f"default.{base}"]


def _zone_name(zone) -> str:
    if not isinstance(zone, str):
        raise CdnInventoryError(f"zone: {zone!r} is not a domain name")
    name = zone.rstrip(".").lower()
    if not HOSTNAME_RE.match(name) or "." not in name:
        raise CdnInventoryError(f"zone: {zone!r} is not a domain name (e.g. cdn.example.org)")
    return name


def _positive_int(value, field: str) -> int:
    if not _is_int(value) or value < 1:
        raise CdnInventoryError(f"field '{field}': must be an integer >= 1, got {value!r}")
    return value


def _ip_sort_key(addr: str):
    import netaddr

    ip = netaddr.IPAddress(addr)
    return (ip.version, int(ip))


def site_addresses(edge_nodes) -> dict[str, dict[str, list[str]]]:
    """{site: {'a': [...], 'aaaa': [...]}} for the active edges, addresses sorted numerically."""
    if not isinstance(edge_nodes, Mapping):
        raise CdnInventoryError(
            f"edge_nodes must be a mapping (from perch.cdn.cdn_nodes), got {type(edge_nodes).__name__}")
    out: dict[str, dict[str, list[str]]] = {}
    for name in sorted(edge_nodes, key=str):
        node = edge_nodes[name]
        what = f"node {name!r}"
        if not isinstance(node, Mapping):
            raise CdnInventoryError(f"{what} must be a mapping, got {type(node).__name__}")
        if (node.get("state") or "active") != "active":
            continue
        if node.get("site") is None:
            raise CdnInventoryError(f"{what}: field 'cdn_site': missing")
        if node.get("ipv4") is None:
            raise CdnInventoryError(f"{what}: field 'cdn_ipv4': missing")
        entry = out.setdefault(node["site"], {"a": [], "aaaa": []})
        entry["a"].append(_address(node["ipv4"], 4, what, "cdn_ipv4"))
        if node.get("ipv6") is not None:
            entry["aaaa"].append(_address(node["ipv6"], 6, what, "cdn_ipv6"))
    for entry in out.values():
        for rtype in ("a", "aaaa"):
            entry[rtype] = sorted(set(entry[rtype]), key=_ip_sort_key)
    return out


def _rrset(addrs: Mapping[str, list[str]]) -> list[dict]:
    return [{rtype: a} for rtype in ("a", "aaaa") for a in addrs[rtype]]


def _nameservers(nameservers, zone: str) -> list[tuple[str, str | None, str | None]]:
    if isinstance(nameservers, Mapping):
        # cdn_nodes output for groups['cdn_dns']: the node name is the label, drained nodes are left out
        nameservers = [{"name": n, "ipv4": v.get("ipv4"), "ipv6": v.get("ipv6")}
                       for n, v in sorted(nameservers.items(), key=lambda kv: str(kv[0]))
                       if isinstance(v, Mapping) and (v.get("state") or "active") == "active"]
    if isinstance(nameservers, str) or not nameservers:
        raise CdnInventoryError(
            "field 'nameservers': must be a non-empty list of {name, ipv4, ipv6} or cdn_nodes output "
            "with at least one active node")
    out = []
    for ns in nameservers:
        if not isinstance(ns, Mapping) or not isinstance(ns.get("name"), str):
            raise CdnInventoryError(f"field 'nameservers': entry {ns!r} needs a 'name'")
        name = ns["name"].rstrip(".").lower()
        what = f"nameserver {ns['name']!r}"
        if "." in name:
            if not HOSTNAME_RE.match(name):
                raise CdnInventoryError(f"{what}: field 'name': not a host name")
            fqdn = name
        else:
            if not LABEL_RE.match(name):
                raise CdnInventoryError(f"{what}: field 'name': not a DNS label")
            if name in RESERVED_LABELS:
                raise CdnInventoryError(f"{what}: field 'name': reserved for {RESERVED_LABELS[name]}")
            fqdn = f"{name}.{zone}"
        in_zone = fqdn.endswith("." + zone)
        ipv4 = _address(ns["ipv4"], 4, what, "ipv4") if ns.get("ipv4") is not None else None
        ipv6 = _address(ns["ipv6"], 6, what, "ipv6") if ns.get("ipv6") is not None else None
        if in_zone and ipv4 is None and ipv6 is None:
            raise CdnInventoryError(f"{what}: field 'ipv4': in-zone name server {fqdn} needs glue addresses")
        out.append((fqdn, ipv4, ipv6))
    if len({f for f, _, _ in out}) != len(out):
        raise CdnInventoryError(f"field 'nameservers': duplicate names in {[f for f, _, _ in out]}")
    return out


def _region_answer(region: str, sites, addrs, answer_sites: int) -> dict[str, list[str]]:
    if not isinstance(sites, list) or not sites:
        raise CdnInventoryError(f"geo_map region {region}: empty site list, refusing to publish an empty answer")
    answer: dict[str, list[str]] = {"a": [], "aaaa": []}
    used = 0
    for site in sites:
        if site in addrs:
            for rtype in ("a", "aaaa"):
                answer[rtype].extend(addrs[site][rtype])
            used += 1
            if used == answer_sites:
                break
    if not used:
        raise CdnInventoryError(
            f"geo_map region {region}: none of the sites {sites} has an active edge node, "
            "refusing to publish an empty answer")
    return answer


def render_zones(geo_map, zone, edge_nodes, services, nameservers, ttl=60, answer_sites=1,
                 serial=None, hostmaster=None) -> dict:
    """{'domains': [...]} for geoip-zones-file; see docs/inventory.md for the names it creates."""
    zone = _zone_name(zone)
    ttl = _positive_int(ttl, "ttl")
    answer_sites = _positive_int(answer_sites, "answer_sites")
    if not isinstance(geo_map, Mapping) or not {"countries", "continents", "default"} <= set(geo_map):
        raise CdnInventoryError("geo_map: expected the output of perch.cdn.geo_map (countries, continents, default)")
    if isinstance(services, Mapping):
        svc_names = sorted(services, key=str)
    elif isinstance(services, (list, tuple)):
        svc_names = sorted(set(services), key=str)
    else:
        raise CdnInventoryError("field 'services': must be cdn_services (a mapping) or a list of names")
    if not svc_names:
        raise CdnInventoryError("field 'services': no services to publish")
    ns = _nameservers(nameservers, zone)
    for svc in svc_names:
        if not isinstance(svc, str) or not LABEL_RE.match(svc):
            raise CdnInventoryError(f"service {svc!r}: service names must be DNS labels")
        if svc in RESERVED_LABELS:
            raise CdnInventoryError(f"service {svc!r}: the name is reserved for {RESERVED_LABELS[svc]}")
        if any(f == f"{svc}.{zone}" for f, _, _ in ns):
            raise CdnInventoryError(f"service {svc!r}: same name as a name server")
    addrs = site_addresses(edge_nodes)

    # every region resolved once, then copied under each service
    regions: list[tuple[str, dict]] = []
    countries = geo_map["countries"]
    for cc in COUNTRIES:
        if cc not in countries:
            raise CdnInventoryError(f"geo_map region countries.{cc}: missing, refusing to publish an empty answer")
        regions.append((f"{cc.lower()}.country", _region_answer(f"countries.{cc}", countries[cc], addrs, answer_sites)))
    for code in CONTINENTS:
        sites = geo_map["continents"].get(code)
        regions.append((f"{code.lower()}.continent", _region_answer(f"continents.{code}", sites, addrs, answer_sites)))
    regions.append(("default", _region_answer("default", geo_map["default"], addrs, answer_sites)))

    records: dict[str, list] = {}
    glue: dict[str, list] = {}
    for fqdn, ipv4, ipv6 in ns:
        if fqdn.endswith("." + zone):
            glue[fqdn] = ([{"a": ipv4}] if ipv4 else []) + ([{"aaaa": ipv6}] if ipv6 else [])
    records[f"whoami.{zone}"] = [{"txt": WHOAMI_TXT}]
    for site in sorted(addrs):
        records[f"{site}.site.{zone}"] = _rrset(addrs[site])
    service_map = {}
    for svc in svc_names:
        for prefix, answer in regions:
            records[f"{prefix}.{svc}.{zone}"] = _rrset(answer)
        service_map[f"{svc}.{zone}"] = service_formats(svc, zone)
    records.update(glue)

    if serial is None:
        # pure function: the serial follows the content, not the clock (the backend has no secondaries)
        digest = json.dumps([ns, records, service_map], sort_keys=True).encode()
        serial = zlib.crc32(digest) & 0x7FFFFFFF or 1
    serial = _positive_int(serial, "serial")
    hostmaster = _zone_name(hostmaster) if hostmaster is not None else f"hostmaster.{zone}"
    apex = [{"soa": f"{ns[0][0]} {hostmaster} {serial} {SOA_TIMERS} {ttl}"}]
    apex += [{"ns": fqdn} for fqdn, _, _ in ns]
    return {
        "domains": [{
            "domain": zone,
            "ttl": ttl,
            "records": {zone: apex, **dict(sorted(records.items()))},
            "services": dict(sorted(service_map.items())),
        }]
    }
