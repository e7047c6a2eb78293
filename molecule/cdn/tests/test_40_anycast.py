"""Anycast as an operator sees it: the router's table, a client on the anycast address, failover."""

import re

import pytest
from cdn import ANYCAST, CLIENT, EDGES, ROUTER, changed, next_hops, playbook, wait_for

BGP = {e: bgp for e, (_unicast, bgp) in EDGES.items()}


def router_paths(node):
    """Next hops BIRD on the router has for the anycast prefix."""
    out = node(ROUTER).run("birdc show route 203.0.113.0/24").stdout
    return set(re.findall(r"via (198\.19\.8\.\d+)", out))


def served_by(node):
    return node(CLIENT).check_output(f"curl -sf --max-time 3 http://{ANYCAST}/").strip().split()[-1]


def sessions_since(node):
    out = node(ROUTER).check_output("birdc show protocols")
    return {m[0]: m[1] for m in re.findall(r"^(cdn_edge_\w+)\s+BGP\s+\S+\s+up\s+(\S+)", out, re.M)}


@pytest.fixture(autouse=True)
def all_announced(node):
    """Each test starts (and leaves) with every edge announcing."""
    wait_for(lambda: router_paths(node) == set(BGP.values()), timeout=30)
    yield
    wait_for(lambda: router_paths(node) == set(BGP.values()), timeout=30)


def test_router_learns_the_prefix_from_every_edge_and_nothing_else(node):
    learned = node(ROUTER).check_output("birdc show route protocol cdn_edge_fra")
    assert re.findall(r"^(\S+/\d+)", learned, re.M) == ["203.0.113.0/24"]
    assert next_hops(node) == set(BGP.values())  # ECMP in the kernel


def test_client_reaches_an_edge_on_the_anycast_address(node):
    assert served_by(node) in EDGES


def test_service_failure_withdraws_and_recovery_reannounces(node):
    chosen = served_by(node)
    node(chosen).check_output("systemctl stop nginx")
    try:
        took = wait_for(lambda: BGP[chosen] not in router_paths(node), timeout=10, step=0.05)
        print(f"withdrawn at the router {took:.2f}s after nginx stopped on {chosen}")
        assert served_by(node) != chosen
    finally:
        node(chosen).check_output("systemctl start nginx")
    back = wait_for(lambda: router_paths(node) == set(BGP.values()), timeout=15, step=0.05)
    print(f"re-announced {back:.2f}s after nginx started (rise interval)")
    assert back >= 0.5  # rise 5 x 0.2 s: never announced on the first good probe


def test_crash_of_the_service_withdraws(node):
    edge = "cdn-edge-sin"
    node(edge).check_output("systemctl kill -s KILL nginx")
    try:
        wait_for(lambda: BGP[edge] not in router_paths(node), timeout=10, step=0.05)
    finally:
        node(edge).run("systemctl reset-failed nginx; systemctl start nginx")


def test_garbage_udp_leaves_the_checker_and_the_routes_alone(node):
    """The checker holds no socket anyone else can reach (a DNS probe's is connected to loopback), so a
    flood of short datagrams at the edge's ports neither crashes it nor makes a route flap."""
    edge = "cdn-edge-fra"
    host = node(edge)
    pid = host.check_output("systemctl show -p MainPID --value perch-anycast-health.service")
    sockets = host.check_output(f"ss -Hanup | grep 'pid={pid},' || true")
    assert all(re.search(r"\s127\.0\.0\.1:\d+\s*users", s) for s in sockets.splitlines()), sockets
    since = sessions_since(node)
    targets = " ".join(f"'{a}'" for a in EDGES[edge])
    flood = (f"python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             f"for a in ({targets.replace(' ', ', ')}):\n"
             " for p in list(range(1, 1024)) + list(range(32768, 61000, 7)): s.sendto(b'\\x00\\x01', (a, p))\"")
    node(CLIENT).check_output(flood)
    assert host.check_output("systemctl show -p MainPID --value perch-anycast-health.service") == pid
    assert router_paths(node) == set(BGP.values()) and sessions_since(node) == since


GRACEFUL = "printf '# Managed by perch.cdn (anycast role, drain/undrain playbooks).\\ndefine PERCH_GRACEFUL = {};\\n'"


def test_drained_node_announces_graceful_shutdown_then_withdraws(node):
    edge = node("cdn-edge-fra")
    edge.check_output(GRACEFUL.format(1) + " > /etc/bird/perch-graceful.conf && birdc configure")
    try:
        wait_for(lambda: "(65535,0)" in node(ROUTER).run(
            "birdc show route all 203.0.113.0/24 protocol cdn_edge_fra").stdout, timeout=10)
        edge.check_output("touch /etc/bird/perch-drained")
        wait_for(lambda: BGP["cdn-edge-fra"] not in router_paths(node), timeout=10)
    finally:
        edge.check_output("rm -f /etc/bird/perch-drained; " + GRACEFUL.format(0) + " > /etc/bird/perch-graceful.conf"
                          " && birdc configure")


def test_converge_reconfigures_a_bird_left_on_an_older_config(node):
    """A run stopped after writing bird.conf and before `birdc configure` leaves BIRD on the previous
    configuration (here: one without the upstream session), and the rerun has no file left to
    change: it must reconfigure anyway, and the route comes back."""
    edge = node("cdn-edge-fra")
    edge.check_output("printf 'router id 198.19.8.21;\\nprotocol device {}\\n' > /run/perch-old.conf"
                      " && birdc 'configure \"/run/perch-old.conf\"' | grep -q Reconfigur")
    wait_for(lambda: BGP["cdn-edge-fra"] not in router_paths(node), timeout=15)
    edge.check_output("touch /etc/bird/bird.conf && rm /run/perch-old.conf")
    res = playbook("anycast.yml")
    assert res.returncode == 0, res.stdout[-2000:]
    assert "RUNNING HANDLER [perch.cdn.anycast : Reconfigure BIRD]" in res.stdout


def test_a_bird_conf_bird_rejects_never_replaces_the_live_one(node):
    """A setting BIRD cannot parse (a negative retry time) stops the run at `bird -p`, naming the file;
    the live bird.conf is the one from before and the session stays up."""
    edge = node("cdn-edge-sin")
    before = edge.check_output("sha256sum /etc/bird/bird.conf")
    res = playbook("anycast.yml", "-l", "cdn-edge-sin", "-e", "anycast_bgp_connect_retry=-1")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-2000:]
    assert "perch.cdn.files: file '/etc/bird/bird.conf': validate 'bird -p -c %s' refused" in out, out[-2000:]
    assert edge.check_output("sha256sum /etc/bird/bird.conf") == before
    assert not edge.check_output("ls -a /etc/bird").count(".perch-")
    assert BGP["cdn-edge-sin"] in router_paths(node)


def test_a_drifted_edge_alone_goes_through_the_rollout_and_is_repaired(node):
    """One edge lost its settings file and had its checker disabled by hand: the preview finds it,
    only it is touched, and it gets back the file and an enabled checker, announcing again."""
    edge = node("cdn-edge-nyc")
    edge.check_output("rm /etc/perch-anycast.json && systemctl disable perch-anycast-health")
    res = playbook("anycast.yml")
    assert res.returncode == 0, res.stdout[-2000:]
    assert changed(res.stdout, "cdn-edge-nyc")[0] > 0, res.stdout[-2000:]
    assert all(changed(res.stdout, e) == [0] for e in EDGES if e != "cdn-edge-nyc"), res.stdout[-2000:]
    for handler in ("Apply the anycast addresses", "Restart the anycast health checker"):
        assert re.search(rf"RUNNING HANDLER \[perch.cdn.anycast : {handler}\] \**\nchanged: \[cdn-edge-nyc\]",
                         res.stdout), handler
    assert edge.file("/etc/perch-anycast.json").exists
    assert edge.check_output("systemctl is-enabled perch-anycast-health; systemctl is-active perch-anycast-health"
                             ).split() == ["enabled", "active"]


def test_second_converge_changes_nothing_and_keeps_sessions(node):
    before = sessions_since(node)
    assert len(before) == len(EDGES)
    res = playbook("anycast.yml")
    assert res.returncode == 0, res.stdout[-2000:]
    assert set(re.findall(r"changed=(\d+)", res.stdout)) == {"0"}, res.stdout[-2000:]
    assert sessions_since(node) == before  # no session flapped
