# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: cdn_nodes
short_description: The perch.cdn node variables of some hosts, normalised
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Reads C(cdn_site), C(cdn_ipv4), C(cdn_ipv6) and C(cdn_state) of the given hosts from C(hostvars).
  - C(cdn_state) defaults to C(active), a missing C(cdn_ipv6) becomes V(null). Nothing is validated here;
    pass the result to P(perch.cdn.validate_cdn#filter).
  - Raises an error naming C(perch.cdn.cdn_nodes) for a host that is not in the inventory.
positional: hosts
options:
  _input:
    description: C(hostvars).
    type: raw
    required: true
  hosts:
    description: Host names, for example C(groups['cdn_edges']). Duplicates are fine.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: All CDN nodes
  ansible.builtin.set_fact:
    cdn_all_nodes: >-
      {{ hostvars | perch.cdn.cdn_nodes(groups['cdn_edges'] | default([])
                                        + groups['cdn_dns'] | default([])
                                        + groups['cdn_origin'] | default([])) }}
"""

RETURN = r"""
_value:
  description: Node name to C({site, ipv4, ipv6, state}), sorted by node name.
  type: dict
  sample:
    edge-fra1-1: {site: fra1, ipv4: 198.51.100.11, ipv6: "2001:db8:100::11", state: active}
"""

FQCN = "perch.cdn.cdn_nodes"


def cdn_nodes(hostvars, hosts):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import cdn_nodes as _cdn_nodes
    try:
        return _cdn_nodes(hostvars, hosts)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"cdn_nodes": cdn_nodes}
