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
    found = sorted(k for _path, k, _fd, _name in matching_files(str(tmp_path), prefixes=["/dists/perch/"]))
    assert found == ["/dists/perch/InRelease", "/dists/perch/main/binary-amd64/Packages.xz"]
    exact = [k for _path, k, _fd, _name in matching_files(str(tmp_path), keys=["/dists/other/InRelease"])]
    assert exact == ["/dists/other/InRelease"]
    assert list(matching_files(str(tmp_path), keys=["/dists/perch"])) == []


@given(st.lists(st.text(alphabet="abc/", min_size=1, max_size=8), min_size=1, max_size=12, unique=True),
       st.text(alphabet="abc/", min_size=1, max_size=3))
def test_prefix_matches_exactly_the_keys_that_start_with_it(tmp_path_factory, keys, prefix):
    tmp = tmp_path_factory.mktemp("cache")
    for i, key in enumerate(keys):
        _entry(tmp, f"f{i:03d}", key)
    found = sorted(k for _path, k, _fd, _name in matching_files(str(tmp), prefixes=[prefix]))
    assert found == sorted(k for k in keys if k.startswith(prefix))
    assert all(os.path.exists(p) for p, _k, _fd, _name in matching_files(str(tmp), prefixes=[prefix]))


# ---------------------------------------------------------------- a cache tree nobody should trust

def test_symbolic_links_are_not_followed(tmp_path):
    cache = tmp_path / "cache"
    outside = tmp_path / "outside"
    cache.mkdir()
    outside.mkdir()
    _entry(outside, "secret", "/dists/perch/InRelease")
    (cache / "link-to-file").symlink_to(outside / "secret")
    (cache / "link-to-dir").symlink_to(outside, target_is_directory=True)
    assert list(matching_files(str(cache), prefixes=["/"])) == []


def test_a_fifo_does_not_block_the_scan(tmp_path):
    _entry(tmp_path, "a1", "/dists/perch/InRelease")
    os.mkfifo(tmp_path / "fifo")
    found = [k for _path, k, _fd, _name in matching_files(str(tmp_path), prefixes=["/"])]
    assert found == ["/dists/perch/InRelease"]


def test_a_directory_swapped_for_a_link_after_the_scan_cannot_redirect_the_removal(tmp_path):
    cache = tmp_path / "cache"
    (cache / "a").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    _entry(cache / "a", "f1", "/dists/perch/InRelease")
    _entry(outside, "f1", "/dists/perch/InRelease")  # same name, outside the cache
    for _path, _key, dir_fd, name in matching_files(str(cache), prefixes=["/dists/"]):
        # between the scan and the removal, the directory is replaced by a link to outside
        # (_entry keeps each file in a subdirectory named after its first letter: a/f/f1)
        os.rename(cache / "a", tmp_path / "a-moved")
        (cache / "a").symlink_to(outside, target_is_directory=True)
        os.unlink(name, dir_fd=dir_fd)
    assert (outside / "f" / "f1").exists()  # what the path names now: untouched
    assert not (tmp_path / "a-moved" / "f" / "f1").exists()  # the file the scan found: removed
