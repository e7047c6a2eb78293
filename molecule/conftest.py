"""The `node` fixture: testinfra hosts for the scenario's containers.

Hosts are reached over SSH with the lab key and one master connection per host, like the
playbooks reach them (tests/lab/tasks/containers.yml authorises the key); a command costs an
SSH round trip (~10 ms) instead of a `podman exec` (~0.3 s).
"""

import os
import subprocess

import pytest
import testinfra

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.environ.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tests", "lab", "containers.conf"))
KEY = os.path.join(ROOT, ".cache", "lab-ssh", "id_ed25519")
SSH_ARGS = "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR"


def lab_address(name):
    """The container's address on the perch-lab network."""
    out = subprocess.run(
        ["podman", "inspect", "-f", '{{ (index .NetworkSettings.Networks "perch-lab").IPAddress }}', name],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def node():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = testinfra.get_host(
                f"ssh://root@{lab_address(name)}", ssh_identity_file=KEY, ssh_extra_args=SSH_ARGS,
                controlpath=f"/tmp/perch-testinfra-{name}", controlpersist=600)
        return cache[name]

    yield get
    for name in cache:  # close the master connections
        subprocess.run(["ssh", "-o", f"ControlPath=/tmp/perch-testinfra-{name}", "-O", "exit", "x"],
                       capture_output=True, check=False)
