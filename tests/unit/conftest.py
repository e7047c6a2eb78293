"""Make the collection importable as ansible_collections.perch.cdn for the unit tests.

scripts/bootstrap links this checkout at .cache/collections/ansible_collections/perch/cdn; if that
link is missing (fresh checkout), build the same link in a temporary directory.
"""

import os
import sys
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_cache = os.path.join(ROOT, ".cache", "collections")
if not os.path.isdir(os.path.join(_cache, "ansible_collections", "perch", "cdn", "plugins")):
    _cache = tempfile.mkdtemp(prefix="perch-cdn-tests-")
    os.makedirs(os.path.join(_cache, "ansible_collections", "perch"))
    os.symlink(ROOT, os.path.join(_cache, "ansible_collections", "perch", "cdn"))
if _cache not in sys.path:
    sys.path.insert(0, _cache)

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
