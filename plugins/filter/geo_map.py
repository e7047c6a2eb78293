# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: geo_map
short_description: Ordered failover site lists for every country, continent and the default
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Turns C(cdn_sites) and C(cdn_policy) into the GeoDNS map that P(perch.cdn.pdns_geoip_zones#filter) renders.
  - Every ISO 3166-1 country (all 249) gets a list, ordered nearest first by great-circle (haversine) distance
    from the country's reference point (its capital or seat of government), ties broken by site name.
  - A country with an active, non-avoided site of its own gets that site (the nearest of them) first.
    C(cdn_policy.pin) puts its sites first in the given order instead; the rest of the list is filled nearest first.
  - Each list holds C(failover_depth) sites (or all eligible sites if fewer; a pin may make it longer).
    Drained sites never appear; sites or providers in C(cdn_policy.avoid) never appear for that country.
  - Continents are ranked from a fixed reference point per continent; the default list from the spherical
    mean of the active sites. Avoid rules do not apply to them (they have no country).
  - Pure function; the same data in any dict order gives an identical result.
  - Validates its input first and raises an error naming C(perch.cdn.geo_map), the site or policy entry and
    the field. It also raises when some country would be left with an empty list.
  - Reference coordinates ship in C(plugins/plugin_utils/geodata.py) (approximate capital coordinates written
    by the perch.cdn authors, GPL-3.0-or-later or CC0).
positional: policy
options:
  _input:
    description: C(cdn_sites), site name to site (country, continent, lat, lon, provider, state, weight).
    type: dict
    required: true
  policy:
    description: C(cdn_policy) (failover_depth, avoid, pin). Defaults to failover_depth 3, nothing avoided or pinned.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Build the geo map from the inventory
  ansible.builtin.set_fact:
    cdn_geo_map: "{{ cdn_sites | perch.cdn.geo_map(cdn_policy) }}"

- name: Only the sites that have an active edge node
  ansible.builtin.set_fact:
    cdn_geo_map: >-
      {{ cdn_sites
         | perch.cdn.serving_sites(hostvars | perch.cdn.cdn_nodes(groups['cdn_edges']))
         | perch.cdn.geo_map(cdn_policy) }}
"""

RETURN = r"""
_value:
  description: The geo map.
  type: dict
  contains:
    countries:
      description: ISO 3166-1 alpha-2 code (upper case) to the ordered list of site names, for all 249 countries.
      type: dict
    continents:
      description: Continent code (AF AN AS EU NA OC SA) to the ordered list of site names.
      type: dict
    default:
      description: Ordered site list for clients whose country and continent are unknown.
      type: list
      elements: str
  sample:
    countries: {DE: [fra1, ams1, lon1], US: [nyc1, chi1, lax1]}
    continents: {EU: [fra1, ams1, lon1]}
    default: [fra1, nyc1, ams1]
"""

FQCN = "perch.cdn.geo_map"


def geo_map(sites, policy=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.geo import build_geo_map
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    try:
        return build_geo_map(sites, policy)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"geo_map": geo_map}
