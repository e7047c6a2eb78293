# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: pdns_geoip_zones
short_description: Render a geo map as PowerDNS GeoIP backend zones
version_added: 0.1.0
author: perch.cdn maintainers
description:
  - Turns the output of P(perch.cdn.geo_map#filter) into the structure of the PowerDNS GeoIP backend's
    C(geoip-zones-file) (pdns 4.7 and later). Dump it with C(to_nice_yaml).
  - "The zone gets SOA, NS and glue from O(nameservers), and C(whoami.<zone>) TXT
    C(\"ip %ip country %cc city %ci as %as\"), expanded per query by the backend (values lower case)."
  - "Each service C(<svc>.<zone>) is a GeoIP service C(['%cc.country.<svc>.<zone>', '%cn.continent.<svc>.<zone>',
    'default.<svc>.<zone>']): the backend answers from the first of those names that exists,
    so it falls back country, then continent, then default."
  - Each of those region names holds the A/AAAA records of the active edges of the first O(answer_sites) sites
    (that have an active edge) of that region's list. C(<site>.site.<zone>) holds the A/AAAA records of each site.
  - Refuses (raises an error naming C(perch.cdn.pdns_geoip_zones) and the region) to render a region whose list
    is empty or has no site with an active edge.
  - Pure function; the SOA serial is derived from the content unless O(serial) is given.
positional: zone, edge_nodes, services, nameservers
options:
  _input:
    description: The geo map from P(perch.cdn.geo_map#filter).
    type: dict
    required: true
  zone:
    description: The zone the GeoDNS servers are authoritative for (C(cdn_zone)).
    type: str
    required: true
  edge_nodes:
    description: The edge nodes, as returned by P(perch.cdn.cdn_nodes#filter) for C(groups['cdn_edges']).
    type: dict
    required: true
  services:
    description: C(cdn_services) (only the names are used), or a list of service names.
    type: raw
    required: true
  nameservers:
    description:
      - One entry per C(cdn_dns) node, first one is the SOA MNAME.
      - A O(nameservers.name) without a dot is a label under O(zone) and gets glue.
      - Also accepts the output of P(perch.cdn.cdn_nodes#filter) for C(groups['cdn_dns']) (a dict); then the node
        names are the labels (sorted) and drained nodes are left out.
    type: raw
    required: true
    suboptions:
      name:
        description: Label (C(ns1)) or fully qualified host name.
        type: str
        required: true
      ipv4:
        description: Glue IPv4 address.
        type: str
      ipv6:
        description: Glue IPv6 address.
        type: str
  ttl:
    description: TTL of the answers (and SOA minimum).
    type: int
    default: 60
  answer_sites:
    description: How many sites of each region's list go into one answer.
    type: int
    default: 1
  serial:
    description: SOA serial. Default is a checksum of the rendered content, so it changes when the content does.
    type: int
  hostmaster:
    description: SOA RNAME. Default C(hostmaster.<zone>).
    type: str
  health:
    description:
      - Health-following answers. When set, each region name holds a LUA record (pdns C(enable-lua-records=shared))
        instead of static addresses; the DNS server then checks every edge itself, in the background, with
        C(GET http://<service>.<zone><path>) (answer 200 and contain O(health.match)).
      - "An answer is the live edges of the first O(answer_sites) sites of the region's list that have one; when none
        has, the sites of the client's continent list, then of the default list; then O(last_resort); then every
        address of the region's list (never an empty answer)."
      - "C(health.<zone>) TXT shows what the server believes about each edge:
        C(<node> <address> <service>:up|down ...)."
    type: dict
    suboptions:
      path:
        description: URL path of the edge health endpoint.
        type: str
        default: /.perch/health
      match:
        description: Text the health answer must contain.
        type: str
        default: perch-ok
      timeout:
        description: Seconds before a check gives up (1 to 60).
        type: int
        default: 2
  last_resort:
    description: Addresses answered when no edge in reach is up (the anycast service addresses). Only with O(health).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Render the GeoIP zones file
  ansible.builtin.copy:
    dest: /etc/powerdns/geo-zones.yml
    mode: "0644"
    content: >-
      {{ cdn_sites
         | perch.cdn.serving_sites(hostvars | perch.cdn.cdn_nodes(groups['cdn_edges']))
         | perch.cdn.geo_map(cdn_policy)
         | perch.cdn.pdns_geoip_zones(cdn_zone,
             hostvars | perch.cdn.cdn_nodes(groups['cdn_edges']),
             cdn_services,
             hostvars | perch.cdn.cdn_nodes(groups['cdn_dns']))
         | to_nice_yaml(indent=2) }}

- name: The same with explicit name servers
  ansible.builtin.set_fact:
    cdn_geoip_zones: >-
      {{ cdn_geo_map | perch.cdn.pdns_geoip_zones(cdn_zone, cdn_edge_nodes, cdn_services,
           [{'name': 'ns1', 'ipv4': '192.0.2.53'}, {'name': 'ns2', 'ipv4': '198.51.100.53'}],
           ttl=30, answer_sites=2) }}

- name: Health-following answers, with the anycast address as the last resort
  ansible.builtin.set_fact:
    cdn_geoip_zones: >-
      {{ cdn_geo_map | perch.cdn.pdns_geoip_zones(cdn_zone, cdn_edge_nodes, cdn_services, cdn_dns_nodes,
           health={'path': '/.perch/health', 'match': 'perch-ok', 'timeout': 2},
           last_resort=['203.0.113.1']) }}
"""

RETURN = r"""
_value:
  description: "The zones structure: C(domains), a list of one C({domain, ttl, records, services})."
  type: dict
  sample:
    domains:
      - domain: cdn.example.org
        ttl: 60
        records:
          cdn.example.org:
            - soa: ns1.cdn.example.org hostmaster.cdn.example.org 1234567 7200 3600 1209600 60
            - ns: ns1.cdn.example.org
          de.country.www.cdn.example.org:
            - a: 192.0.2.11
          whoami.cdn.example.org:
            - txt: '"ip %ip country %cc city %ci as %as"'
        services:
          www.cdn.example.org: ['%cc.country.www.cdn.example.org', '%cn.continent.www.cdn.example.org',
                                'default.www.cdn.example.org']
"""

FQCN = "perch.cdn.pdns_geoip_zones"


def pdns_geoip_zones(geo_map, zone, edge_nodes, services, nameservers, ttl=60, answer_sites=1,
                     serial=None, hostmaster=None, health=None, last_resort=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.pdns_zones import render_zones
    try:
        return render_zones(geo_map, zone, edge_nodes, services, nameservers, ttl=ttl,
                            answer_sites=answer_sites, serial=serial, hostmaster=hostmaster,
                            health=health, last_resort=last_resort)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"pdns_geoip_zones": pdns_geoip_zones}
