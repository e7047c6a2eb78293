#!/usr/bin/python
# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: service_probe
short_description: Are a role's packages installed, and does its daemon run the configuration on disk?
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - One call that every perch.cdn role makes first. It tells which of O(packages) are not installed (apt, which
    takes seconds even with nothing to do, is then skipped on a rerun), whether the O(service) unit is active, and
    whether the running daemon loaded its configuration before the files on disk were last written (a run stopped
    between writing the files and the reload leaves it so, and the rerun would otherwise find nothing to change).
  - "How a daemon's loaded configuration is dated depends on O(kind): C(nginx), the start of its youngest worker
    (a reload starts new workers); C(bird), BIRD's own C(Last reconfiguration) time; C(pdns), whether pdns serves
    the SOA serial of the zones file (O(zone), asked on 127.0.0.1 port O(port))."
options:
  packages:
    description: Debian packages the role needs.
    type: list
    elements: str
    default: []
  service:
    description: The systemd unit of the daemon.
    type: str
  kind:
    description: How to tell when the daemon loaded its configuration; none when omitted.
    type: str
    choices: [nginx, bird, pdns]
  files:
    description: The configuration files the daemon reads (C(nginx), C(bird)), or the zones file (C(pdns)).
    type: list
    elements: path
    default: []
  zone:
    description: The zone whose SOA serial pdns serves (C(pdns)).
    type: str
  port:
    description: The port pdns answers on (C(pdns)).
    type: int
    default: 53
  units:
    description:
      - systemd units whose state to report in RV(units); RV(units_running) tells whether all of them are loaded,
        active, enabled and not masked (a role then skips its start tasks).
    type: list
    elements: str
    default: []
  paths:
    description: Paths whose existence to report in RV(exists) (links followed).
    type: list
    elements: path
    default: []
  limits:
    description: Also report the host's hard limit on open files (RV(nofile_hard)) and whether kernel settings can
      be written here (RV(sysctl_writable); containers mount C(/proc/sys) read-only).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Returns no diff; it changes nothing.
"""

EXAMPLES = r"""
- name: Look at what is installed, and whether nginx runs the configuration on disk
  perch.cdn.service_probe:
    packages: [nginx, libnginx-mod-http-cache-purge]
    service: nginx
    kind: nginx
    files: [/etc/nginx/nginx.conf, /etc/nginx/perch/cdn.conf]
  register: __probe
"""

RETURN = r"""
missing:
  description: The packages of O(packages) that are not installed.
  type: list
  elements: str
  returned: always
installed:
  description: Whether every package of O(packages) is installed.
  type: bool
  returned: always
active:
  description: Whether O(service) is active.
  type: bool
  returned: always
stale:
  description: The daemon runs, and loaded its configuration before O(files) were last written (or, for C(pdns),
    serves another SOA serial than the zones file's).
  type: bool
  returned: always
detail:
  description: Why RV(stale) is what it is.
  type: str
  returned: always
units:
  description: Per unit of O(units), its C(load), C(active) and C(enabled) state as systemd names them
    (C(loaded), C(active), C(enabled); C(masked) shows as C(load)).
  type: dict
  returned: always
  sample: {"nginx.service": {"load": "loaded", "active": "active", "enabled": "enabled"}}
units_running:
  description: Every unit of O(units) is loaded, active and enabled (true when O(units) is empty).
  type: bool
  returned: always
running:
  description: The units of O(units) that are loaded, active and enabled.
  type: list
  elements: str
  returned: always
exists:
  description: Per path of O(paths), whether it exists.
  type: dict
  returned: always
nofile_hard:
  description: The hard limit on open files of process 1 (the host's, or the container's), or null when unknown
    or unlimited.
  type: int
  returned: when O(limits)
sysctl_writable:
  description: Whether C(/proc/sys) can be written (it cannot in a container).
  type: bool
  returned: when O(limits)
"""

import os  # noqa: E402 (after the documentation strings, as Ansible modules are written)
import re  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _missing(module, packages):
    if not packages:
        return []
    rc, out, _err = module.run_command(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages])
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def _newest(files):
    times = [os.stat(f).st_mtime for f in files if os.path.exists(f)]
    return max(times) if times else None


def _boot_time():
    with open("/proc/stat") as f:
        return int(next(line for line in f if line.startswith("btime ")).split()[1])


def _started(pid):
    """Epoch seconds at which a process started."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _nginx_loaded():
    try:
        with open("/run/nginx.pid") as f:
            master = int(f.read().strip())
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == master]
    except (OSError, ValueError):
        return None
    return max((_started(c) for c in children), default=None)


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _bird_loaded(module):
    rc, out, _err = module.run_command(["birdc", "show", "status"])
    found = re.findall(r"Last (?:reboot|reconfiguration) on (.+)", out) if rc == 0 else []
    if not found:
        return None
    rc, out, _err = module.run_command(["date", "-d", found[-1].strip(), "+%s.%N"])
    return float(out) if rc == 0 else None


def _pdns_stale(module, zones_file, zone, port):
    try:
        with open(zones_file, encoding="utf-8") as f:
            m = re.search(r"- soa: \S+ \S+ (\d+) ", f.read())
    except OSError:
        return False, "no zones file"
    if not m or not zone:
        return False, "no SOA in the zones file"
    dig = module.get_bin_path("dig")
    if not dig:
        return False, "no dig"
    rc, out, _err = module.run_command([dig, "+norec", "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1",
                                        "SOA", zone])
    served = (out.split() + ["", "", ""])[2]
    if rc != 0 or not served:
        return False, "pdns does not answer"
    return served != m.group(1), f"pdns serves SOA serial {served}, its zones file has {m.group(1)}"


def _units(module, units):
    """The state of each unit, from one systemctl call."""
    if not units:
        return {}
    rc, out, _err = module.run_command(["systemctl", "show", "--property=Id,LoadState,ActiveState,UnitFileState",
                                        "--", *units])
    found = {}
    blocks = out.strip().split("\n\n") if rc == 0 else []
    for name, block in ((units[i], b) for i, b in enumerate(blocks[:len(units)])):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        found[name] = {"load": props.get("LoadState", "not-found"), "active": props.get("ActiveState", "inactive"),
                       "enabled": props.get("UnitFileState", "")}
    for name in units:
        found.setdefault(name, {"load": "not-found", "active": "inactive", "enabled": ""})
    return found


def _nofile_hard():
    try:
        with open("/proc/1/limits") as f:
            line = next(line for line in f if line.startswith("Max open files"))
        return int(line.split()[4])
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def main():
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "service": {"type": "str"},
            "kind": {"type": "str", "choices": ["nginx", "bird", "pdns"]},
            "files": {"type": "list", "elements": "path", "default": []},
            "zone": {"type": "str"},
            "port": {"type": "int", "default": 53},
            "units": {"type": "list", "elements": "str", "default": []},
            "paths": {"type": "list", "elements": "path", "default": []},
            "limits": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    missing = _missing(module, p["packages"])
    active = False
    if p["service"]:
        rc, out, _err = module.run_command(["systemctl", "is-active", p["service"]])
        active = out.strip() == "active"
    stale, detail = False, "not running" if not active else "runs the configuration on disk"
    if active and p["kind"] == "pdns":
        stale, detail = _pdns_stale(module, (p["files"] or [""])[0], p["zone"], p["port"])
    elif active and p["kind"] in ("nginx", "bird"):
        newest = _newest(p["files"])
        loaded = _nginx_loaded() if p["kind"] == "nginx" else _bird_loaded(module)
        if newest is not None and loaded is not None and newest > loaded:
            stale, detail = True, f"{p['kind']} loaded its configuration before its files were last written"
    units = _units(module, p["units"])
    running = [name for name, u in units.items() if u == {"load": "loaded", "active": "active", "enabled": "enabled"}]
    extra = {"nofile_hard": _nofile_hard(), "sysctl_writable": os.access("/proc/sys/net/core/somaxconn", os.W_OK)
             } if p["limits"] else {}
    module.exit_json(changed=False, missing=missing, installed=not missing, active=active, stale=stale, detail=detail,
                     units=units, units_running=len(running) == len(units), running=running,
                     exists={path: os.path.exists(path) for path in p["paths"]},
                     **extra)


if __name__ == "__main__":
    main()
