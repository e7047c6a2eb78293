"""The harness works: systemd boots, and containers reach each other on both lab networks."""

import pytest


@pytest.mark.parametrize("name", ["default-a", "default-b"])
def test_systemd_booted(node, name):
    state = node(name).run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


@pytest.mark.parametrize(
    "src,dst,addr",
    [
        ("default-a", "default-b", "198.18.1.12"),
        ("default-b", "default-a", "198.18.1.11"),
        ("default-a", "default-b", "198.19.1.12"),
    ],
)
def test_containers_talk(node, src, dst, addr):
    out = node(src).check_output(f"curl -sf --max-time 5 http://{addr}:8080/")
    assert out.strip() == dst
