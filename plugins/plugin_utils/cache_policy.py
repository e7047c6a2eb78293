# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache policy of every service on an edge: what perch.cdn.cache_edge renders into nginx."""

from __future__ import annotations

import re
from collections.abc import Mapping

KINDS = ("web", "apt", "files")
# what cache_edge_service_overrides may set per service
OVERRIDES = ("valid", "meta_valid", "immutable_valid", "files_valid", "slice_size", "max_size", "inactive",
             "origin_servers", "hsts_max_age")
SETTINGS = OVERRIDES
# a setting whose role variable has another name
ROLE_VARIABLE = {"valid": "web_valid"}
ORIGIN_RE = re.compile(r"^[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}$")
# nginx time (30s, 10m, 1h, 30d) and size (8m, 20g) values
TIME_RE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|M|y)?)+$")
SIZE_RE = re.compile(r"^[0-9]+[kKmMgG]?$")


class PolicyError(ValueError):
    """A bad setting; the message names the variable."""


def _field(name, extra, key) -> str:
    """The variable a value came from: the service's override, or the role's setting."""
    if key in extra:
        return f"cache_edge_service_overrides.{name}.{key}"
    return f"cache_edge_{ROLE_VARIABLE.get(key, key)}"


def _check(value, pattern, field):
    if not isinstance(value, str) or not pattern.match(value):
        what = "time (e.g. 60s, 10m, 30d)" if pattern is TIME_RE else "size (e.g. 8m, 20g)"
        raise PolicyError(f"field '{field}': {value!r} is not an nginx {what}")


def _origins(servers, field):
    if isinstance(servers, str) or not isinstance(servers, list) or not servers:
        raise PolicyError(f"field '{field}': needs at least one origin server as host:port "
                          f"(put a host in the cdn_origin group or set cache_edge_origin_servers), got {servers!r}")
    for s in servers:
        if not isinstance(s, str) or not ORIGIN_RE.match(s):
            raise PolicyError(f"field '{field}': {s!r} is not host:port")
    return list(servers)


def _seconds(value, field) -> int:
    # Ansible templates every setting to a string first
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyError(f"field '{field}': {value!r} is not a whole number of seconds >= 0 (0: no header)")
    return value


def _purgers(purgers):
    import ipaddress

    if isinstance(purgers, str) or not isinstance(purgers, list):
        raise PolicyError(f"field 'cache_edge_purgers': must be a list of addresses or prefixes, got {purgers!r}")
    for p in purgers:
        try:
            ipaddress.ip_network(str(p), strict=True)
        except ValueError:
            raise PolicyError(f"field 'cache_edge_purgers': {p!r} is not an address or prefix") from None


def cache_policy(services, zone, settings, overrides=None, certificates=None, purgers=None) -> dict:
    """{service: {kind, aliases, valid, ..., origin_servers, tls}} for every service, overrides applied.

    tls is the name of the first certificate whose hostnames hold <service>.<zone>, or ''.
    purgers (cache_edge_purgers) are only checked.
    """
    if purgers is not None:
        _purgers(purgers)
    if not isinstance(services, Mapping) or not services:
        raise PolicyError("field 'cache_edge_services': must map service names to {kind: web|apt|files}")
    if not isinstance(settings, Mapping):
        raise PolicyError("settings must be a mapping")
    missing = [k for k in SETTINGS if k not in settings]
    if missing:
        raise PolicyError(f"settings: missing {missing}")
    overrides = overrides or {}
    certificates = certificates or []
    if not isinstance(overrides, Mapping):
        raise PolicyError(f"field 'cache_edge_service_overrides': must be a mapping, got {overrides!r}")
    for name in overrides:
        if name not in services:
            raise PolicyError(f"field 'cache_edge_service_overrides.{name}': no such service "
                              f"(services: {', '.join(sorted(services))})")
    if not isinstance(certificates, list):
        raise PolicyError(f"field 'cache_edge_tls_certificates': must be a list, got {certificates!r}")
    max_size = settings["max_size"]
    if not isinstance(max_size, Mapping):
        raise PolicyError(f"field 'cache_edge_max_size': must map kinds to sizes, got {max_size!r}")
    out = {}
    for name in sorted(services):
        svc = services[name]
        kind = svc.get("kind") if isinstance(svc, Mapping) else None
        if kind not in KINDS:
            raise PolicyError(f"field 'cache_edge_services.{name}.kind': {kind!r} is not one of {', '.join(KINDS)}")
        fqdn = f"{name}.{zone}"
        tls = next((c["name"] for c in certificates if isinstance(c, Mapping) and fqdn in (c.get("hostnames") or [])),
                   "")
        policy = {"kind": kind, "aliases": list(svc.get("aliases") or []), "tls": tls,
                  "max_size": max_size.get(kind, "10g"),
                  **{k: settings[k] for k in SETTINGS if k != "max_size"}}
        extra = overrides.get(name) or {}
        if not isinstance(extra, Mapping):
            raise PolicyError(f"field 'cache_edge_service_overrides.{name}': must be a mapping, got {extra!r}")
        for key in extra:
            if key not in OVERRIDES:
                raise PolicyError(f"field 'cache_edge_service_overrides.{name}.{key}': unknown "
                                  f"(allowed: {', '.join(OVERRIDES)})")
        policy.update(extra)
        for key in ("valid", "meta_valid", "immutable_valid", "files_valid", "inactive"):
            _check(policy[key], TIME_RE, _field(name, extra, key))
        for key in ("slice_size", "max_size"):
            _check(policy[key], SIZE_RE, _field(name, extra, key))
        policy["origin_servers"] = _origins(policy["origin_servers"], _field(name, extra, "origin_servers"))
        policy["hsts_max_age"] = _seconds(policy["hsts_max_age"], _field(name, extra, "hsts_max_age"))
        out[name] = policy
    return out
