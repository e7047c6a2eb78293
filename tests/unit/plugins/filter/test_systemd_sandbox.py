"""perch.cdn.systemd_sandbox: every unit starts from the same denials and adds only what it needs."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.systemd_sandbox import FilterModule, systemd_sandbox


def directives(text):
    out = {}
    for line in text.splitlines():
        key, value = line.split("=", 1)
        out.setdefault(key, []).append(value)
    return out


def test_filter_module():
    assert FilterModule().filters()["systemd_sandbox"] is systemd_sandbox


def test_no_network_no_capability_by_default():
    d = directives(systemd_sandbox({"user": "dynamic"}))
    assert d["DynamicUser"] == ["yes"] and d["CapabilityBoundingSet"] == [""]
    assert d["PrivateNetwork"] == ["yes"] and d["RestrictAddressFamilies"] == ["none"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"] and d["UMask"] == ["0077"]
    assert "ReadWritePaths" not in d and "AmbientCapabilities" not in d and "User" not in d


def test_what_a_unit_needs_is_added():
    d = directives(systemd_sandbox({"user": "perch-reports", "group": "perch-reports", "groups": ["adm"],
                                    "write": ["/var/lib/perch/reports"], "families": ["AF_UNIX", "AF_INET"],
                                    "umask": "0022"}))
    assert d["User"] == ["perch-reports"] and d["SupplementaryGroups"] == ["adm"]
    assert d["ReadWritePaths"] == ["/var/lib/perch/reports"] and d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET"]
    assert "PrivateNetwork" not in d and d["UMask"] == ["0022"]


def test_root_keeps_only_its_capabilities_and_a_user_gets_them_ambient():
    root = directives(systemd_sandbox({"caps": ["CAP_NET_ADMIN"], "families": ["AF_NETLINK"]}))
    assert root["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] and "AmbientCapabilities" not in root
    assert "User" not in root and "DynamicUser" not in root
    user = directives(systemd_sandbox({"user": "bird", "caps": ["CAP_NET_ADMIN"]}))
    assert user["AmbientCapabilities"] == ["CAP_NET_ADMIN"]


@pytest.mark.parametrize(("spec", "key"), [
    ({"user": "root"}, "user"),
    ({"user": "Bird"}, "user"),
    ({"user": "bird", "caps": "CAP_NET_ADMIN"}, "caps"),
    ({"caps": ["NET_ADMIN"]}, "caps"),
    ({"write": ["var/lib"]}, "write"),
    ({"write": ["/var/lib perch"]}, "write"),
    ({"families": ["AF_PACKET"]}, "families"),
    ({"umask": "022"}, "umask"),
    ({"umask": 18}, "umask"),
    ({"group": "a b"}, "group"),
    ({"privileged": True}, "privileged"),
])
def test_a_bad_spec_names_its_key(spec, key):
    with pytest.raises(AnsibleFilterError, match=rf"perch.cdn.systemd_sandbox: '{key}'"):
        systemd_sandbox(spec)


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="perch.cdn.systemd_sandbox: expected a mapping"):
        systemd_sandbox(["user"])
