# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.
from ansible.utils.display import Display

DOCUMENTATION = r"""
name: cdn_model
short_description: The one model of the CDN, computed from the inventory and validated
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - Reads the inventory once (C(cdn_zone), C(cdn_sites), C(cdn_services), C(cdn_policy), C(cdn_evacuations),
    C(cdn_anycast_prefixes) from the first CDN node's host variables, and C(cdn_site), C(cdn_ipv4),
    C(cdn_ipv6), C(cdn_state) of every host of C(cdn_edges), C(cdn_dns) and C(cdn_origin)), validates all of it like
    P(perch.cdn.validate_cdn#filter), and returns it normalised.
  - C(playbooks/validate.yml), the first play of every playbook, sets it as the fact C(perch_cdn_model) on every CDN
    node; the roles read it from there, and nothing else reads C(cdn_state).
  - Raises an error naming C(perch.cdn.cdn_model), the node, site or policy entry and the field.
positional: groups
options:
  _input:
    description: C(hostvars).
    type: raw
    required: true
  groups:
    description: C(groups).
    type: dict
    required: true
  states:
    description: "What if these nodes had these states (C({node: drained})); C(drain.yml) checks the CDN it would make."
    type: dict
  evacuations:
    description: What if C(cdn_evacuations) were this; C(evacuate.yml) checks the result before writing it.
    type: dict
  check:
    description: Validate (and raise) before returning.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Compute the model once, for every CDN node of the play
  ansible.builtin.set_fact:
    perch_cdn_model: "{{ hostvars | perch.cdn.cdn_model(groups) }}"
  run_once: true

- name: Refuse a drain that would leave a country without an answer
  ansible.builtin.assert:
    that: "hostvars | perch.cdn.cdn_model(groups, states={'edge-fra1-1': 'drained'}) is mapping"
"""

RETURN = r"""
_value:
  description: The model.
  type: dict
  contains:
    zone:
      description: C(cdn_zone), lower case, without a trailing dot.
      type: str
    sites:
      description: C(cdn_sites), normalised (state, provider and weight filled in).
      type: dict
    serving_sites:
      description: The sites, with those that have no active edge marked drained.
      type: dict
    services:
      description: C(cdn_services), normalised (C({kind, aliases})).
      type: dict
    policy:
      description: C(cdn_policy) with C(cdn_evacuations) merged into C(avoid), normalised.
      type: dict
    evacuations:
      description: C(cdn_evacuations).
      type: dict
    anycast_prefixes:
      description: C(cdn_anycast_prefixes), normalised and sorted.
      type: list
      elements: str
    anycast_addresses:
      description: The first address of each anycast prefix (the services' anycast addresses).
      type: list
      elements: str
    nodes:
      description:
        - "Every CDN node: C({site, ipv4, ipv6, state, role}), role one of C(edge), C(dns), C(origin); edges also
          have C(shield) (their C(cdn_shield), or null)."
      type: dict
    edges:
      description: The nodes of C(cdn_edges).
      type: dict
    dns:
      description: The nodes of C(cdn_dns).
      type: dict
    origin:
      description: The nodes of C(cdn_origin).
      type: dict
    origin_tls:
      description:
        - "How the edges reach the origin: C({name, cert, key, chain, ca}) from C(cdn_origin_tls) (the edges check the
          origin's certificate for C(name) against C(ca)), or null when C(cdn_origin_plain_http) is true."
      type: dict
    origin_backup:
      description:
        - "C(cdn_origin_backup): C({servers, name, ca}), a mirror the edges and shields fetch from when every origin
          server fails (checked for C(name) against the controller file C(ca) over TLS), or null."
      type: dict
    shields:
      description: "C({shield: [edges behind it]}) from the edges' C(cdn_shield)."
      type: dict
    tiers:
      description: The edges by distance from the origin (purges and prewarms go tier by tier, shields first).
      type: list
      elements: list
  sample:
    zone: cdn.example.org
    nodes:
      edge-fra1-1: {site: fra1, ipv4: 192.0.2.11, ipv6: null, state: active, role: edge}
    anycast_addresses: [203.0.113.1]
"""

FQCN = "perch.cdn.cdn_model"


def cdn_model(hostvars, groups, states=None, evacuations=None, check=True):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.model import cdn_model as _cdn_model
    try:
        model = _cdn_model(hostvars, groups, states=states, evacuations=evacuations, check=check)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc
    if model["origin"] and model["origin_tls"] is None:
        # Display drops repeats, so one run warns once however often the model is computed
        Display().warning(f"{FQCN}: cdn_origin_plain_http is true: anyone on the path between an edge and the origin "
                          "can put content into that edge's cache; set cdn_origin_tls instead")
    return model


class FilterModule:
    def filters(self):
        return {"cdn_model": cdn_model}
