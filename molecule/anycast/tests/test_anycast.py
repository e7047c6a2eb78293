"""Anycast as an operator sees it: the router's table, a client on the anycast address, failover."""

import os
import re
import subprocess
import time

EDGES = {"anycast-edge1": "198.19.4.11", "anycast-edge2": "198.19.4.12"}
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def router_paths(node):
    """Next hops the router has for the anycast prefix."""
    out = node("anycast-router").run("birdc show route 203.0.113.0/24").stdout
    return set(re.findall(r"via (198\.19\.4\.\d+)", out))


def wait_for(cond, timeout=15.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def served_by(node):
    return node("anycast-client").check_output("curl -sf --max-time 3 http://203.0.113.1/").strip()


def sessions_since(node):
    out = node("anycast-router").check_output("birdc show protocols")
    return {m[0]: m[1] for m in re.findall(r"^(anycast_edge\d)\s+BGP\s+\S+\s+up\s+(\S+)", out, re.M)}


def test_router_learns_the_prefix_from_both_edges_and_nothing_else(node):
    wait_for(lambda: router_paths(node) == set(EDGES.values()))
    learned = node("anycast-router").check_output("birdc show route protocol anycast_edge1")
    assert re.findall(r"^(\S+/\d+)", learned, re.M) == ["203.0.113.0/24"]
    kernel = node("anycast-router").check_output("ip route show 203.0.113.0/24")
    assert "198.19.4.11" in kernel and "198.19.4.12" in kernel  # ECMP in the kernel


def test_client_reaches_an_edge_on_the_anycast_address(node):
    assert served_by(node) in EDGES


def test_service_failure_withdraws_and_recovery_reannounces(node):
    chosen = served_by(node)
    other = next(e for e in EDGES if e != chosen)
    node(chosen).check_output("systemctl stop nginx")
    try:
        took = wait_for(lambda: router_paths(node) == {EDGES[other]}, timeout=10)
        print(f"withdrawn at the router {took:.2f}s after nginx stopped on {chosen}")
        assert served_by(node) == other
    finally:
        node(chosen).check_output("systemctl start nginx")
    back = wait_for(lambda: router_paths(node) == set(EDGES.values()), timeout=15)
    print(f"re-announced {back:.2f}s after nginx started (rise interval)")
    assert back >= 0.5  # rise 5 x 0.2 s: never announced on the first good probe


def test_crash_of_the_service_withdraws(node):
    node("anycast-edge2").check_output("systemctl kill -s KILL nginx")
    try:
        wait_for(lambda: EDGES["anycast-edge2"] not in router_paths(node), timeout=10)
    finally:
        node("anycast-edge2").run("systemctl reset-failed nginx; systemctl start nginx")
    wait_for(lambda: router_paths(node) == set(EDGES.values()), timeout=15)


GRACEFUL = "printf '# Managed by perch.cdn (anycast role, drain/undrain playbooks).\\ndefine PERCH_GRACEFUL = {};\\n'"


def test_drained_node_announces_graceful_shutdown_then_withdraws(node):
    edge = node("anycast-edge1")
    edge.check_output(GRACEFUL.format(1) + " > /etc/bird/perch-graceful.conf && birdc configure")
    try:
        wait_for(lambda: "(65535,0)" in node("anycast-router").run(
            "birdc show route all 203.0.113.0/24 protocol anycast_edge1").stdout, timeout=10)
        edge.check_output("touch /etc/bird/perch-drained")
        wait_for(lambda: router_paths(node) == {EDGES["anycast-edge2"]}, timeout=10)
    finally:
        edge.check_output("rm -f /etc/bird/perch-drained; " + GRACEFUL.format(0) + " > /etc/bird/perch-graceful.conf"
                          " && birdc configure")
    wait_for(lambda: router_paths(node) == set(EDGES.values()), timeout=15)


def test_converge_reconfigures_a_bird_left_on_an_older_config(node):
    """A run stopped after writing bird.conf and before `birdc configure` leaves BIRD on the previous
    configuration (here: one without the upstream session), and the rerun has no file left to
    change: it must reconfigure anyway, and the route comes back."""
    edge = node("anycast-edge1")
    edge.check_output("printf 'router id 198.19.4.11;\\nprotocol device {}\\n' > /run/perch-old.conf"
                      " && birdc 'configure \"/run/perch-old.conf\"' | grep -q Reconfigur")
    wait_for(lambda: router_paths(node) == {EDGES["anycast-edge2"]}, timeout=15)
    edge.check_output("touch /etc/bird/bird.conf && rm /run/perch-old.conf")
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    cmd = ["ansible-playbook", "-i", os.path.join(eph, "inventory"), os.path.join(SCENARIO, "converge.yml")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "RUNNING HANDLER [perch.cdn.anycast : Reconfigure BIRD]" in res.stdout
    wait_for(lambda: router_paths(node) == set(EDGES.values()), timeout=30)


def test_second_converge_changes_nothing_and_keeps_sessions(node):
    before = sessions_since(node)
    assert len(before) == 2
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    cmd = ["ansible-playbook", "-i", os.path.join(eph, "inventory"), os.path.join(SCENARIO, "converge.yml")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:]
    assert re.findall(r"changed=(\d+)", res.stdout) == ["0", "0"]
    assert sessions_since(node) == before  # no session flapped
