"""Helpers shared by every scenario's testinfra tests.

Hosts are reached with `podman exec` directly (testinfra's podman backend), which is far
quicker than going through an Ansible ad-hoc run per command.
"""

import os

import pytest
import testinfra

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("CONTAINERS_CONF", os.path.join(HERE, "..", "tests", "lab", "containers.conf"))


@pytest.fixture(scope="session")
def node():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = testinfra.get_host(f"podman://{name}")
        return cache[name]

    return get
