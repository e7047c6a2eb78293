# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: validate_cdn
short_description: Validate the whole perch.cdn inventory before any host is touched
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Returns V(true), or raises an error naming C(perch.cdn.validate_cdn), the offending site, node or
    policy entry, and the field.
  - "Checks: sites (ISO 3166-1 country, continent code, lat/lon range, state, provider, weight, no unknown fields);
    nodes (known site, IPv4/IPv6 addresses, state, no address used twice, no unicast address inside
    an anycast prefix, no loopback, multicast, link-local, broadcast or IPv4-mapped address); services (DNS label
    names, kind, aliases, no alias twice); anycast prefixes (CIDR, no host bits, no overlap, IPv4 /8-/24 and
    IPv6 /19-/48, public address space unless O(anycast_allow_special), inside O(anycast_owned));
    policy (failover_depth, avoid/pin naming known countries and sites or providers); and that
    no country is left with an empty answer (every site drained or avoided)."
  - With O(edges), sites without an active edge node count as drained for the empty-answer check.
positional: nodes, services, policy, anycast_prefixes
options:
  _input:
    description: C(cdn_sites).
    type: dict
    required: true
  nodes:
    description: All CDN nodes, from P(perch.cdn.cdn_nodes#filter).
    type: dict
    required: true
  services:
    description: C(cdn_services).
    type: dict
    required: true
  policy:
    description: C(cdn_policy).
    type: dict
    required: true
  anycast_prefixes:
    description: C(cdn_anycast_prefixes).
    type: list
    elements: str
    required: true
  edges:
    description: Names of the C(cdn_edges) hosts (a subset of O(nodes)).
    type: list
    elements: str
  zone:
    description: C(cdn_zone), checked to be a domain name.
    type: str
  dns:
    description: Names of the C(cdn_dns) hosts; each must be a DNS label, and not all of them drained.
    type: list
    elements: str
  bans:
    description: C(cdn_bans); a ban that covers loopback, a node of O(nodes) or an anycast prefix is refused.
    type: list
    elements: str
  anycast_allow_special:
    description: Accept anycast prefixes in special-purpose address space (a lab on documentation ranges).
    type: bool
    default: false
  anycast_owned:
    description: The project's own address space (C(cdn_anycast_owned)); every anycast prefix must lie inside it.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Validate the inventory
  ansible.builtin.assert:
    that: >-
      cdn_sites | perch.cdn.validate_cdn(
        hostvars | perch.cdn.cdn_nodes(groups['cdn_edges'] + groups['cdn_dns'] + groups['cdn_origin']),
        cdn_services, cdn_policy, cdn_anycast_prefixes, edges=groups['cdn_edges'], zone=cdn_zone)
    quiet: true
"""

RETURN = r"""
_value:
  description: V(true) when the inventory is valid.
  type: bool
"""

FQCN = "perch.cdn.validate_cdn"


def validate_cdn(sites, nodes, services, policy, anycast_prefixes, edges=None, zone=None, dns=None, bans=None,
                 anycast_allow_special=False, anycast_owned=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.model import validate
    try:
        return validate(sites, nodes, services, policy, anycast_prefixes, edges=edges, zone=zone, dns=dns, bans=bans,
                        anycast_allow_special=anycast_allow_special, anycast_owned=anycast_owned)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"validate_cdn": validate_cdn}
