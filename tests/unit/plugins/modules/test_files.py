"""perch.cdn.files: one call makes many paths right, says which changed, and --check changes nothing."""

import grp
import json
import os
import pwd

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.perch.cdn.plugins.modules import files

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def run(capsys, check_mode=False, diff=False, **args):
    for key in ("directories", "files", "secret_files"):
        for entry in args.get(key, []):
            entry.setdefault("owner", ME)
            entry.setdefault("group", MY_GROUP)
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        files.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def layout(tmp_path):
    return {
        "absent": [str(tmp_path / "old.conf"), str(tmp_path / "old.d")],
        "directories": [{"path": str(tmp_path / "cache" / "www"), "mode": "0700"}],
        "files": [{"path": str(tmp_path / "cache" / "www" / "a.conf"), "content": "a = 1\n", "mode": "0640"}],
        "secret_files": [{"path": str(tmp_path / "key.pem"), "content": "SECRET KEY\n"}],
    }


def test_a_first_run_makes_everything_and_a_second_changes_nothing(tmp_path, capsys):
    (tmp_path / "old.conf").write_text("x")
    (tmp_path / "old.d").mkdir()
    (tmp_path / "old.d" / "f").write_text("y")
    rc, out = run(capsys, **layout(tmp_path))
    assert rc == 0 and out["changed"], out
    assert out["changed_paths"] == [str(tmp_path / p) for p in
                                    ("old.conf", "old.d", "cache", "cache/www", "cache/www/a.conf", "key.pem")]
    assert not (tmp_path / "old.conf").exists() and not (tmp_path / "old.d").exists()
    assert (tmp_path / "cache" / "www" / "a.conf").read_text() == "a = 1\n"
    assert oct((tmp_path / "cache").stat().st_mode & 0o777) == "0o700"  # parents like the directory
    assert oct((tmp_path / "cache" / "www" / "a.conf").stat().st_mode & 0o777) == "0o640"
    assert oct((tmp_path / "key.pem").stat().st_mode & 0o777) == "0o600"
    rc, out = run(capsys, **layout(tmp_path))
    assert rc == 0 and not out["changed"] and out["changed_paths"] == [], out


def test_check_mode_tells_what_would_change_and_changes_nothing(tmp_path, capsys):
    (tmp_path / "old.conf").write_text("x")
    rc, out = run(capsys, check_mode=True, diff=True, **layout(tmp_path))
    assert rc == 0 and out["changed"]
    assert str(tmp_path / "cache" / "www" / "a.conf") in out["changed_paths"]
    assert (tmp_path / "old.conf").exists() and not (tmp_path / "cache").exists()
    assert "a = 1" in json.dumps(out["diff"]) and "SECRET KEY" not in json.dumps(out)


def test_a_secret_is_in_no_result_not_even_a_failed_one(tmp_path, capsys):
    rc, out = run(capsys, **layout(tmp_path))
    assert rc == 0 and "SECRET KEY" not in json.dumps(out)
    rc, out = run(capsys, secret_files=[{"path": str(tmp_path / "k.pem"), "content": "SECRET KEY\n", "mode": "x"}])
    assert rc == 1 and out["msg"].startswith(f"perch.cdn.files: secret file '{tmp_path}/k.pem': mode 'x'"), out
    assert "SECRET KEY" not in json.dumps(out)


def test_a_mode_or_content_drift_alone_is_put_back(tmp_path, capsys):
    run(capsys, **layout(tmp_path))
    conf = tmp_path / "cache" / "www" / "a.conf"
    conf.chmod(0o666)
    (tmp_path / "cache" / "www").chmod(0o755)
    rc, out = run(capsys, diff=True, **layout(tmp_path))
    assert out["changed_paths"] == [str(tmp_path / "cache" / "www"), str(conf)], out
    assert oct(conf.stat().st_mode & 0o777) == "0o640"
    conf.write_text("edited by hand\n")
    rc, out = run(capsys, diff=True, **layout(tmp_path))
    assert out["changed_paths"] == [str(conf)] and conf.read_text() == "a = 1\n"
    assert out["diff"][0]["before"] == "edited by hand\n"


def test_a_link_in_place_of_a_file_is_replaced_not_followed(tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.write_text("a = 1\n")
    (tmp_path / "cache" / "www").mkdir(parents=True)
    (tmp_path / "cache" / "www" / "a.conf").symlink_to(target)
    rc, out = run(capsys, **layout(tmp_path))
    assert not (tmp_path / "cache" / "www" / "a.conf").is_symlink()
    assert target.read_text() == "a = 1\n"


@pytest.mark.parametrize("entry, says", [
    ({"path": "relative/x", "content": ""}, "'relative/x': the path must be absolute"),
    ({"path": "/tmp/x", "content": "", "mode": "rw-r--r--"}, "mode 'rw-r--r--' is not an octal string"),
    ({"path": "/tmp/x", "content": "", "owner": "no-such-user-perch"}, "owner 'no-such-user-perch' does not exist"),
])
def test_bad_input_names_the_entry_and_the_field(tmp_path, capsys, entry, says):
    rc, out = run(capsys, files=[entry])
    assert rc == 1 and out["msg"].startswith("perch.cdn.files: file") and says in out["msg"], out


def test_a_file_whose_directory_is_missing_fails_and_says_so(tmp_path, capsys):
    rc, out = run(capsys, files=[{"path": str(tmp_path / "nope" / "x"), "content": ""}])
    assert rc == 1 and "its directory does not exist" in out["msg"]


def test_absent_refuses_the_root(capsys):
    rc, out = run(capsys, absent=["/"])
    assert rc == 1 and "absent '/'" in out["msg"]


def test_paths_share_one_owner_group_and_mode(tmp_path, capsys):
    rc, out = run(capsys, directories=[{"paths": [str(tmp_path / "a"), str(tmp_path / "b")], "mode": "0750"}])
    assert rc == 0 and out["changed_paths"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert oct((tmp_path / "b").stat().st_mode & 0o777) == "0o750"
    rc, out = run(capsys, directories=[{"path": str(tmp_path / "a"), "paths": [str(tmp_path / "b")]}])
    assert rc == 1 and "mutually exclusive" in out["msg"], out


def test_check_mode_on_a_new_node_reports_a_user_its_packages_will_make(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    entry = {"path": str(tmp_path / "d"), "owner": "no-such-user-perch"}
    rc, out = run(capsys, check_mode=True, diff=True, directories=[dict(entry)])
    assert rc == 0 and out["changed_paths"] == [str(tmp_path / "d")], out
    rc, out = run(capsys, directories=[dict(entry)])
    assert rc == 1 and "directory" in out["msg"] and "owner 'no-such-user-perch' does not exist" in out["msg"]
