# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: serving_sites
short_description: Mark sites without an active edge node as drained
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Returns a copy of C(cdn_sites) where every site without an active edge node gets C(state=drained),
    so P(perch.cdn.geo_map#filter) never sends clients to a site that cannot serve them.
  - Sites that are already drained stay drained. The input is not modified.
positional: edge_nodes
options:
  _input:
    description: C(cdn_sites).
    type: dict
    required: true
  edge_nodes:
    description: The edge nodes, as returned by P(perch.cdn.cdn_nodes#filter) for C(groups['cdn_edges']).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Sites that can serve right now
  ansible.builtin.set_fact:
    cdn_serving_sites: "{{ cdn_sites | perch.cdn.serving_sites(hostvars | perch.cdn.cdn_nodes(groups['cdn_edges'])) }}"
"""

RETURN = r"""
_value:
  description: C(cdn_sites), with C(state=drained) on every site that has no active edge node.
  type: dict
"""

FQCN = "perch.cdn.serving_sites"


def serving_sites(sites, edge_nodes):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import serving_sites as _serving_sites
    try:
        return _serving_sites(sites, edge_nodes)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"serving_sites": serving_sites}
