# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitoring host scrapes and probes, computed from the one model of the CDN.

Controller only: perch.cdn.monitoring_plan calls it. Every scraped target carries the labels node,
site and role, so rules and pages group by inventory name, never by address.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError

# exporter -> port, on the nodes (the nftables allow-list opens these to the monitoring hosts only)
PORTS = {"node": 9100, "nginx": 9113, "bird": 9324, "edge_stats": 3903, "pdns": 8081}
BLACKBOX = "127.0.0.1:9115"
DURATION_RE = re.compile(r"\A(?=[0-9])([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?\Z")

# threshold -> (kind, default); kinds: duration, ratio (0..1), number (>= 0), days (int >= 0)
THRESHOLDS = {
    "edge_down_for": ("duration", "1m"),
    "bgp_down_for": ("duration", "1m"),
    "anycast_for": ("duration", "1m"),
    "origin_down_for": ("duration", "1m"),
    "serial_mismatch_for": ("duration", "5m"),
    "apt_lag_for": ("duration", "5m"),
    "hit_ratio_min": ("ratio", 0.9),
    "hit_ratio_window": ("duration", "10m"),
    "hit_ratio_min_rps": ("number", 1.0),
    "cache_disk_used_max": ("ratio", 0.9),
    "cert_days_min": ("days", 14),
}


def normalize_thresholds(value) -> dict:
    """monitoring_alert_thresholds over the defaults; an unknown key or a bad value names the field."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise CdnInventoryError(f"monitoring_alert_thresholds: must be a mapping, got {value!r}")
    out = {k: default for k, (_kind, default) in THRESHOLDS.items()}
    for key, val in value.items():
        field = f"monitoring_alert_thresholds.{key}"
        if key not in THRESHOLDS:
            raise CdnInventoryError(f"{field}: unknown threshold (known: {', '.join(sorted(THRESHOLDS))})")
        kind = THRESHOLDS[key][0]
        number = isinstance(val, (int, float)) and not isinstance(val, bool) and math.isfinite(val)
        if kind == "duration" and not (isinstance(val, str) and DURATION_RE.match(val)):
            raise CdnInventoryError(f"{field}: {val!r} is not a Prometheus duration (e.g. 30s, 5m, 1h)")
        if kind == "ratio" and not (number and 0 < val <= 1):
            raise CdnInventoryError(f"{field}: {val!r} is not a ratio in (0, 1]")
        if kind == "number" and not (number and val >= 0):
            raise CdnInventoryError(f"{field}: {val!r} is not a number >= 0")
        if kind == "days" and not (isinstance(val, int) and not isinstance(val, bool) and val >= 0):
            raise CdnInventoryError(f"{field}: {val!r} is not a whole number of days >= 0")
        out[key] = val
    return out


def _static(targets) -> list[dict]:
    return [{"targets": [t], "labels": labels} for t, labels in targets]


def _probe_job(name, module, targets, interval) -> dict:
    """A blackbox job: each target becomes ?target=...&module=..., scraped from the local blackbox exporter."""
    return {
        "job_name": name,
        "scrape_interval": interval,
        "metrics_path": "/probe",
        "params": {"module": [module]} if module else {},
        "static_configs": _static(targets),
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": BLACKBOX},
        ],
    }


def _node_labels(name, node, role) -> dict:
    return {"node": name, "site": node.get("site") or "", "role": role}


def monitoring_plan(model, interval="15s", probe_https=True, probe_path="/", apt_suite="perch",
                    thresholds=None, health_path="/.perch/health") -> dict:
    """Prometheus scrape configs, blackbox modules, the apt probe's targets and the allow-list.

    Raises CdnInventoryError when the inventory names no monitoring host, or a setting is malformed.
    """
    if not isinstance(model, Mapping) or "nodes" not in model:
        raise CdnInventoryError(f"not a CDN model (perch.cdn.cdn_model): {type(model).__name__}")
    monitors = model.get("monitoring") or {}
    if not monitors:
        raise CdnInventoryError("cdn_monitoring: the group has no host; put the monitoring host in it "
                                "(the origin will do) before deploying monitoring")
    if not (isinstance(interval, str) and DURATION_RE.match(interval)):
        raise CdnInventoryError(f"monitoring_scrape_interval: {interval!r} is not a Prometheus duration")
    for field, path in (("monitoring_probe_path", probe_path), ("monitoring_health_path", health_path)):
        if not (isinstance(path, str) and path.startswith("/")):
            raise CdnInventoryError(f"{field}: {path!r} must start with '/'")
    limits = normalize_thresholds(thresholds)
    zone = model["zone"]
    edges, dns, origin = model.get("edges") or {}, model.get("dns") or {}, model.get("origin") or {}
    services = model.get("services") or {}
    labelled = {}
    for group, role in ((edges, "edge"), (dns, "dns"), (origin, "origin")):
        for name, node in group.items():
            labelled[name] = (node, _node_labels(name, node, role))
    for name, mon in monitors.items():
        if name not in labelled:
            labelled[name] = ({"ipv4": mon["ipv4"]}, {"node": name, "site": "", "role": "monitoring"})

    def targets(names, port):
        return [(f"{labelled[n][0]['ipv4']}:{port}", dict(labelled[n][1])) for n in sorted(names)]

    jobs = [
        {"job_name": "node", "static_configs": _static(targets(labelled, PORTS["node"]))},
        {"job_name": "nginx", "static_configs": _static(targets(edges, PORTS["nginx"]))},
        {"job_name": "bird", "static_configs": _static(targets(edges, PORTS["bird"]))},
        {"job_name": "edge_stats", "static_configs": _static(targets(edges, PORTS["edge_stats"]))},
        {"job_name": "pdns", "static_configs": _static(targets(dns, PORTS["pdns"]))},
    ]
    jobs = [j for j in jobs if j["static_configs"]]
    scheme = "https" if probe_https else "http"
    modules = {}
    edge_probes, anycast_probes = [], []
    for svc in sorted(services):
        host = f"{svc}.{zone}"
        module = f"perch_{svc}"
        http = {"method": "GET", "headers": {"Host": host}, "preferred_ip_protocol": "ip4",
                "ip_protocol_fallback": False, "no_follow_redirects": True,
                "valid_status_codes": [200, 301, 302, 304]}
        if probe_https:
            http["tls_config"] = {"server_name": host}
        modules[module] = {"prober": "http", "timeout": "5s", "http": http}
        for name in sorted(edges):
            node, labels = labelled[name]
            edge_probes.append((module, f"{scheme}://{node['ipv4']}{probe_path}", dict(labels, service=svc)))
        for addr in model.get("anycast_addresses") or []:
            if ":" in addr:
                continue  # the monitoring host probes over IPv4 (its allow-list address)
            anycast_probes.append((module, f"{scheme}://{addr}{probe_path}", {"anycast": addr, "service": svc}))
    modules["perch_dns_soa"] = {"prober": "dns", "timeout": "5s", "dns": {
        "query_name": zone, "query_type": "SOA", "transport_protocol": "udp",
        "preferred_ip_protocol": "ip4", "ip_protocol_fallback": False, "valid_rcodes": ["NOERROR"]}}
    # An edge's health path: 200 while it serves, 503 drained (the anycast alert spares a drained edge).
    if services:
        modules["perch_health"] = {"prober": "http", "timeout": "5s", "http": {
            "method": "GET", "headers": {"Host": f"{sorted(services)[0]}.{zone}"}, "preferred_ip_protocol": "ip4",
            "ip_protocol_fallback": False, "no_follow_redirects": True, "valid_status_codes": [200]}}
    modules["perch_origin"] = {"prober": "tcp", "timeout": "5s", "tcp": {"preferred_ip_protocol": "ip4"}}

    def per_module(kind, probes):
        # Prometheus wants job names unique: one job per service (probe_edge_www, ...) whose `job`
        # label is relabelled to the kind, which the rules use.
        by_module = {}
        for module, target, labels in probes:
            by_module.setdefault(module, []).append((target, labels))
        out = []
        for module, probe_targets in sorted(by_module.items()):
            job = _probe_job(f"{kind}_{module[len('perch_'):]}", module, probe_targets, interval)
            job["relabel_configs"].append({"target_label": "job", "replacement": kind})
            out.append(job)
        return out

    probe_jobs = per_module("probe_edge", edge_probes) + per_module("probe_anycast", anycast_probes)
    dns_targets = [(f"{dns[n]['ipv4']}:53", dict(labelled[n][1])) for n in sorted(dns)]
    origin_targets = [(f"{origin[n]['ipv4']}:80", dict(labelled[n][1])) for n in sorted(origin)]
    health_targets = [(f"http://{edges[n]['ipv4']}{health_path}", dict(labelled[n][1])) for n in sorted(edges)]
    if health_targets and services:
        probe_jobs.append(_probe_job("probe_health", "perch_health", health_targets, interval))
    if dns_targets:
        probe_jobs.append(_probe_job("probe_dns", "perch_dns_soa", dns_targets, interval))
    if origin_targets:
        probe_jobs.append(_probe_job("probe_origin", "perch_origin", origin_targets, interval))
    apt = sorted(s for s, v in services.items() if v.get("kind") == "apt")
    apt_probe = None
    if apt:
        host = f"{apt[0]}.{zone}"
        path = f"/dists/{apt_suite}/InRelease"
        apt_probe = {
            "host": host,
            "path": path,
            "origin": [f"{origin[n]['ipv4']}" for n in sorted(origin)],
            "edges": {n: edges[n]["ipv4"] for n in sorted(edges)},
        }
    return {
        "scrape_configs": jobs + probe_jobs,
        "blackbox_modules": modules,
        "apt_probe": apt_probe,
        "allow": sorted({m["ipv4"] for m in monitors.values()}),
        "thresholds": limits,
    }


# an IPv4 address (a port may follow), or anything shaped like an IPv6 one; ipaddress decides
ADDRESS_RE = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])"
                        r"|(?<![0-9A-Za-z:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:.])")


def foreign_addresses(values, model, known=()) -> list[str]:
    """The label values that hold an IP address that is not the CDN's own (its nodes, anycast and monitoring
    addresses, and `known`: e.g. BGP neighbours): in a CDN that keeps no client data, the list must be empty."""
    import ipaddress

    own = {ipaddress.ip_address(a) for a in known}
    for node in (model.get("nodes") or {}).values():
        for key in ("ipv4", "ipv6"):
            if node.get(key):
                own.add(ipaddress.ip_address(node[key]))
    for addr in model.get("anycast_addresses") or []:
        own.add(ipaddress.ip_address(addr))
    for mon in (model.get("monitoring") or {}).values():
        own.add(ipaddress.ip_address(mon["ipv4"]))
    found = []
    for value in values:
        for match in ADDRESS_RE.findall(str(value)):
            try:
                addr = ipaddress.ip_address(match)
            except ValueError:
                continue
            if addr not in own and not addr.is_loopback and not addr.is_unspecified:
                found.append(str(value))
                break
    return found
