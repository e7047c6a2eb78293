# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: with_evacuations
short_description: Merge evacuations into the geo policy
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Returns a copy of C(cdn_policy) whose C(avoid) map also holds C(cdn_evacuations), the
    country → site/provider/node map maintained by C(playbooks/evacuate.yml).
  - A node name is replaced by its site (GeoDNS answers are made per site). Unknown names are kept
    so that P(perch.cdn.validate_cdn#filter) reports them with the country.
positional: evacuations, nodes
options:
  _input:
    description: C(cdn_policy).
    type: dict
    required: true
  evacuations:
    description: C(cdn_evacuations), country → list of site, provider or node names.
    type: dict
    required: true
  nodes:
    description: Nodes from P(perch.cdn.cdn_nodes#filter), to resolve node names to their site.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The policy GeoDNS applies
  ansible.builtin.set_fact:
    policy: "{{ cdn_policy | perch.cdn.with_evacuations(cdn_evacuations | default({})) }}"
"""

RETURN = r"""
_value:
  description: The policy with C(avoid) extended, countries sorted.
  type: dict
"""

FQCN = "perch.cdn.with_evacuations"


def with_evacuations(policy, evacuations, nodes=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.policy import with_evacuations as _with_evacuations
    try:
        return _with_evacuations(policy, evacuations, nodes)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"with_evacuations": with_evacuations}
