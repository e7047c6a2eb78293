# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: first_addresses
short_description: The first address of each prefix (the default anycast service addresses)
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - For each prefix, the address right after its network address, without a prefix length
    (V(203.0.113.0/24) gives V(203.0.113.1), V(2001:db8:1::/48) gives V(2001:db8:1::1)).
  - An item that is not a prefix, or a prefix with no second address (V(/32), V(/128)), is an error that names it.
options:
  _input:
    description: A list of prefixes in CIDR notation.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The addresses the anycast role puts on its dummy interface by default
  ansible.builtin.debug:
    msg: "{{ ['203.0.113.0/24'] | perch.cdn.first_addresses }}"  # ['203.0.113.1']
"""

RETURN = r"""
_value:
  description: One address per prefix, in order.
  type: list
  elements: str
"""

FQCN = "perch.cdn.first_addresses"


def first_addresses(prefixes):
    from ansible_collections.perch.cdn.plugins.plugin_utils.addresses import AddressError
    from ansible_collections.perch.cdn.plugins.plugin_utils.addresses import first_addresses as _first_addresses
    try:
        return _first_addresses(prefixes)
    except AddressError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"first_addresses": first_addresses}
