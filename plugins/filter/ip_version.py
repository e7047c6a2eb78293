# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: ip_version
short_description: Keep the IPv4 or the IPv6 addresses and prefixes of a list
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Returns the items of the list that are IPv4 (O(version=4)) or IPv6 (O(version=6)) addresses or
    prefixes, in their order. A single string comes back unchanged when it is of that version, else V(false).
  - Any item that is not an IP address or prefix is an error that names it, rather than being dropped.
  - Plain standard-library code, used in the per-host templates instead of C(ansible.utils.ipv4) and
    C(ansible.utils.ipv6), which are much slower under ansible-core 2.19.
positional: version
options:
  _input:
    description: A list of addresses and prefixes, or one of them.
    type: raw
    required: true
  version:
    description: The IP version to keep.
    type: int
    choices: [4, 6]
    required: true
"""

EXAMPLES = r"""
- name: Only the IPv6 anycast prefixes
  ansible.builtin.debug:
    msg: "{{ ['203.0.113.0/24', '2001:db8:1::/48'] | perch.cdn.ip_version(6) }}"  # ['2001:db8:1::/48']
"""

RETURN = r"""
_value:
  description: The items of that version (a list), or for a single string the string or V(false).
  type: raw
"""

FQCN = "perch.cdn.ip_version"


def ip_version(values, version):
    from ansible_collections.perch.cdn.plugins.plugin_utils.addresses import AddressError, by_version
    try:
        return by_version(values, version)
    except AddressError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"ip_version": ip_version}
