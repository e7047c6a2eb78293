"""The whole CDN as an operator runs it: drain, undrain, evacuate and a broken rollout while a
client keeps requesting over anycast and by GeoDNS name. Tests run in file order."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
INV = ROOT / "molecule" / "cdn" / "inventory"
ZONE = "cdn.test.example"
DNS = "198.18.8.31"
DNS2 = "198.18.8.32"
ANYCAST = "203.0.113.1"
EDGES = {"cdn-edge-fra": ("198.18.8.21", "198.19.8.21"), "cdn-edge-nyc": ("198.18.8.22", "198.19.8.22"),
         "cdn-edge-sin": ("198.18.8.23", "198.19.8.23")}
ECS = {"DE": "198.51.100.7/32", "US": "198.51.100.70/32", "SG": "198.51.100.130/32"}
CLIENT, ROUTER = "cdn-client", "cdn-router"
EVACUATIONS = INV / "group_vars" / "all" / "cdn_evacuations.yml"


def playbook(name, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), MOLECULE_PROJECT_DIRECTORY=str(ROOT))
    cmd = ["ansible-playbook", "-i", str(INV), str(ROOT / "playbooks" / name), *args]
    start = time.monotonic()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    res.seconds = time.monotonic() - start
    return res


def answers(node, country, server=DNS):
    return set(node(CLIENT).check_output(
        f"dig +short +subnet={ECS[country]} @{server} A www.{ZONE}").split())


def next_hops(node):
    return set(re.findall(r"via (198\.19\.8\.\d+)", node(ROUTER).check_output("ip route show 203.0.113.0/24")))


def wait_for(cond, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.5)
    return cond()


@pytest.fixture(scope="module", autouse=True)
def restore_inventory():
    evacuations = EVACUATIONS.read_text()
    yield
    EVACUATIONS.write_text(evacuations)
    for edge in EDGES:
        (INV / "host_vars" / edge / "cdn_state.yml").unlink(missing_ok=True)


class Load:
    """The client requests www continuously, over anycast and by the GeoDNS answer for a German
    user, and counts every request that fails."""

    SCRIPT = """
rm -f /tmp/load.*
end=$((SECONDS + {limit})); ok=0; fail=0
while [ $SECONDS -lt $end ] && [ ! -e /tmp/load.stop ]; do
  if curl -sf -o /dev/null --max-time 3 -H 'Host: www.{zone}' http://{anycast}/; then ok=$((ok + 1))
  else fail=$((fail + 1)); echo "$(date +%T.%N) anycast" >> /tmp/load.failures; fi
  ip=$(dig +short +time=1 +tries=2 +subnet={ecs} @{dns} A www.{zone} | head -1)
  if curl -sf -o /dev/null --max-time 3 --resolve www.{zone}:80:$ip http://www.{zone}/; then ok=$((ok + 1))
  else fail=$((fail + 1)); echo "$(date +%T.%N) dns $ip" >> /tmp/load.failures; fi
  sleep 0.05
done
echo "$ok $fail" > /tmp/load.done
"""

    def __init__(self, node, limit=600):
        self.node = node
        script = self.SCRIPT.format(limit=limit, zone=ZONE, anycast=ANYCAST, ecs=ECS["DE"], dns=DNS)
        subprocess.run(["podman", "exec", "-i", CLIENT, "sh", "-c", "cat > /usr/local/bin/perch-load"],
                       input=script.encode(), check=True)
        node(CLIENT).check_output("rm -f /tmp/load.*; nohup bash /usr/local/bin/perch-load >/dev/null 2>&1 &")

    def stop(self):
        self.node(CLIENT).check_output("touch /tmp/load.stop")
        assert wait_for(lambda: self.node(CLIENT).run("test -s /tmp/load.done").rc == 0, 30)
        ok, fail = map(int, self.node(CLIENT).check_output("cat /tmp/load.done").split())
        failures = self.node(CLIENT).run("cat /tmp/load.failures").stdout
        return ok, fail, failures


def test_site_built_the_cdn(node):
    assert answers(node, "DE") == {EDGES["cdn-edge-fra"][0]}
    assert answers(node, "US") == {EDGES["cdn-edge-nyc"][0]}
    assert answers(node, "SG", server=DNS2) == {EDGES["cdn-edge-sin"][0]}
    assert wait_for(lambda: next_hops(node) == {bgp for _, bgp in EDGES.values()})
    out = node(CLIENT).check_output(f"curl -s -D - -o /dev/null -H 'Host: www.{ZONE}' http://{ANYCAST}/")
    assert re.search(r"(?im)^x-cache-status: \w+", out)


def test_https_with_http2_through_every_edge(node):
    ca = (ROOT / ".cache" / "cdn-tls" / "labca.pem").read_bytes()
    subprocess.run(["podman", "exec", "-i", CLIENT, "sh", "-c", "cat > /usr/local/share/perch/labca.pem"],
                   input=ca, check=True)
    for unicast, _ in EDGES.values():
        out = node(CLIENT).check_output(
            f"curl -s -o /dev/null -w '%{{http_code}} %{{http_version}}' --cacert /usr/local/share/perch/labca.pem"
            f" --resolve www.{ZONE}:443:{unicast} https://www.{ZONE}/")
        assert out == "200 2"


def test_refuses_to_drain_every_edge(node):
    res = playbook("drain.yml", "-l", "cdn_edges")
    assert res.returncode != 0
    assert "perch.cdn" in res.stdout
    assert not any((INV / "host_vars" / edge / "cdn_state.yml").exists() for edge in EDGES)


def test_drain_with_zero_failed_requests(node):
    load = Load(node)
    time.sleep(3)
    res = playbook("drain.yml", "-l", "cdn-edge-fra")
    ok, fail, failures = load.stop()
    print(f"drain: {res.seconds:.1f} s, {ok} requests served, {fail} failed")
    assert res.returncode == 0, res.stdout[-3000:]
    assert fail == 0, failures
    assert ok > 50
    fra_ip, fra_bgp = EDGES["cdn-edge-fra"]
    for country in ECS:
        assert fra_ip not in answers(node, country) | answers(node, country, server=DNS2)
    assert answers(node, "DE") == {EDGES["cdn-edge-nyc"][0]}
    assert fra_bgp not in next_hops(node)
    assert (INV / "host_vars" / "cdn-edge-fra" / "cdn_state.yml").exists()


def test_site_yml_keeps_the_drained_state(node):
    res = playbook("site.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert EDGES["cdn-edge-fra"][0] not in answers(node, "DE")
    time.sleep(2)
    assert EDGES["cdn-edge-fra"][1] not in next_hops(node)


def test_undrain_brings_it_back(node):
    res = playbook("undrain.yml", "-l", "cdn-edge-fra")
    assert res.returncode == 0, res.stdout[-3000:]
    assert answers(node, "DE") == {EDGES["cdn-edge-fra"][0]}
    assert wait_for(lambda: EDGES["cdn-edge-fra"][1] in next_hops(node))


def test_evacuate_a_country_from_a_site_and_back(node):
    res = playbook("evacuate.yml", "-e", "country=DE", "-e", "away_from=fra")
    assert res.returncode == 0, res.stdout[-3000:]
    assert EDGES["cdn-edge-fra"][0] not in answers(node, "DE")
    assert answers(node, "DE") == {EDGES["cdn-edge-nyc"][0]}
    assert answers(node, "SG") == {EDGES["cdn-edge-sin"][0]}
    # only DNS changed: the site still serves over anycast
    assert EDGES["cdn-edge-fra"][1] in next_hops(node)
    res = playbook("evacuate.yml", "-e", "country=DE", "-e", "away_from=fra", "-e", "undo=true")
    assert res.returncode == 0, res.stdout[-3000:]
    assert answers(node, "DE") == {EDGES["cdn-edge-fra"][0]}


def test_broken_rollout_stops_after_the_first_batch(node):
    res = playbook("edges.yml", "-e", "cache_edge_extra_http_config='perch_broken_directive on;'")
    assert res.returncode != 0
    # every edge is previewed at once in check mode; the rollout starts at its own plays (every
    # edge serves, so the one for edges that serve nothing yet has no hosts)
    rollout = res.stdout.split("PLAY [Cache edges that serve nothing yet", 1)[1]
    touched = set(re.findall(r"(?m)^(?:ok|changed|fatal): \[(cdn-edge-\w+)\]", rollout))
    assert len(touched) == 1, touched
    for unicast, _ in EDGES.values():
        code = node(CLIENT).check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' --resolve www.{ZONE}:80:{unicast} http://www.{ZONE}/")
        assert code == "200"
    assert next_hops(node) == {bgp for _, bgp in EDGES.values()}
