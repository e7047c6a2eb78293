# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long a DNS answer that a change removed can still reach users (docs/geodns.md)."""

from __future__ import annotations

from collections.abc import Mapping

# the perch.cdn.geodns variables that count, each with how it counts
SECONDS = ("geodns_ttl", "geodns_packet_cache_ttl", "geodns_query_cache_ttl")
FRONTEND = ("geodns_frontend", "geodns_frontend_cache_seconds")
HEALTH = ("geodns_health_checks", "geodns_health_interval", "geodns_health_timeout")
KEYS = SECONDS + FRONTEND + HEALTH


class TimingError(ValueError):
    """A setting that is not what the role takes; the message names it."""


def _seconds(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise TimingError(f"{name} must be a whole number of seconds, got {value!r}")
    return int(value)


def _flag(value, name) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise TimingError(f"{name} must be true or false, got {value!r}")


def answer_lifetime(servers, defaults) -> int:
    """The longest, over the DNS servers, of TTL + pdns's caches + dnsdist's cache + one health check.

    servers: each DNS server's variables (its hostvars); a variable it does not set takes the role's
    value from defaults, which holds every key of KEYS. No server: the defaults alone.
    """
    if not isinstance(defaults, Mapping) or any(k not in defaults for k in KEYS):
        raise TimingError(f"defaults must hold {', '.join(KEYS)}")
    if isinstance(servers, (str, Mapping)) or not hasattr(servers, "__iter__"):
        raise TimingError(f"servers must be a list of the DNS servers' variables, got {type(servers).__name__}")
    lifetimes = []
    for server in list(servers) or [{}]:
        if not isinstance(server, Mapping) and not hasattr(server, "get"):
            raise TimingError(f"each server must be its variables (a mapping), got {type(server).__name__}")

        def value(key, server=server):
            return server.get(key, defaults[key]) if key in server else defaults[key]

        total = sum(_seconds(value(k), k) for k in SECONDS)
        if _flag(value("geodns_frontend"), "geodns_frontend"):
            total += _seconds(value("geodns_frontend_cache_seconds"), "geodns_frontend_cache_seconds")
        if _flag(value("geodns_health_checks"), "geodns_health_checks"):
            total += sum(_seconds(value(k), k) for k in ("geodns_health_interval", "geodns_health_timeout"))
        lifetimes.append(total)
    return max(lifetimes)
