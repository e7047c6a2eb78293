# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd sandbox of every unit perch.cdn writes: one set of directives, what a unit needs on top.

Each unit says what it needs (its user, the paths it writes, its capabilities, its address
families); everything else is denied. `systemd-analyze security` scores the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

KEYS = ("user", "group", "groups", "write", "caps", "families", "umask")
FAMILIES = ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK")
CAP_RE = re.compile(r"^CAP_[A-Z_]+$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PATH_RE = re.compile(r"^(/[A-Za-z0-9._@-]+)+/?$")
UMASK_RE = re.compile(r"^0[0-7]{3}$")
# what no unit of the collection needs
BASE = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "RemoveIPC=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources @mount @swap @reboot @obsolete @cpu-emulation @debug @raw-io",
    "SystemCallErrorNumber=EPERM",
)


class SandboxError(ValueError):
    """A bad sandbox description; the message names the key."""


def _names(value, key, pattern) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SandboxError(f"'{key}' must be a list of strings, got {value!r}")
    bad = [v for v in value if not pattern.match(v)]
    if bad:
        raise SandboxError(f"'{key}': {bad[0]!r} is not valid")
    return value


def systemd_sandbox(spec) -> str:
    """The [Service] directives of a unit, one per line.

    spec: {user: name | 'dynamic' | '' (root), group, groups (supplementary), write (paths it may
    write), caps (capabilities it keeps), families (address families; none: no network at all),
    umask (default 0077)}.
    """
    if not isinstance(spec, Mapping):
        raise SandboxError(f"expected a mapping, got {spec!r}")
    unknown = sorted(set(map(str, spec)) - set(KEYS))
    if unknown:
        raise SandboxError(f"'{unknown[0]}' is unknown (allowed: {', '.join(KEYS)})")
    user = spec.get("user") or ""
    if not isinstance(user, str) or user and user != "dynamic" and not NAME_RE.match(user) or user == "root":
        raise SandboxError(f"'user' must be a user name, 'dynamic' or '' (root, only with caps), got {user!r}")
    group = spec.get("group") or ""
    if not isinstance(group, str) or group and not NAME_RE.match(group):
        raise SandboxError(f"'group' must be a group name, got {group!r}")
    groups = _names(spec.get("groups"), "groups", NAME_RE)
    write = _names(spec.get("write"), "write", PATH_RE)
    caps = _names(spec.get("caps"), "caps", CAP_RE)
    families = _names(spec.get("families"), "families", re.compile("^(" + "|".join(FAMILIES) + ")$"))
    umask = spec.get("umask", "0077")
    if not isinstance(umask, str) or not UMASK_RE.match(umask):
        raise SandboxError(f"'umask' must be an octal string like '0077', got {umask!r}")
    lines = []
    if user == "dynamic":
        lines.append("DynamicUser=yes")
    elif user:
        lines.append(f"User={user}")
    if group:
        lines.append(f"Group={group}")
    if groups:
        lines.append(f"SupplementaryGroups={' '.join(groups)}")
    lines += BASE
    lines.append(f"CapabilityBoundingSet={' '.join(caps)}")
    if caps and user:
        lines.append(f"AmbientCapabilities={' '.join(caps)}")
    if families:
        lines.append(f"RestrictAddressFamilies={' '.join(families)}")
    else:
        lines += ["PrivateNetwork=yes", "RestrictAddressFamilies=none"]
    if write:
        lines.append(f"ReadWritePaths={' '.join(write)}")
    lines.append(f"UMask={umask}")
    return "\n".join(lines)
