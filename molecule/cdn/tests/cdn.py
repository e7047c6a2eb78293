"""The lab CDN of the scenario, and what every test file uses to look at it.

The test files run in name order (test_10_*, test_20_*, ...) against the same containers: first
the checks that only look, then the ones that break, drain and rotate things.
"""

import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INV = ROOT / "molecule" / "cdn" / "inventory"
ZONE = "cdn.test.example"
ORIGIN, CLIENT, ROUTER = "cdn-origin", "cdn-client", "cdn-router"
DNS = {"cdn-dns1": "198.18.8.31", "cdn-dns2": "198.18.8.32"}
DNS1, DNS2 = DNS.values()
# edge -> (address on perch-lab, address on perch-bgp)
EDGES = {
    "cdn-edge-fra": ("198.18.8.21", "198.19.8.21"),
    "cdn-edge-fra2": ("198.18.8.24", "198.19.8.24"),
    "cdn-edge-nyc": ("198.18.8.22", "198.19.8.22"),
    "cdn-edge-sin": ("198.18.8.23", "198.19.8.23"),
}
SITES = {"fra": ["cdn-edge-fra", "cdn-edge-fra2"], "nyc": ["cdn-edge-nyc"], "sin": ["cdn-edge-sin"]}
ANYCAST = "203.0.113.1"
IP = {ORIGIN: "198.18.8.10", CLIENT: "198.18.8.50", **{e: a for e, (a, _bgp) in EDGES.items()}, **DNS}
CLIENT_B = "198.18.8.51"  # a second address of the client (the fixture in test_30 adds it)
# client subnets from scripts/make-test-mmdb
ECS = {"DE": "198.51.100.7/32", "US": "198.51.100.70/32", "SG": "198.51.100.130/32",
       "BR": "198.51.100.200/32", "AU": "192.0.2.10/32", "JP": "192.0.2.140/32"}
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "tests" / "lab" / "containers.conf"))


def unicast(*edges):
    return {EDGES[e][0] for e in edges}


def site(name):
    return unicast(*SITES[name])


def start_playbook(name, *args, inventory=INV):
    """Start ansible-playbook playbooks/<name> on the scenario's inventory (or another), as an operator runs it."""
    env = dict(ENV, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), MOLECULE_PROJECT_DIRECTORY=str(ROOT))
    cmd = ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / name), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=900):
    """Wait for a started playbook; a CompletedProcess with .seconds since it was started."""
    start = getattr(proc, "started", None) or time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    res.seconds = time.monotonic() - start
    return res


def playbook(name, *args, timeout=900, inventory=INV):
    start = time.monotonic()
    proc = start_playbook(name, *args, inventory=inventory)
    proc.started = start
    return finish(proc, timeout)


def podman(*args, **kw):
    return subprocess.run(["podman", *args], env=ENV, check=True, **kw)


def put(container, path, data: bytes):
    podman("exec", "-i", container, "sh", "-c", f"cat > {path}", input=data)


def rollout_plays(stdout, first):
    """(output of the play for hosts that serve nothing yet, "PLAY [", the rolling play's output)."""
    return stdout.split(f"PLAY [{first}", 1)[1].split("PLAY RECAP")[0].partition("PLAY [")


def changed(stdout, host):
    """The changed= counts of a host in the play recap."""
    return [int(n) for n in re.findall(rf"^{host}\s+:.*\bchanged=(\d+)", stdout, re.M)]


def wait_for(cond, timeout=30.0, step=0.2):
    """Seconds until cond() is true; AssertionError after timeout."""
    start = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(step)


def dig(node, server, *args, client=CLIENT):
    out = node(client).check_output(f"dig +short +time=2 +tries=2 @{server} " + " ".join(args))
    return sorted(line.strip('"') for line in out.splitlines() if line)


def answers(node, country, server=DNS1, service="www", rtype="A"):
    return set(dig(node, server, f"+subnet={ECS[country]}", rtype, f"{service}.{ZONE}"))


def next_hops(node):
    """Next hops the router has installed for the anycast prefix."""
    return set(re.findall(r"via (198\.19\.8\.\d+)", node(ROUTER).check_output("ip route show 203.0.113.0/24")))


def headers(node, url, edge="cdn-edge-fra", extra=""):
    """GET through an edge from the client; returns (status, X-Cache-Status)."""
    host = url.split("/")[2]
    out = node(CLIENT).check_output(
        f"curl -s -o /dev/null -D - --max-time 20 {extra} --resolve {host}:80:{IP[edge]} '{url}'")
    status = int(out.split()[1])
    cache = re.search(r"(?im)^x-cache-status:\s*(\S+)", out)
    return status, cache.group(1).upper() if cache else None
