# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one model of the CDN, computed once from the inventory (docs/inventory.md), and the
validation of the whole of it. Controller only: the filters call it, nothing runs on a node.

Every playbook starts with playbooks/validate.yml, which computes the model with
perch.cdn.cdn_model and sets it as the fact `perch_cdn_model` on every CDN node; the roles read
nodes, states, services, policy and prefixes from it, and nothing else reads the inventory's
cdn_* variables (cdn_state above all) for itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.addresses import AddressError, first_addresses
from ansible_collections.perch.cdn.plugins.plugin_utils.geo import build_geo_map
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import (
    HOSTNAME_RE,
    LABEL_RE,
    CdnInventoryError,
    _fail,
    _mapping,
    _name_list,
    cdn_nodes,
    normalize_nodes,
    normalize_policy,
    normalize_prefixes,
    normalize_services,
    normalize_sites,
    serving_sites,
)
from ansible_collections.perch.cdn.plugins.plugin_utils.policy import with_evacuations

# inventory group -> role of its hosts in the model
ROLES = {"cdn_edges": "edge", "cdn_dns": "dns", "cdn_origin": "origin"}


def validate(sites, nodes, services, policy, anycast_prefixes, edges=None, zone=None, dns=None, bans=None,
             anycast_allow_special=False, anycast_owned=None) -> bool:
    """Validate the whole inventory; raise CdnInventoryError on the first problem, else True.

    edges: optional names of the cdn_edges hosts; when given, sites without an active edge count
    as drained for the "every country keeps an answer" check. zone: optional cdn_zone to check.
    dns: optional names of the cdn_dns hosts (DNS labels, not all drained). bans: optional cdn_bans,
    checked against the CDN's own addresses. anycast_allow_special / anycast_owned: see
    normalize_prefixes.
    """
    if zone is not None and (not isinstance(zone, str) or "." not in zone
                             or not HOSTNAME_RE.match(zone.rstrip(".").lower())):
        raise _fail("cdn_zone", "cdn_zone", f"{zone!r} is not a domain name (e.g. cdn.example.org)")
    norm_sites = normalize_sites(sites)
    norm_policy = normalize_policy(policy, norm_sites)
    norm_nodes = normalize_nodes(nodes, norm_sites)
    normalize_services(services)
    prefixes = normalize_prefixes(anycast_prefixes, allow_special=anycast_allow_special, owned=anycast_owned)
    nets = [ipaddress.ip_network(p) for p in prefixes]
    for name, node in norm_nodes.items():
        for field in ("ipv4", "ipv6"):
            addr = node[field]
            if addr is None:
                continue
            for net in nets:
                if ipaddress.ip_address(addr) in net:
                    raise _fail(f"node {name!r}", f"cdn_{field}",
                                f"unicast address {addr} lies inside anycast prefix {net}")
    if dns is not None:
        dns = _name_list(dns, "dns", "dns")
        for name in dns:
            if name not in norm_nodes:
                raise CdnInventoryError(f"DNS node {name!r}: not among the validated nodes")
            if not LABEL_RE.match(name):
                raise CdnInventoryError(f"DNS node {name!r}: its name is its name server's label in the zone: "
                                        "a DNS label (a-z, 0-9, '-')")
        if dns and all(norm_nodes[n]["state"] != "active" for n in dns):
            raise CdnInventoryError(f"every DNS node is drained ({', '.join(dns)}): nothing would answer for the zone")
    if bans:
        _check_bans(bans, norm_nodes, nets)
    check_sites = norm_sites
    if edges is not None:
        edges = _name_list(edges, "edges", "edges")
        for e in edges:
            if e not in norm_nodes:
                raise CdnInventoryError(f"edge {e!r}: not among the validated nodes")
        check_sites = serving_sites(norm_sites, {e: norm_nodes[e] for e in edges})
    # raises on any country left without an answer
    build_geo_map(check_sites, norm_policy, _normalized=True)
    return True


def _check_bans(bans, nodes, anycast) -> None:
    """A ban that covers loopback, a CDN node or an anycast address breaks health checks and rollouts."""
    from ansible_collections.perch.cdn.plugins.plugin_utils.bans import ban_list

    for entry in ban_list(bans):
        net = ipaddress.ip_network(entry)
        what = f"cdn_bans entry {entry!r}"
        if net.version == 4 and net.overlaps(ipaddress.ip_network("127.0.0.0/8")) or \
                net.version == 6 and ipaddress.ip_address("::1") in net:
            raise _fail(what, "cdn_bans", "covers loopback: the edges' own health checks would be refused")
        for name, node in nodes.items():
            for field in ("ipv4", "ipv6"):
                if node[field] and ipaddress.ip_address(node[field]) in net:
                    raise _fail(what, "cdn_bans", f"covers node {name!r} ({node[field]}): the CDN would refuse itself")
        for prefix in anycast:
            if net.version == prefix.version and net.overlaps(prefix):
                raise _fail(what, "cdn_bans", f"covers the anycast prefix {prefix}")


ORIGIN_TLS_KEYS = ("name", "cert", "key", "chain", "ca")


def normalize_origin_tls(value, plain_http, zone, has_origin) -> dict | None:
    """cdn_origin_tls as the origin and the edges use it, or None for plain HTTP (said explicitly).

    The edges fetch over TLS and check the origin's certificate for `name` against `ca`; cert, key,
    chain and ca are controller paths (the tls role checks and installs them on the origin).
    """
    if not isinstance(plain_http, bool):
        raise _fail("cdn_origin_plain_http", "cdn_origin_plain_http", f"must be true or false, got {plain_http!r}")
    if plain_http:
        if value:
            raise _fail("cdn_origin_tls", "cdn_origin_tls",
                        "set together with cdn_origin_plain_http: true; choose one")
        return None
    if value is None:
        if not has_origin:
            return None
        raise _fail("cdn_origin_tls", "cdn_origin_tls",
                    "the edges fetch from the origin over TLS: set {name, cert, key, ca} (and chain), or set "
                    "cdn_origin_plain_http: true to accept content that anyone on the path can change")
    tls = _mapping(value, "cdn_origin_tls")
    unknown = sorted(set(map(str, tls)) - set(ORIGIN_TLS_KEYS))
    if unknown:
        raise _fail("cdn_origin_tls", f"cdn_origin_tls.{unknown[0]}",
                    f"unknown (allowed: {', '.join(ORIGIN_TLS_KEYS)})")
    out = {}
    for key in ("cert", "key", "ca", "chain"):
        path = tls.get(key, "" if key == "chain" else None)
        if not isinstance(path, str) or (key != "chain" and not path.strip()):
            raise _fail("cdn_origin_tls", f"cdn_origin_tls.{key}",
                        f"must be a path on the controller, got {path!r}")
        out[key] = path.strip()
    default = f"origin.{zone.rstrip('.').lower()}" if isinstance(zone, str) else None
    name = tls.get("name", default)
    if not isinstance(name, str) or not HOSTNAME_RE.match(name.rstrip(".").lower()) or "." not in name:
        raise _fail("cdn_origin_tls", "cdn_origin_tls.name",
                    f"{name!r} is not a host name (the name the edges check in the origin's certificate)")
    out["name"] = name.rstrip(".").lower()
    return out


BACKUP_KEYS = ("servers", "name", "ca")
SERVER_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def normalize_origin_backup(value, origin_tls) -> dict | None:
    """cdn_origin_backup: a mirror the edges (and shields) fetch from when every origin server fails.

    servers are host:port; over TLS (when cdn_origin_tls is set) the edges check the mirror's certificate for
    `name` against `ca` (a controller file, by default the controller's system bundle).
    """
    if value is None:
        return None
    backup = _mapping(value, "cdn_origin_backup")
    unknown = sorted(set(map(str, backup)) - set(BACKUP_KEYS))
    if unknown:
        raise _fail("cdn_origin_backup", f"cdn_origin_backup.{unknown[0]}",
                    f"unknown (allowed: {', '.join(BACKUP_KEYS)})")
    servers = backup.get("servers")
    if isinstance(servers, str) or not isinstance(servers, list) or not servers:
        raise _fail("cdn_origin_backup", "cdn_origin_backup.servers", f"must be a list of host:port, got {servers!r}")
    for n, server in enumerate(servers):
        port = server.rsplit(":", 1)[-1] if isinstance(server, str) else ""
        if not isinstance(server, str) or not SERVER_RE.match(server) or not 0 < int(port) < 65536:
            raise _fail("cdn_origin_backup", f"cdn_origin_backup.servers[{n}]", f"{server!r} is not host:port")
    out = {"servers": list(servers), "name": None, "ca": None}
    if origin_tls is None:
        return out
    name = backup.get("name")
    if not isinstance(name, str) or "." not in name or not HOSTNAME_RE.match(name.rstrip(".").lower()):
        raise _fail("cdn_origin_backup", "cdn_origin_backup.name",
                    f"{name!r} is not a host name (the name the edges check in the mirror's certificate)")
    ca = backup.get("ca", SYSTEM_CA)
    if not isinstance(ca, str) or not ca.strip():
        raise _fail("cdn_origin_backup", "cdn_origin_backup.ca", f"must be a path on the controller, got {ca!r}")
    out.update(name=name.rstrip(".").lower(), ca=ca.strip())
    return out


def _check_backup_not_an_edge(servers, edges) -> None:
    """A backup origin that is an edge would have the edges fetch from themselves."""
    for n, server in enumerate(servers):
        host = server.rsplit(":", 1)[0].strip("[]").lower()
        for name, node in edges.items():
            if host in (node["ipv4"], node["ipv6"], name):
                raise _fail("cdn_origin_backup", f"cdn_origin_backup.servers[{n}]",
                            f"{server!r} is the edge {name!r}: a backup origin is a mirror outside the edges "
                            "(to put an edge between edges and the origin, use cdn_shield)")


def normalize_shields(shields, edges) -> dict:
    """{edge: shield or None}: the edge each edge fetches its misses from (cdn_shield), checked.

    shields: {edge: cdn_shield of that host}; edges: the cdn_edges hosts. A shield is an edge; a chain
    of shields ends at the origin (no loop, no edge its own shield).
    """
    out = {}
    for edge in sorted(edges):
        shield = shields.get(edge)
        if shield in (None, ""):
            out[edge] = None
            continue
        what = f"node {edge!r}"
        if not isinstance(shield, str):
            raise _fail(what, "cdn_shield", f"must be the name of another cache edge, got {shield!r}")
        if shield == edge:
            raise _fail(what, "cdn_shield", "names the edge itself: a shield fetches from the origin "
                        "(set cdn_shield: null in the shield's host_vars when group_vars set it for a region)")
        if shield not in edges:
            raise _fail(what, "cdn_shield", f"{shield!r} is not a cache edge (cdn_edges: {', '.join(sorted(edges))})")
        out[edge] = shield
    for edge in out:
        seen = [edge]
        nxt = out[edge]
        while nxt is not None:
            if nxt in seen:
                loop = " -> ".join([*seen[seen.index(nxt):], nxt])
                raise _fail(f"node {edge!r}", "cdn_shield", f"the shields make a loop ({loop}): one of them must fetch "
                            "from the origin")
            seen.append(nxt)
            nxt = out[nxt]
    return out


def shield_tiers(shields) -> list[list[str]]:
    """The edges by distance from the origin: tiers[0] fetch from it, tiers[1] from tiers[0]'s shields...

    Purges and prewarms go tier by tier, so an edge never refetches an old copy from its shield.
    """
    depth = {}

    def _depth(edge):
        if edge not in depth:
            depth[edge] = 0 if shields[edge] is None else _depth(shields[edge]) + 1
        return depth[edge]

    tiers = []
    for edge in sorted(shields):
        d = _depth(edge)
        while len(tiers) <= d:
            tiers.append([])
        tiers[d].append(edge)
    return tiers


def _group(groups, name) -> list[str]:
    hosts = groups.get(name) if isinstance(groups, Mapping) else None
    return sorted(set(hosts or ()))


def normalize_monitoring(hostvars, hosts) -> dict:
    """{host: {"ipv4": address}} of the cdn_monitoring group: the hosts allowed to scrape the nodes.

    The address is the host's cdn_ipv4 (a CDN node) or its ansible_host, and must be an IPv4 address:
    the exporters' firewall lets it in by address.
    """
    out = {}
    for host in hosts:
        hv = hostvars.get(host) or {}
        field = "cdn_ipv4" if hv.get("cdn_ipv4") else "ansible_host"
        value = hv.get(field)
        try:
            address = ipaddress.ip_address(str(value))
        except ValueError:
            address = None
        if address is None or address.version != 4:
            raise _fail(f"cdn_monitoring host {host!r}", field,
                        f"{value!r} is not an IPv4 address (the exporters let the monitoring host in by address)")
        out[host] = {"ipv4": str(address)}
    return out


def cdn_model(hostvars, groups, states=None, evacuations=None, check=True) -> dict:
    """The CDN as the inventory describes it, validated (check), with optional what-ifs.

    states: {node: state} applied over the nodes' cdn_state (drain.yml checks the CDN it is about to
    make). evacuations: replaces cdn_evacuations (evacuate.yml checks the result before writing it).
    The global cdn_* variables are read from the first CDN node's hostvars (group_vars/all).
    """
    members = {role: _group(groups, group) for group, role in ROLES.items()}
    names = sorted({n for hosts in members.values() for n in hosts})
    if not names:
        raise CdnInventoryError("the inventory has no host in cdn_edges, cdn_dns or cdn_origin")
    for role, hosts in members.items():
        for other, others in members.items():
            both = sorted(set(hosts) & set(others)) if role < other else []
            if both:
                raise CdnInventoryError(f"node {both[0]!r}: in two CDN groups ({role} and {other}); one node, one role")
    first = hostvars[names[0]]
    raw = cdn_nodes(hostvars, names)
    for name, state in (states or {}).items():
        if name not in raw:
            raise CdnInventoryError(f"node {name!r}: not a CDN node (states)")
        raw[name] = dict(raw[name], state=state)
    evac = first.get("cdn_evacuations") if evacuations is None else evacuations
    edges_raw = {n: raw[n] for n in members["edge"]}
    policy = with_evacuations(first.get("cdn_policy") or {}, evac or {}, edges_raw)
    sites, services = first.get("cdn_sites"), first.get("cdn_services")
    prefixes, zone = first.get("cdn_anycast_prefixes") or [], first.get("cdn_zone")
    allow_special = first.get("cdn_anycast_allow_special", False)
    if not isinstance(allow_special, bool):
        raise _fail("cdn_anycast_allow_special", "cdn_anycast_allow_special",
                    f"must be true or false, got {allow_special!r}")
    owned = first.get("cdn_anycast_owned")
    origin_tls = normalize_origin_tls(first.get("cdn_origin_tls"), first.get("cdn_origin_plain_http", False), zone,
                                      bool(members["origin"]))
    origin_backup = normalize_origin_backup(first.get("cdn_origin_backup"), origin_tls)
    if check:
        validate(sites, raw, services, policy, prefixes, edges=members["edge"], zone=zone, dns=members["dns"],
                 bans=first.get("cdn_bans"), anycast_allow_special=allow_special, anycast_owned=owned)
    norm_sites = normalize_sites(sites)
    nodes = normalize_nodes(raw, norm_sites)
    for role, hosts in members.items():
        for n in hosts:
            nodes[n]["role"] = role
    if origin_backup:
        _check_backup_not_an_edge(origin_backup["servers"], {n: nodes[n] for n in members["edge"]})
    shields = normalize_shields({n: hostvars[n].get("cdn_shield") for n in members["edge"]}, members["edge"])
    for n, shield in shields.items():
        nodes[n]["shield"] = shield
    norm_prefixes = normalize_prefixes(prefixes, allow_special=allow_special, owned=owned)
    try:
        anycast = first_addresses(norm_prefixes)
    except AddressError as exc:
        raise _fail("cdn_anycast_prefixes", "cdn_anycast_prefixes", str(exc)) from None
    monitoring = normalize_monitoring(hostvars, _group(groups, "cdn_monitoring"))
    for host in monitoring:
        if host in members["edge"]:
            # an edge's traffic is what the monitoring host watches (and what the origin's reports count)
            raise CdnInventoryError(f"cdn_monitoring host {host!r}: is an edge (cdn_edges); monitor from the origin, "
                                    "a DNS server or a host of its own")
    return {
        "zone": zone.rstrip(".").lower() if isinstance(zone, str) else zone,
        "sites": norm_sites,
        "serving_sites": serving_sites(norm_sites, {n: nodes[n] for n in members["edge"]}),
        "services": normalize_services(services),
        # unchecked, a policy naming what no longer exists is returned as it is (evacuate.yml undoes it)
        "policy": normalize_policy(policy, norm_sites) if check else policy,
        "evacuations": dict(evac or {}),
        "anycast_prefixes": norm_prefixes,
        "anycast_addresses": anycast,
        "nodes": nodes,
        "edges": {n: nodes[n] for n in members["edge"]},
        "dns": {n: nodes[n] for n in members["dns"]},
        "origin": {n: nodes[n] for n in members["origin"]},
        # {shield: [edges behind it]}, and the edges tier by tier from the origin (purge and prewarm order)
        "shields": {s: sorted(e for e, v in shields.items() if v == s) for s in sorted(set(shields.values()) - {None})},
        "tiers": shield_tiers(shields),
        # None: plain HTTP, as cdn_origin_plain_http says
        "origin_tls": origin_tls,
        # None, or {servers, name, ca}: the mirror the edges fetch from when the origin fails
        "origin_backup": origin_backup,
        # {host: {ipv4}}: the cdn_monitoring hosts (may also be CDN nodes); empty: no monitoring
        "monitoring": monitoring,
    }
