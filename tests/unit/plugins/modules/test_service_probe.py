"""perch.cdn.service_probe: the unit states and paths a role skips its start tasks on, from one call."""

import json

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.perch.cdn.plugins.modules import service_probe

SHOW = ("Id=nginx.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=perch-edge-ready.service\nLoadState={load}\nActiveState={active}\nUnitFileState={enabled}\n")


def run(capsys, monkeypatch, ready, **args):
    def fake(self, cmd, **_kw):
        if cmd[:2] == ["systemctl", "show"]:
            return 0, SHOW.format(**ready), ""
        return 0, "", ""
    monkeypatch.setattr(AnsibleModule, "run_command", fake)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        service_probe.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("ready", "running"), [
    ({"load": "loaded", "active": "active", "enabled": "enabled"}, True),
    ({"load": "loaded", "active": "inactive", "enabled": "enabled"}, False),
    ({"load": "loaded", "active": "active", "enabled": "disabled"}, False),
    ({"load": "masked", "active": "inactive", "enabled": "masked"}, False),
    ({"load": "not-found", "active": "inactive", "enabled": ""}, False),
])
def test_units_run_only_when_every_unit_is_loaded_active_and_enabled(capsys, monkeypatch, ready, running):
    rc, out = run(capsys, monkeypatch, ready, units=["nginx.service", "perch-edge-ready.service"])
    assert rc == 0 and out["units_running"] is running and not out["changed"], out
    assert out["units"]["perch-edge-ready.service"] == ready
    assert out["units"]["nginx.service"]["active"] == "active"
    assert out["running"] == ["nginx.service", "perch-edge-ready.service"][:2 if running else 1]


def test_paths_and_limits_are_reported(capsys, monkeypatch, tmp_path):
    (tmp_path / "here").write_text("x")
    ready = {"load": "loaded", "active": "active", "enabled": "enabled"}
    rc, out = run(capsys, monkeypatch, ready, paths=[str(tmp_path / "here"), str(tmp_path / "gone")], limits=True)
    assert rc == 0 and out["exists"] == {str(tmp_path / "here"): True, str(tmp_path / "gone"): False}
    assert out["units"] == {} and out["units_running"] is True
    assert out["nofile_hard"] is None or out["nofile_hard"] > 0
    assert isinstance(out["sysctl_writable"], bool)
