"""perch.cdn.nginx_config: nothing is installed unless nginx -t accepts the whole candidate.

nginx itself is replaced by a small script that reads the candidate the way nginx would (the main
file and what it includes) and refuses a line with "broken" in it.
"""

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.perch.cdn.plugins.modules import nginx_config

FAKE_NGINX = """#!/bin/sh
# fake nginx -q -t -c FILE: follows "include" lines, fails on "broken"
conf=$4
files="$conf $(sed -n 's/^ *include \\(.*\\);/\\1/p' "$conf")"
for f in $files; do
  case "$f" in /etc/nginx/*) echo "nginx: include of the live $f" >&2; exit 1;; esac
  if grep -q broken $f; then echo "nginx: [emerg] unknown directive \\"broken\\" in $f:1" >&2; exit 1; fi
done
exit 0
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    nginx = bindir / "nginx"
    nginx.write_text(FAKE_NGINX)
    nginx.chmod(nginx.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    conf = tmp_path / "nginx"
    (conf / "perch").mkdir(parents=True)
    (conf / "nginx.conf").write_text(f"include {conf}/perch/cdn.conf;\n")
    (conf / "perch" / "cdn.conf").write_text("server {}\n")
    return conf


def run(capsys, check_mode=False, diff=False, **args):
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        nginx_config.main()
    out = json.loads(capsys.readouterr().out)
    return exc.value.code, out


def test_unchanged_files_change_nothing(root, capsys):
    rc, out = run(capsys, root=str(root), files=[{"path": str(root / "perch" / "cdn.conf"), "content": "server {}\n"}])
    assert rc == 0 and out["changed"] is False and out["tested"] is False


def test_a_good_change_is_tested_then_installed(root, capsys):
    new = "server { listen 80; }\n"
    rc, out = run(capsys, diff=True, root=str(root), files=[{"path": str(root / "perch" / "cdn.conf"), "content": new}])
    assert rc == 0 and out["changed"] and out["tested"], out
    assert (root / "perch" / "cdn.conf").read_text() == new
    assert oct((root / "perch" / "cdn.conf").stat().st_mode & 0o777) == "0o644"
    assert out["diff"][0]["before"] == "server {}\n" and out["diff"][0]["after"] == new


def test_a_broken_change_leaves_every_file_as_it_was(root, capsys):
    before = (root / "nginx.conf").read_text()
    rc, out = run(capsys, root=str(root), files=[
        {"path": str(root / "nginx.conf"), "content": f"include {root}/perch/cdn.conf;\n# new\n"},
        {"path": str(root / "perch" / "cdn.conf"), "content": "broken on;\n"},
    ])
    assert rc == 1 and out["failed"]
    assert "nginx rejects the new configuration" in out["msg"]
    assert f"{root}/perch/cdn.conf" in out["msg"]  # nginx's message names the live path, not the copy
    assert (root / "nginx.conf").read_text() == before
    assert (root / "perch" / "cdn.conf").read_text() == "server {}\n"


def test_check_mode_tests_but_writes_nothing(root, capsys):
    rc, out = run(capsys, check_mode=True, root=str(root),
                  files=[{"path": str(root / "perch" / "new.conf"), "content": "x;\n", "mode": "0600"}])
    assert rc == 0 and out["changed"] and out["tested"]
    assert not (root / "perch" / "new.conf").exists()
    rc, out = run(capsys, check_mode=True, root=str(root),
                  files=[{"path": str(root / "perch" / "cdn.conf"), "content": "broken;\n"}])
    assert rc == 1 and "nginx rejects" in out["msg"]


def test_files_outside_the_root_are_refused(root, capsys):
    rc, out = run(capsys, root=str(root), files=[{"path": str(root.parent / "elsewhere.conf"), "content": "x"}])
    assert rc == 1 and "is not a file under" in out["msg"]
    rc, out = run(capsys, root=str(root), files=[{"path": str(root / "perch" / ".." / ".." / "x"), "content": "x"}])
    assert rc == 1 and "is not a file under" in out["msg"]


def test_without_nginx_the_files_are_installed_untested(root, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(nginx_config.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    rc, out = run(capsys, root=str(root), files=[{"path": str(root / "perch" / "cdn.conf"), "content": "broken;\n"}])
    assert rc == 0 and out["changed"] and out["tested"] is False
