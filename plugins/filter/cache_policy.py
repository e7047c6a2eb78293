# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: cache_policy
short_description: The cache policy of every service of a cache edge
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - What C(perch.cdn.cache_edge) renders into nginx for each service, from the services of the model, the role's
    settings and the per-service overrides; each service gets the first certificate that covers
    C(<service>.<zone>) for HTTPS.
  - Checks every value (nginx times and sizes, C(host:port) origins, known services and override fields) and
    raises an error naming C(perch.cdn.cache_policy) and the variable.
positional: zone, settings, overrides, certificates
options:
  _input:
    description: "The services, C({name: {kind, aliases}})."
    type: dict
    required: true
  zone:
    description: The CDN zone.
    type: str
    required: true
  settings:
    description: "C({valid, meta_valid, immutable_valid, files_valid, slice_size, max_size: {kind: size},
      inactive, origin_servers, hsts_max_age})."
    type: dict
    required: true
  overrides:
    description: "C(cache_edge_service_overrides), C({service: {setting: value}})."
    type: dict
  certificates:
    description: C(cache_edge_tls_certificates), C([{name, hostnames}]).
    type: list
    elements: dict
  purgers:
    description: C(cache_edge_purgers), only checked (addresses or prefixes without host bits).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Derive the cache policy per service
  ansible.builtin.set_fact:
    __cache_edge_policy: >-
      {{ cache_edge_services | perch.cdn.cache_policy(cache_edge_zone, __cache_edge_settings,
                                                       cache_edge_service_overrides, cache_edge_tls_certificates) }}
"""

RETURN = r"""
_value:
  description: Service name to its policy.
  type: dict
  sample:
    www: {kind: web, aliases: [], tls: cdn, valid: 10m, meta_valid: 60s, immutable_valid: 30d, files_valid: 30d,
          slice_size: 8m, max_size: 2g, inactive: 30d, origin_servers: ["192.0.2.80:443"], hsts_max_age: 0}
"""

FQCN = "perch.cdn.cache_policy"


def cache_policy(services, zone, settings, overrides=None, certificates=None, purgers=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.cache_policy import PolicyError
    from ansible_collections.perch.cdn.plugins.plugin_utils.cache_policy import cache_policy as _cache_policy
    try:
        return _cache_policy(services, zone, settings, overrides, certificates, purgers)
    except PolicyError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"cache_policy": cache_policy}
