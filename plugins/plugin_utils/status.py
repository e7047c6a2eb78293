# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CDN at a glance: Prometheus instant-query results turned into one text table.

playbooks/status.yml runs each query of QUERIES against the monitoring host's Prometheus
(/api/v1/query) and passes {query name: data.result} here with the CDN model: every edge and DNS
server of the model gets a row, whether Prometheus knows it or not ("—" where there is no value),
then the firing alerts follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MISSING = "—"

# name -> PromQL. Every query but `alerts` gives at most one series per node, labelled `node`
# (`apt_lag`: labelled `edge`, the apt probe's label). Recording rules: see roles/monitoring.
QUERIES = {
    "up": "min by (node) (nginx_up)",
    "announced": 'sum by (node) (bird_protocol_prefix_export_count{proto="BGP"})',
    "hit_ratio": "perch:edge_hit_ratio:rate5m",
    "rps": "perch:edge_requests:rate1m",
    "bps": "perch:edge_bytes:rate1m",
    "apt_lag": "max by (edge) (perch_apt_metadata_lag_seconds)",
    "cert_days": 'min by (node) ((probe_ssl_earliest_cert_expiry{job="probe_edge"} - time()) / 86400)',
    "dns_qps": "sum by (node) (rate(pdns_auth_udp_queries[1m]) + rate(pdns_auth_tcp_queries[1m]))",
    "dns_serial": "max by (node) (probe_dns_serial)",
    "alerts": 'ALERTS{alertstate="firing"}',
}

# the label that names the node in each per-node query
_NODE_LABEL = {name: "node" for name in QUERIES if name != "alerts"} | {"apt_lag": "edge"}

# labels worth showing for an alert, in this order (the others are the target's plumbing)
_ALERT_LABELS = ("node", "site", "edge", "service", "anycast", "name")
_SEVERITY_ORDER = {"page": 0, "warn": 1}


class StatusError(ValueError):
    """Input that is not a CDN model or Prometheus query results; the message names it."""


def _number(value: float, fmt) -> str:
    return fmt(value) if math.isfinite(value) else MISSING


def _up(v: float) -> str:
    if v == 1:
        return "up"
    return "DOWN" if v == 0 else MISSING


def _bytes_per_second(v: float) -> str:
    if abs(v) < 1024:
        return f"{v:.0f} B/s"
    for unit in ("KiB", "MiB", "GiB"):
        v /= 1024
        if abs(v) < 1024:
            return f"{v:.1f} {unit}/s"
    return f"{v / 1024:.1f} TiB/s"


_FORMATS = {
    "up": _up,
    "announced": lambda v: _number(v, lambda x: str(round(x))),
    "hit_ratio": lambda v: _number(v, lambda x: f"{x * 100:.1f}%"),
    "rps": lambda v: _number(v, lambda x: f"{x:.1f}"),
    "bps": lambda v: _number(v, _bytes_per_second),
    "apt_lag": lambda v: _number(v, lambda x: f"{round(x)} s"),
    "cert_days": lambda v: _number(v, lambda x: str(math.floor(x))),
    "dns_qps": lambda v: _number(v, lambda x: f"{x:.1f}"),
    "dns_serial": lambda v: _number(v, lambda x: str(int(x))),
}

EDGE_COLUMNS = (("node", "edge"), ("site", "site"), ("up", "nginx"), ("announced", "prefixes"),
                ("hit_ratio", "hit ratio"), ("rps", "req/s"), ("bps", "sent"), ("apt_lag", "apt lag"),
                ("cert_days", "cert days"))
DNS_COLUMNS = (("node", "dns server"), ("site", "site"), ("dns_qps", "queries/s"), ("dns_serial", "SOA serial"))
ALERT_COLUMNS = (("severity", "severity"), ("alertname", "alert"), ("where", "where"))


def _series(name, result) -> list[tuple[dict, float]]:
    """[(labels, value)] of one query's data.result; None (query not run) is no series."""
    if result is None:
        return []
    if not isinstance(result, list):
        raise StatusError(f"the result of query {name!r} must be a list (Prometheus data.result), got {result!r}")
    out = []
    for item in result:
        metric = item.get("metric") if isinstance(item, Mapping) else None
        value = item.get("value") if isinstance(item, Mapping) else None
        if not isinstance(metric, Mapping) or not isinstance(value, (list, tuple)) or len(value) != 2:
            raise StatusError(f"query {name!r}: {item!r} is not an instant-vector sample ({{metric, value: [ts, v]}})")
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            raise StatusError(f"query {name!r}: {value[1]!r} in {item!r} is not a number") from None
        out.append(({str(k): str(v) for k, v in metric.items()}, number))
    return out


def _nodes(model, key) -> dict:
    nodes = model.get(key, {})
    if not isinstance(nodes, Mapping):
        raise StatusError(f"model.{key} must be a mapping of node names, got {nodes!r}")
    for name, node in nodes.items():
        if not isinstance(node, Mapping):
            raise StatusError(f"model.{key}.{name} must be a mapping, got {node!r}")
    return nodes


def status_rows(model, results) -> dict:
    """{"edges": [row], "dns": [row], "alerts": [alert]}: one row per node of the model, by site then name.

    A row maps each column key of EDGE_COLUMNS / DNS_COLUMNS to text; an alert is {alertname, severity,
    where}, page first. A node with no series in a query gets "—"; series of nodes the model does
    not know are left out; a node with several series in a query (not with QUERIES) keeps the first.
    """
    if not isinstance(model, Mapping):
        raise StatusError(f"the model must be a mapping (perch_cdn_model), got {model!r}")
    if not isinstance(results, Mapping):
        raise StatusError(f"the results must be a mapping of query names to Prometheus results, got {results!r}")
    unknown = sorted(str(k) for k in results if k not in QUERIES)
    if unknown:
        raise StatusError(f"unknown queries {unknown} (known: {', '.join(QUERIES)})")
    edges, dns = _nodes(model, "edges"), _nodes(model, "dns")

    values: dict[str, dict[str, str]] = {}
    for name, label in _NODE_LABEL.items():
        per_node = values.setdefault(name, {})
        for labels, number in _series(name, results.get(name)):
            node = labels.get(label)
            if node is not None and node not in per_node:
                per_node[node] = _FORMATS[name](number)

    def rows(nodes, columns):
        out = []
        for node in sorted(nodes, key=lambda n: (str(nodes[n].get("site", "")), str(n))):
            row = {"node": str(node), "site": str(nodes[node].get("site") or MISSING)}
            for key, _title in columns[2:]:
                row[key] = values[key].get(str(node), MISSING)
            out.append(row)
        return out

    alerts = []
    for labels, _value in _series("alerts", results.get("alerts")):
        where = " ".join(f"{k}={labels[k]}" for k in _ALERT_LABELS if labels.get(k))
        alerts.append({"alertname": labels.get("alertname", MISSING), "severity": labels.get("severity", MISSING),
                       "where": where or MISSING})
    alerts.sort(key=lambda a: (_SEVERITY_ORDER.get(a["severity"], 2), a["alertname"], a["where"]))
    return {"edges": rows(edges, EDGE_COLUMNS), "dns": rows(dns, DNS_COLUMNS), "alerts": alerts}


def _table(title, columns, rows, empty) -> list[str]:
    lines = [title]
    if not rows:
        return [*lines, f"  {empty}"]
    widths = [max(len(t), *(len(str(r.get(k, MISSING))) for r in rows)) for k, t in columns]

    def line(cells):
        return ("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip()

    lines.append(line([t for _k, t in columns]))
    lines.extend(line([str(r.get(k, MISSING)) for k, _t in columns]) for r in rows)
    return lines


def status_table(rows) -> str:
    """The text of status_rows' result: edges, then DNS servers, then firing alerts (or "no alert firing")."""
    if not isinstance(rows, Mapping) or not all(isinstance(rows.get(k, []), list) for k in ("edges", "dns", "alerts")):
        raise StatusError(f"the rows must be status_rows' result ({{edges, dns, alerts}}), got {rows!r}")
    lines = _table("Edges", EDGE_COLUMNS, rows.get("edges", []), "no edge in the model")
    lines += [""] + _table("DNS servers", DNS_COLUMNS, rows.get("dns", []), "no DNS server in the model")
    lines += [""] + _table("Firing alerts", ALERT_COLUMNS, rows.get("alerts", []), "no alert firing")
    return "\n".join(lines)
