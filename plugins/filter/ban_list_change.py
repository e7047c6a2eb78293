# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: ban_list_change
short_description: Add an address or prefix to the IP ban list, or remove it
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Returns the normalised ban list (as from P(perch.cdn.ban_list#filter)) with O(ip) added, or removed when O(unban).
  - O(ip) is validated and normalised like a C(cdn_bans) entry, so C(198.51.100.7) and C(198.51.100.7/32) are the same.
  - Removing an entry that is not in the list is not an error; the normalised list comes back unchanged.
    Only the exact entry is removed; an address inside a banned prefix stays banned.
  - Raises an error naming C(perch.cdn.ban_list_change) and the offending value for a bad O(ip), a bad entry
    in the list, or an O(unban) that is not a boolean.
  - Pure function; C(playbooks/ban.yml) uses it to compute the new C(cdn_bans).
positional: ip, unban
options:
  _input:
    description: The current C(cdn_bans).
    type: list
    elements: str
    required: true
  ip:
    description: An IPv4/IPv6 address or CIDR prefix.
    type: str
    required: true
  unban:
    description: Remove O(ip) instead of adding it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Ban an address
  ansible.builtin.set_fact:
    new_bans: "{{ cdn_bans | default([]) | perch.cdn.ban_list_change('198.51.100.7') }}"

- name: Lift a ban
  ansible.builtin.set_fact:
    new_bans: "{{ cdn_bans | default([]) | perch.cdn.ban_list_change(ip, unban=true) }}"
"""

RETURN = r"""
_value:
  description: The new ban list, normalised CIDR strings, de-duplicated, IPv4 first, each family sorted numerically.
  type: list
  elements: str
  sample: [198.51.100.7/32, "2001:db8::/32"]
"""

FQCN = "perch.cdn.ban_list_change"


def ban_list_change(entries, ip, unban=False):
    from ansible_collections.perch.cdn.plugins.plugin_utils.bans import ban_list_change as _ban_list_change
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    try:
        return _ban_list_change(entries, ip, unban)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"ban_list_change": ban_list_change}
