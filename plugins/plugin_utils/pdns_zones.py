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

Health (pdns 4.7 LUA records, `enable-lua-records=shared`; lua-record.cc): a LUA record may stand
where the backend answers; `ifurlup(url, {{group}, ...}, opts)` answers from the first group with
an address whose URL answers 200 (and `stringmatch`), checked in the background every
`lua-health-checks-interval` seconds. A check starts when an address is first asked about, and
counts as down until its first result. Answers of LUA records never enter the packet cache.
"""

from __future__ import annotations

import ipaddress
import json
import re
import zlib
from collections.abc import Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import (
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
# the LUA record that defines the functions the health-checked answers call (include())
LUA_LIBRARY = "_perch-lua"
HEALTH_DEFAULTS = {"path": "/.perch/health", "match": "perch-ok", "timeout": 2}
PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
MATCH_RE = re.compile(r"^[A-Za-z0-9._ -]{1,64}$")


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
    ip = ipaddress.ip_address(addr)
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
    if len({f for f, _v4, _v6 in out}) != len(out):
        raise CdnInventoryError(f"field 'nameservers': duplicate names in {[f for f, _v4, _v6 in out]}")
    return out


def _region_sites(region: str, sites, addrs) -> list[str]:
    """The sites of a region's list that have an active edge, in order; never empty."""
    if not isinstance(sites, list) or not sites:
        raise CdnInventoryError(f"geo_map region {region}: empty site list, refusing to publish an empty answer")
    serving = [site for site in sites if site in addrs]
    if not serving:
        raise CdnInventoryError(
            f"geo_map region {region}: none of the sites {sites} has an active edge node, "
            "refusing to publish an empty answer")
    return serving


def _static_answer(sites, addrs, answer_sites: int) -> dict[str, list[str]]:
    answer: dict[str, list[str]] = {"a": [], "aaaa": []}
    for site in sites[:answer_sites]:
        for rtype in ("a", "aaaa"):
            answer[rtype].extend(addrs[site][rtype])
    return answer


def _health(health) -> dict | None:
    """Normalise the health-check settings (None: static answers)."""
    if health is None or health is False:
        return None
    if health is True:
        health = {}
    if not isinstance(health, Mapping):
        raise CdnInventoryError(f"field 'health': must be a mapping of path, match and timeout, got {health!r}")
    unknown = sorted(str(k) for k in health if k not in HEALTH_DEFAULTS)
    if unknown:
        raise CdnInventoryError(f"field 'health.{unknown[0]}': unknown (allowed: {', '.join(HEALTH_DEFAULTS)})")
    out = dict(HEALTH_DEFAULTS, **health)
    if not isinstance(out["path"], str) or not PATH_RE.match(out["path"]):
        raise CdnInventoryError(
            f"field 'health.path': {out['path']!r} is not a URL path (/ then letters, digits, . _ ~ - /)")
    if not isinstance(out["match"], str) or not MATCH_RE.match(out["match"]):
        raise CdnInventoryError(
            f"field 'health.match': {out['match']!r} must be 1-64 letters, digits, spaces or . _ -")
    if not _is_int(out["timeout"]) or not 1 <= out["timeout"] <= 60:
        raise CdnInventoryError(f"field 'health.timeout': must be whole seconds in 1..60, got {out['timeout']!r}")
    return out


def _last_resort(addresses) -> dict[str, list[str]]:
    """The answer when no edge of a region's chain is up: the anycast addresses, per family."""
    if addresses is None:
        return {"a": [], "aaaa": []}
    if isinstance(addresses, str) or not isinstance(addresses, (list, tuple)):
        raise CdnInventoryError(f"field 'last_resort': must be a list of addresses, got {addresses!r}")
    out: dict[str, list[str]] = {"a": [], "aaaa": []}
    for addr in addresses:
        if isinstance(addr, str) and ":" in addr:
            out["aaaa"].append(_address(addr, 6, "last_resort", "last_resort"))
        else:
            out["a"].append(_address(addr, 4, "last_resort", "last_resort"))
    return {k: sorted(set(v), key=_ip_sort_key) for k, v in out.items()}


def _lua_str(value: str) -> str:
    # every value is validated (addresses, host names, paths): no quote or backslash can get here
    return "'" + value + "'"


def _lua_groups(sites, addrs, rtype: str) -> str:
    """{{'192.0.2.1', '192.0.2.2', s='fra'}, ...}: one group per site, the site's active addresses."""
    groups = []
    for site in sites:
        ips = addrs[site][rtype]
        if ips:
            groups.append("{" + ", ".join([_lua_str(ip) for ip in ips] + [f"s={_lua_str(site)}"]) + "}")
    return "{" + ", ".join(groups) + "}"


def _lua_library(zone, svc_names, health, chains, last, answer_sites, edges) -> str:
    """The Lua the health-checked records include once per pdns thread (see _LUA_LIBRARY)."""
    urls = ", ".join(f"{{{_lua_str(svc)}, {_lua_str(f'http://{svc}.{zone}' + health['path'])}}}" for svc in svc_names)
    tables = []
    for rtype in ("A", "AAAA"):
        conts = ", ".join(f"{code}={groups}" for code, groups in chains[rtype]["continents"])
        tables.append(f"{rtype}={{c={{{conts}}}, d={chains[rtype]['default']}, "
                      f"l={{{', '.join(_lua_str(ip) for ip in last[rtype.lower()])}}}}}")
    edge_list = ", ".join(f"{{{_lua_str(name)}, {_lua_str(ip)}}}" for name, ip in edges)
    return (
        "(function() "
        f"local o = {{selector='all', backupSelector='all', timeout='{health['timeout']}', "
        f"stringmatch={_lua_str(health['match'])}}} "
        f"local n = {answer_sites} "
        f"local svcs = {{{urls}}} "
        "local url = {} for _, s in ipairs(svcs) do url[s[1]] = s[2] end "
        f"local chain = {{{', '.join(tables)}}} "
        f"local edges = {{{edge_list}}} "
        # an address's health as pdns believes it: ifurlup answers from the first group with a live
        # address, else with every candidate; with the address twice, one answer means up
        "function perch_up(u, ip) return #ifurlup(u, {{ip}, {ip}}, o) == 1 end "
        # the live addresses of groups not seen yet, until n sites have answered
        "local function take(u, groups, out, seen, used) "
        "for _, g in ipairs(groups) do if used >= n then break end "
        "if not seen[g.s] then seen[g.s] = true local live = false "
        "for _, ip in ipairs(g) do if perch_up(u, ip) then out[#out + 1] = ip live = true end end "
        "if live then used = used + 1 end end end return used end "
        # the region's own list, then the client's continent list, then the default list, then the
        # last resort (anycast), then every address of the region: never an empty answer
        "function perch_answer(svc, t, groups) local u, out, seen = url[svc], {}, {} "
        "local used = take(u, groups, out, seen, 0) "
        "if used < n then local ok, cc = pcall(continentCode) "
        "local c = ok and type(cc) == 'string' and chain[t].c[string.upper(cc)] "
        "if c then used = take(u, c, out, seen, used) end "
        "if used < n then take(u, chain[t].d, out, seen, used) end end "
        "if #out > 0 then return out end if #chain[t].l > 0 then return chain[t].l end "
        "for _, g in ipairs(groups) do for _, ip in ipairs(g) do out[#out + 1] = ip end end return out end "
        # health.<zone> TXT: what this server believes about each edge, per service
        "function perch_health() local out = {} for _, e in ipairs(edges) do local line = e[1] .. ' ' .. e[2] "
        "for _, s in ipairs(svcs) do "
        "line = line .. ' ' .. s[1] .. ':' .. (perch_up(s[2], e[2]) and 'up' or 'down') end "
        "out[#out + 1] = line end return out end "
        f"return 'perch.cdn health checks: GET {health['path']} answers 200 with {health['match']}' end)()"
    )


def _lua_record(rtype: str, version: str, call: str) -> dict:
    # the library is (re)loaded when this thread's copy is not the one of this zone
    code = f";if perch_lua ~= '{version}' then include('{LUA_LIBRARY}') perch_lua = '{version}' end return {call}"
    return {"lua": f'{rtype} "{code}"'}


def render_zones(geo_map, zone, edge_nodes, services, nameservers, ttl=60, answer_sites=1,
                 serial=None, hostmaster=None, health=None, last_resort=None) -> dict:
    """{'domains': [...]} for geoip-zones-file; see docs/inventory.md for the names it creates."""
    zone = _zone_name(zone)
    ttl = _positive_int(ttl, "ttl")
    answer_sites = _positive_int(answer_sites, "answer_sites")
    health = _health(health)
    last = _last_resort(last_resort)
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
        if any(f == f"{svc}.{zone}" for f, _v4, _v6 in ns):
            raise CdnInventoryError(f"service {svc!r}: same name as a name server")
    addrs = site_addresses(edge_nodes)

    # every region's serving sites resolved once, then used under each service
    regions: list[tuple[str, list[str]]] = []
    countries = geo_map["countries"]
    for cc in COUNTRIES:
        if cc not in countries:
            raise CdnInventoryError(f"geo_map region countries.{cc}: missing, refusing to publish an empty answer")
        regions.append((f"{cc.lower()}.country", _region_sites(f"countries.{cc}", countries[cc], addrs)))
    continents = []
    for code in CONTINENTS:
        sites = _region_sites(f"continents.{code}", geo_map["continents"].get(code), addrs)
        continents.append((code, sites))
        regions.append((f"{code.lower()}.continent", sites))
    default = _region_sites("default", geo_map["default"], addrs)
    regions.append(("default", default))

    records: dict[str, list] = {}
    glue: dict[str, list] = {}
    for fqdn, ipv4, ipv6 in ns:
        if fqdn.endswith("." + zone):
            glue[fqdn] = ([{"a": ipv4}] if ipv4 else []) + ([{"aaaa": ipv6}] if ipv6 else [])
    records[f"whoami.{zone}"] = [{"txt": WHOAMI_TXT}]
    for site in sorted(addrs):
        records[f"{site}.site.{zone}"] = _rrset(addrs[site])
    service_map = {}
    if health is None:
        for svc in svc_names:
            for prefix, sites in regions:
                records[f"{prefix}.{svc}.{zone}"] = _rrset(_static_answer(sites, addrs, answer_sites))
            service_map[f"{svc}.{zone}"] = service_formats(svc, zone)
    else:
        rtypes = ["A"] + (["AAAA"] if any(a["aaaa"] for a in addrs.values()) else [])
        chains = {rt: {"continents": [(code, _lua_groups(sites, addrs, rt.lower())) for code, sites in continents],
                       "default": _lua_groups(default, addrs, rt.lower())} for rt in ("A", "AAAA")}
        edges = [(name, node[fam]) for name, node in sorted(edge_nodes.items(), key=lambda kv: str(kv[0]))
                 if (node.get("state") or "active") == "active" for fam in ("ipv4", "ipv6") if node.get(fam)]
        library = _lua_library(zone, svc_names, health, chains, last, answer_sites, edges)
        version = f"{zlib.crc32(library.encode()) & 0xFFFFFFFF:08x}"
        records[f"{LUA_LIBRARY}.{zone}"] = [{"lua": f'TXT "{library}"'}]
        records[f"health.{zone}"] = [_lua_record("TXT", version, "perch_health()")]
        for svc in svc_names:
            for prefix, sites in regions:
                records[f"{prefix}.{svc}.{zone}"] = [
                    _lua_record(rt, version, f"perch_answer('{svc}', '{rt}', {_lua_groups(sites, addrs, rt.lower())})")
                    for rt in rtypes]
            service_map[f"{svc}.{zone}"] = service_formats(svc, zone)
    records.update(glue)

    if serial is None:
        # pure function: the serial follows the content, not the clock (the backend has no secondaries)
        digest = json.dumps([ns, records, service_map], sort_keys=True).encode()
        serial = zlib.crc32(digest) & 0x7FFFFFFF or 1
    serial = _positive_int(serial, "serial")
    hostmaster = _zone_name(hostmaster) if hostmaster is not None else f"hostmaster.{zone}"
    apex = [{"soa": f"{ns[0][0]} {hostmaster} {serial} {SOA_TIMERS} {ttl}"}]
    apex += [{"ns": fqdn} for fqdn, _v4, _v6 in ns]
    return {
        "domains": [{
            "domain": zone,
            "ttl": ttl,
            "records": {zone: apex, **dict(sorted(records.items()))},
            "services": dict(sorted(service_map.items())),
        }]
    }
