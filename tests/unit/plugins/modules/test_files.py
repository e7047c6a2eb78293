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


def versions(tmp_path, *names):
    """A store of version directories, oldest first."""
    store = tmp_path / ".versions" / "cdn"
    for age, name in enumerate(reversed(names)):
        (store / name).mkdir(parents=True)
        os.utime(store / name, (1_000_000 + age * 10, 1_000_000 + age * 10))
    return store


def swap(tmp_path, version, keep=2):
    store = tmp_path / ".versions" / "cdn"
    return {"directories": [{"path": str(store / version), "mode": "0700"}],
            "files": [{"path": str(store / version / "fullchain.pem"), "content": version}],
            "links": [{"path": str(tmp_path / "cdn"), "src": f".versions/cdn/{version}"}],
            "prune": [{"path": str(store), "keep": keep, "protect": [version]}]}


def test_a_link_is_swapped_to_the_new_version_and_the_oldest_are_pruned(tmp_path, capsys):
    store = versions(tmp_path, "v3", "v2", "v1")
    (tmp_path / "cdn").symlink_to(".versions/cdn/v3")
    rc, out = run(capsys, **swap(tmp_path, "v4"))
    assert rc == 0 and out["changed"], out
    assert os.readlink(tmp_path / "cdn") == ".versions/cdn/v4"
    assert (tmp_path / "cdn" / "fullchain.pem").read_text() == "v4"
    assert sorted(p.name for p in store.iterdir()) == ["v3", "v4"]  # the newest other one stays
    assert out["changed_paths"][-2:] == [str(store / "v2"), str(store / "v1")]
    rc, out = run(capsys, **swap(tmp_path, "v4"))
    assert rc == 0 and not out["changed"], out


def test_check_mode_tells_the_swap_and_the_pruning_and_changes_nothing(tmp_path, capsys):
    store = versions(tmp_path, "v2", "v1")
    (tmp_path / "cdn").symlink_to(".versions/cdn/v2")
    rc, out = run(capsys, check_mode=True, diff=True, **swap(tmp_path, "v3"))
    assert rc == 0 and out["changed"]
    assert str(tmp_path / "cdn") in out["changed_paths"] and str(store / "v1") in out["changed_paths"]
    assert {"before_header": str(tmp_path / "cdn"), "after_header": str(tmp_path / "cdn"),
            "before": "-> .versions/cdn/v2\n", "after": "-> .versions/cdn/v3\n"} in out["diff"]
    assert os.readlink(tmp_path / "cdn") == ".versions/cdn/v2"
    assert sorted(p.name for p in store.iterdir()) == ["v1", "v2"]


def test_a_real_directory_where_the_link_goes_is_refused_and_left_alone(tmp_path, capsys):
    versions(tmp_path, "v1")
    (tmp_path / "cdn").mkdir()
    (tmp_path / "cdn" / "fullchain.pem").write_text("hand-made")
    rc, out = run(capsys, **swap(tmp_path, "v2"))
    link = str(tmp_path / "cdn")
    assert rc == 1 and out["msg"] == f"perch.cdn.files: link {link!r} is a real directory; move it away once"
    assert (tmp_path / "cdn" / "fullchain.pem").read_text() == "hand-made"


def test_prune_never_removes_a_protected_version_even_when_it_is_the_oldest(tmp_path, capsys):
    store = versions(tmp_path, "v3", "v2", "v1")
    rc, out = run(capsys, prune=[{"path": str(store), "keep": 2, "protect": ["v1"]}])
    assert rc == 0 and sorted(p.name for p in store.iterdir()) == ["v1", "v3"], out
    rc, out = run(capsys, prune=[{"path": str(store), "keep": 0}])
    assert rc == 1 and "keep 0 must be at least 1" in out["msg"]


# `grep -q` stands in for a service's own checker (bird -p, nginx -t): it accepts a file that holds the word.
def test_validate_lets_only_accepted_content_replace_the_file(tmp_path, capsys):
    conf = tmp_path / "bird.conf"
    conf.write_text("router id 1; good\n")
    entry = {"path": str(conf), "validate": "grep -q good %s"}
    rc, out = run(capsys, files=[dict(entry, content="router id 2; good\n")])
    assert rc == 0 and out["changed_paths"] == [str(conf)] and conf.read_text() == "router id 2; good\n"
    rc, out = run(capsys, files=[dict(entry, content="router id 3; bad\n")])
    assert rc == 1 and out["msg"].startswith(f"perch.cdn.files: file '{conf}': validate 'grep -q good %s' refused"), out
    assert conf.read_text() == "router id 2; good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bird.conf"]  # no new content left beside it


def test_validate_of_a_secret_file_shows_no_output(tmp_path, capsys):
    # grep prints the content, then fails on the missing file
    entry = {"path": str(tmp_path / "bgp.conf"), "content": "password HUNTER2\n",
             "validate": "grep . %s /nonexistent-perch"}
    rc, out = run(capsys, secret_files=[entry])
    assert rc == 1 and "refused" in out["msg"] and "HUNTER2" not in json.dumps(out), out
    assert not (tmp_path / "bgp.conf").exists()


def test_validate_needs_a_place_for_the_new_content(tmp_path, capsys):
    rc, out = run(capsys, files=[{"path": str(tmp_path / "x"), "content": "", "validate": "true"}])
    assert rc == 1 and "validate 'true' has no %s for the new content" in out["msg"], out
    assert not (tmp_path / "x").exists()


def test_validate_is_not_run_in_check_mode_nor_on_unchanged_content(tmp_path, capsys):
    (tmp_path / "x").write_text("same\n")
    marker = tmp_path / "ran"
    entry = {"path": str(tmp_path / "x"), "validate": f"touch {marker} %s"}
    rc, out = run(capsys, files=[dict(entry, content="same\n")])
    rc, out = run(capsys, check_mode=True, files=[dict(entry, content="new\n")])
    assert rc == 0 and out["changed_paths"] == [str(tmp_path / "x")] and not marker.exists()
