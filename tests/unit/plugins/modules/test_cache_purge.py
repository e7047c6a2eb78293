"""perch.cdn.cache_purge: removes what matches with the cache owner's rights, then reports as root.

Run as root (as the module runs on an edge), with a cache tree owned by nobody; the module runs in a
forked child so that the test process keeps its own ids whatever the module does.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.perch.cdn.plugins.modules import cache_purge

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")


def _entry(directory, name, key):
    # nginx's shape: binary header, "\nKEY: <key>\n", then the upstream response
    path = directory / name
    path.write_bytes(b"\x05\x00\x00\x00" * 40 + b"\nKEY: " + key.encode() + b"\nHTTP/1.1 200 OK\r\n\r\nbody")
    os.chown(path, NOBODY, NOBODY)
    return path


@pytest.fixture
def cache():
    # not under pytest's tmp_path: its parents are root's alone, and the cache owner must reach the cache
    tmp_path = Path(tempfile.mkdtemp(prefix="perch-purge-"))
    tmp_path.chmod(0o755)
    cache = tmp_path / "cache"
    (cache / "a").mkdir(parents=True)
    for d in (cache, cache / "a"):
        os.chown(d, NOBODY, NOBODY)
    _entry(cache / "a", "1", "/dists/perch/InRelease")
    _entry(cache / "a", "2", "/pool/main/p/hello.deb")
    # the module's own payload: readable by root only, read again when the module reports
    payload = tmp_path / "payload"
    payload.write_text("ansiballz")
    payload.chmod(0o600)
    yield cache, payload
    shutil.rmtree(tmp_path)


def run_child(payload, **args):
    """main() in a child whose exit_json/fail_json first read `payload`, as Ansible's do."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        code = 0
        try:
            for name in ("exit_json", "fail_json"):
                real = getattr(cache_purge.AnsibleModule, name)

                def wrapped(self, *a, _real=real, **kw):
                    kw["payload"] = payload.read_text()  # PermissionError if still the cache owner
                    kw["euid"] = os.geteuid()
                    os.write(wfd, json.dumps(kw).encode())
                    return _real(self, *a, **kw)

                setattr(cache_purge.AnsibleModule, name, wrapped)
            with patch_module_args(args):
                cache_purge.main()
        except SystemExit as exc:
            code = exc.code or 0
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # reported to the parent
            os.write(wfd, json.dumps({"exception": repr(exc)}).encode())
            code = 99
        os._exit(code)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 65536):
        data += chunk
    os.close(rfd)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), json.loads(data)


def test_purges_as_the_owner_and_reports_as_root(cache):
    cache_dir, payload = cache
    rc, out = run_child(payload, cache_dir=str(cache_dir), keys=["/dists/perch/InRelease"])
    assert rc == 0, out
    assert out["purged"] == ["/dists/perch/InRelease"] and out["euid"] == 0 and out["payload"] == "ansiballz"
    assert sorted(os.listdir(cache_dir / "a")) == ["2"]


def test_what_the_owner_may_not_remove_stays_and_the_error_says_so(cache):
    cache_dir, payload = cache
    os.chown(cache_dir / "a", 0, 0)  # a directory the cache owner cannot write: root could, nobody cannot
    rc, out = run_child(payload, cache_dir=str(cache_dir), prefixes=["/"], confirm_all=True)
    assert rc == 1, out
    assert "cannot remove" in out["msg"] and "Permission denied" in out["msg"] and out["euid"] == 0
    assert sorted(os.listdir(cache_dir / "a")) == ["1", "2"]


def test_check_mode_removes_nothing(cache):
    cache_dir, payload = cache
    rc, out = run_child(payload, cache_dir=str(cache_dir), prefixes=["/pool/"], _ansible_check_mode=True)
    assert rc == 0 and out["purged"] == ["/pool/main/p/hello.deb"] and out["changed"] is True
    assert sorted(os.listdir(cache_dir / "a")) == ["1", "2"]


def test_the_whole_cache_needs_confirm_all(cache):
    cache_dir, payload = cache
    rc, out = run_child(payload, cache_dir=str(cache_dir), prefixes=["/"])
    assert rc == 1 and "confirm_all" in out["msg"]
    assert sorted(os.listdir(cache_dir / "a")) == ["1", "2"]
