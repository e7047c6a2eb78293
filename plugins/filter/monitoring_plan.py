# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: monitoring_plan
short_description: What the monitoring host scrapes and probes, from the model of the CDN
version_added: 1.1.0
author: perch.cdn maintainers
description:
  - From the model (perch.cdn.cdn_model), the Prometheus scrape configs (node, nginx, bird, edge statistics and
    pdns exporters; blackbox probes of every service through every edge and through each IPv4 anycast address,
    the SOA of the zone at every DNS server, the origin), the blackbox modules, the targets of the apt metadata
    probe and the addresses the exporters let in.
  - Every target carries the labels C(node), C(site) and C(role) (C(edge), C(dns), C(origin), C(monitoring)).
  - An inventory with no host in C(cdn_monitoring), or a malformed setting, is an error that names the variable.
options:
  _input:
    description: The model of the CDN (the fact C(perch_cdn_model)).
    type: dict
    required: true
  interval:
    description: Scrape interval of the probes (a Prometheus duration).
    type: str
    default: 15s
  probe_https:
    description: Probe the services over HTTPS (with the service's name as SNI) rather than HTTP.
    type: bool
    default: true
  probe_path:
    description: The path the service probes ask for.
    type: str
    default: /
  apt_suite:
    description: The apt suite whose C(InRelease) the apt metadata probe compares.
    type: str
    default: perch
  health_path:
    description: The edges' health path (C(cdn_health_path)); 503 there means drained.
    type: str
    default: /.perch/health
  thresholds:
    description:
      - The alert thresholds over their defaults (C(monitoring_alert_thresholds)); an unknown key or a malformed
        value is an error naming C(monitoring_alert_thresholds.<key>).
    type: dict
"""

EXAMPLES = r"""
- name: Write the scrape configs
  ansible.builtin.copy:
    dest: /tmp/scrape.yml
    content: "{{ (perch_cdn_model | perch.cdn.monitoring_plan).scrape_configs | to_nice_yaml }}"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    scrape_configs:
      description: Prometheus C(scrape_configs) entries.
      type: list
      elements: dict
    blackbox_modules:
      description: The blackbox exporter's C(modules).
      type: dict
    apt_probe:
      description: C(host), C(path), C(origin) (addresses) and C(edges) (name to address) of the apt probe; null
        when the CDN has no apt service.
      type: dict
    allow:
      description: IPv4 addresses of the monitoring hosts.
      type: list
      elements: str
    thresholds:
      description: Every alert threshold, the given ones over the defaults.
      type: dict
"""

FQCN = "perch.cdn.monitoring_plan"


def monitoring_plan(model, interval="15s", probe_https=True, probe_path="/", apt_suite="perch", thresholds=None,
                    health_path="/.perch/health"):
    from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
    from ansible_collections.perch.cdn.plugins.plugin_utils.monitoring import monitoring_plan as _plan
    try:
        return _plan(model, interval=interval, probe_https=probe_https, probe_path=probe_path, apt_suite=apt_suite,
                     thresholds=thresholds, health_path=health_path)
    except CdnInventoryError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"monitoring_plan": monitoring_plan}
