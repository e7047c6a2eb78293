# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: ban_list
short_description: Validate and normalise the cache edges' IP ban list (C(cdn_bans))
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Turns a list of IPv4/IPv6 addresses and CIDR prefixes into normalised CIDR strings
    (an address becomes C(/32) or C(/128), IPv6 in compressed lower-case form), de-duplicated and
    sorted numerically, IPv4 first. Overlapping entries are kept as they are (not merged).
  - Raises an error naming C(perch.cdn.ban_list) and the offending value for a non-string, anything that is
    not an address or C(address/length) prefix, a prefix with host bits set (naming the network meant),
    a prefix broader than C(/8) (IPv4) or C(/19) (IPv6), an IPv4-mapped IPv6 address, or an input that is not a list.
  - Pure function; used by C(playbooks/validate.yml) and C(playbooks/ban.yml).
    See also P(perch.cdn.ban_list_change#filter).
options:
  _input:
    description: C(cdn_bans), a list of addresses and CIDR prefixes.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The ban list the cache edges apply
  ansible.builtin.set_fact:
    cache_edge_bans: "{{ cdn_bans | default([]) | perch.cdn.ban_list }}"
  # ['198.51.100.7', '2001:DB8::1', '203.0.113.0/24'] -> ['198.51.100.7/32', '203.0.113.0/24', '2001:db8::1/128']
"""

RETURN = r"""
_value:
  description: Normalised CIDR strings, de-duplicated, IPv4 first, each family sorted numerically.
  type: list
  elements: str
  sample: [198.51.100.7/32, 203.0.113.0/24, "2001:db8::1/128"]
"""

FQCN = "perch.cdn.ban_list"


def ban_list(entries):
    from ansible_collections.perch.cdn.plugins.plugin_utils.bans import ban_list as _ban_list
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    try:
        return _ban_list(entries)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"ban_list": ban_list}
