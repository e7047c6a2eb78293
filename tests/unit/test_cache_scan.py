"""perch.cdn cache_scan: finding nginx cache files by their stored key."""

import os

from ansible_collections.perch.cdn.plugins.module_utils.cache_scan import matching_files, read_key
from hypothesis import given
from hypothesis import strategies as st


def _entry(tmp, name, key):
    # Same shape as nginx: binary header, "\nKEY: <key>\n", then the upstream response.
    path = tmp / name[:1] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x05\x00\x00\x00" * 40 + b"\nKEY: " + key.encode() + b"\nHTTP/1.1 200 OK\r\n\r\nbody")
    return str(path)


def test_read_key(tmp_path):
    path = _entry(tmp_path, "abc", "/dists/perch/InRelease")
    assert read_key(path) == "/dists/perch/InRelease"


def test_read_key_not_a_cache_file(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"no key here")
    assert read_key(str(path)) is None
    assert read_key(str(tmp_path / "missing")) is None


def test_prefix_and_exact(tmp_path):
    _entry(tmp_path, "a1", "/dists/perch/InRelease")
    _entry(tmp_path, "a2", "/dists/perch/main/binary-amd64/Packages.xz")
    _entry(tmp_path, "b1", "/dists/other/InRelease")
    _entry(tmp_path, "c1", "/pool/main/p/perch-hello/perch-hello_1.0_all.deb")
    found = sorted(k for _, k in matching_files(str(tmp_path), prefixes=["/dists/perch/"]))
    assert found == ["/dists/perch/InRelease", "/dists/perch/main/binary-amd64/Packages.xz"]
    exact = [k for _, k in matching_files(str(tmp_path), keys=["/dists/other/InRelease"])]
    assert exact == ["/dists/other/InRelease"]
    assert list(matching_files(str(tmp_path), keys=["/dists/perch"])) == []


@given(st.lists(st.text(alphabet="abc/", min_size=1, max_size=8), min_size=1, max_size=12, unique=True),
       st.text(alphabet="abc/", min_size=1, max_size=3))
def test_prefix_matches_exactly_the_keys_that_start_with_it(tmp_path_factory, keys, prefix):
    tmp = tmp_path_factory.mktemp("cache")
    for i, key in enumerate(keys):
        _entry(tmp, f"f{i:03d}", key)
    found = sorted(k for _, k in matching_files(str(tmp), prefixes=[prefix]))
    assert found == sorted(k for k in keys if k.startswith(prefix))
    assert all(os.path.exists(p) for p, _ in matching_files(str(tmp), prefixes=[prefix]))
