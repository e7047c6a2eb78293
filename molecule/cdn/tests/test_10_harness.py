"""The harness works: every container booted systemd, and they reach each other on both lab networks
(perch-lab, NATed, for management and apt; perch-bgp, internal, for BGP and anycast)."""

import pytest
from cdn import CLIENT, DNS, EDGES, IP, ORIGIN, ROUTER

ALL = [ORIGIN, *EDGES, *DNS, ROUTER, CLIENT]


@pytest.mark.parametrize("name", ALL)
def test_systemd_booted(node, name):
    state = node(name).run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


@pytest.mark.parametrize(
    "src,dst,addr",
    [
        (CLIENT, "cdn-edge-fra", IP["cdn-edge-fra"]),
        ("cdn-edge-nyc", "cdn-edge-sin", IP["cdn-edge-sin"]),
        (CLIENT, "cdn-edge-sin", EDGES["cdn-edge-sin"][1]),  # over perch-bgp
        ("cdn-edge-fra", "cdn-edge-nyc", EDGES["cdn-edge-nyc"][1]),
    ],
)
def test_containers_talk(node, src, dst, addr):
    # an edge's catch-all server names the edge
    out = node(src).check_output(f"curl -sf --max-time 5 http://{addr}/")
    assert out.strip() == f"perch.cdn edge {dst}"
