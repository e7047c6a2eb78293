# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: answer_lifetime
short_description: How long a DNS answer that a change removed can still reach users
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - "For each DNS server: C(geodns_ttl) + C(geodns_packet_cache_ttl) + C(geodns_query_cache_ttl), plus
    C(geodns_frontend_cache_seconds) when C(geodns_frontend), plus C(geodns_health_interval) +
    C(geodns_health_timeout) when C(geodns_health_checks); the longest of them, in seconds."
  - A server that does not set a variable takes the role's value from O(defaults).
  - The geodns role's C(lifetime.yml) entry point sets C(geodns_answer_lifetime) with it; drain.yml and evacuate.yml
    wait that long after a republish (docs/geodns.md).
  - Raises an error naming C(perch.cdn.answer_lifetime) and the variable for a value that is not a number of seconds.
positional: defaults
options:
  _input:
    description: The DNS servers' variables, for example C(groups['cdn_dns'] | map('extract', hostvars)).
    type: list
    elements: dict
    required: true
  defaults:
    description: The geodns role's values of the variables above.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: How long a removed answer lives
  ansible.builtin.set_fact:
    geodns_answer_lifetime: >-
      {{ groups['cdn_dns'] | map('extract', hostvars) | list | perch.cdn.answer_lifetime(__geodns_timing) }}
"""

RETURN = r"""
_value:
  description: Seconds.
  type: int
  sample: 106
"""

FQCN = "perch.cdn.answer_lifetime"


def answer_lifetime(servers, defaults):
    from ansible_collections.perch.cdn.plugins.plugin_utils.dns_timing import TimingError
    from ansible_collections.perch.cdn.plugins.plugin_utils.dns_timing import answer_lifetime as _answer_lifetime
    try:
        return _answer_lifetime(servers, defaults)
    except TimingError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"answer_lifetime": answer_lifetime}
