# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: foreign_addresses
short_description: The metric label values that carry an IP address that is not the CDN's own
version_added: 1.1.0
author: perch.cdn maintainers
description:
  - Takes label values (every value of every label Prometheus holds) and returns those that contain an IPv4 or
    IPv6 address other than the CDN's own (node, anycast and monitoring addresses of the model) and loopback.
  - The CDN keeps no client data, so C(playbooks/privacy_report.yml) fails when the list is not empty.
options:
  _input:
    description: The label values.
    type: list
    elements: str
    required: true
  model:
    description: The model of the CDN (the fact C(perch_cdn_model)).
    type: dict
    required: true
  known:
    description: More addresses of the CDN's own, not in the model (the edges' BGP addresses and neighbours).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Values that name someone else
  ansible.builtin.debug:
    msg: "{{ ['198.18.8.21:9100', 'www', '198.51.100.7'] | perch.cdn.foreign_addresses(perch_cdn_model) }}"
"""

RETURN = r"""
_value:
  description: The values holding a foreign address, in input order.
  type: list
  elements: str
"""

FQCN = "perch.cdn.foreign_addresses"


def foreign_addresses(values, model, known=()):
    from ansible_collections.perch.cdn.plugins.plugin_utils.monitoring import foreign_addresses as _foreign

    if not isinstance(values, (list, tuple)) or not isinstance(model, dict):
        raise AnsibleFilterError(f"{FQCN}: expects a list of label values and the model, got {type(values).__name__}"
                                 f" and {type(model).__name__}")
    try:
        return _foreign(values, model, known)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError(f"{FQCN}: the model is not one of perch.cdn.cdn_model: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"foreign_addresses": foreign_addresses}
