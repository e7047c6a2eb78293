"""Make the collection importable as ansible_collections.perch.cdn for the unit tests.

The tests run two ways, and both see the same tests (layout: tests/unit/plugins/ mirrors plugins/;
tests/unit/collection/ checks the repository: inventories, role READMEs, bench scripts; shared helpers
are in tests/unit/utils/ and are imported as ansible_collections.perch.cdn.tests.unit.utils.*):

- `make unit` (scripts/ansible-test units): ansible-test runs pytest in a copy of the checkout at
  .cache/ansible-test/ansible_collections/perch/cdn and installs Ansible's collection loader itself.
- `pytest tests/unit` from the checkout: scripts/bootstrap links this checkout at
  .cache/collections/ansible_collections/perch/cdn; if that link is missing (fresh checkout), the same
  link is made in a temporary directory.

Either way the `collections_path` fixture is the directory that holds ansible_collections/perch/cdn,
for the tests that run ansible-playbook or a bench script in a subprocess.
"""

import os
import sys
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _collections_path() -> str:
    parent = os.path.dirname(os.path.dirname(ROOT))
    if os.path.basename(parent) == "ansible_collections" and os.path.basename(ROOT) == "cdn":
        return os.path.dirname(parent)  # already at .../ansible_collections/perch/cdn (ansible-test, an install)
    cache = os.path.join(ROOT, ".cache", "collections")
    if os.path.isdir(os.path.join(cache, "ansible_collections", "perch", "cdn", "plugins")):
        return cache
    cache = tempfile.mkdtemp(prefix="perch-cdn-tests-")
    os.makedirs(os.path.join(cache, "ansible_collections", "perch"))
    os.symlink(ROOT, os.path.join(cache, "ansible_collections", "perch", "cdn"))
    return cache


COLLECTIONS_PATH = _collections_path()
if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

# keep hypothesis' example database out of the collection tree (.cache is in build_ignore)
set_hypothesis_home_dir(os.path.join(ROOT, ".cache", "hypothesis"))

# modest example counts keep `pytest -q tests/unit` well under a minute on 2 cores
settings.register_profile("perch", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "perch"))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def collections_path():
    return COLLECTIONS_PATH
