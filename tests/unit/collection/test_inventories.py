"""inventories/example and inventories/lab pass playbooks/validate.yml; the example uses documentation addresses."""

import os
import shutil
import subprocess
import sys

import netaddr
import pytest
import yaml
from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS

DOC_NETS = [netaddr.IPNetwork(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
_VENV_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
PLAYBOOK = shutil.which("ansible-playbook") or (_VENV_PLAYBOOK if os.path.exists(_VENV_PLAYBOOK) else None)


def _env(root, collections_path):
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    return env


def _addresses(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _addresses(v)
    elif isinstance(value, list):
        for v in value:
            yield from _addresses(v)
    elif isinstance(value, str):
        try:
            yield netaddr.IPNetwork(value)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return


def test_example_uses_only_documentation_addresses(root):
    inv = os.path.join(root, "inventories", "example")
    found = 0
    for dirpath, _dirs, files in os.walk(inv):
        for f in files:
            if f.endswith((".yml", ".yaml")):
                with open(os.path.join(dirpath, f)) as fh:
                    for net in _addresses(yaml.safe_load(fh)):
                        found += 1
                        assert any(net in doc for doc in DOC_NETS), f"{f}: {net} is not a documentation address"
    assert found > 20


def test_example_is_multi_continent(root):
    with open(os.path.join(root, "inventories", "example", "group_vars", "all", "cdn.yml")) as f:
        gv = yaml.safe_load(f)
    with open(os.path.join(root, "inventories", "example", "hosts.yml")) as f:
        groups = yaml.safe_load(f)["all"]["children"]
    sites = gv["cdn_sites"]
    assert 8 <= len(sites) <= 12
    assert len({s["continent"] for s in sites.values()}) >= 5
    assert {s["continent"] for s in sites.values()} <= set(CONTINENTS)
    assert len({s["provider"] for s in sites.values()}) >= 2
    assert len(groups["cdn_dns"]["hosts"]) >= 3 and groups["cdn_origin"]["hosts"]


@pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not on PATH")
@pytest.mark.parametrize("inventory", ["lab", "example"])
def test_validate_playbook_passes(root, collections_path, inventory):
    r = subprocess.run([PLAYBOOK, "-i", os.path.join(root, "inventories", inventory),
                        os.path.join(root, "playbooks", "validate.yml")],
                       capture_output=True, text=True, env=_env(root, collections_path), cwd=root, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not on PATH")
def test_validate_playbook_fails_loudly(root, collections_path, tmp_path):
    inv = tmp_path / "inv"
    shutil.copytree(os.path.join(root, "inventories", "example"), inv)
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("cdn_site: gru1, cdn_ipv4: 198.51.100.41",
                                               "cdn_site: gru1, cdn_ipv4: 198.51.100.410"))
    r = subprocess.run([PLAYBOOK, "-i", str(inv), os.path.join(root, "playbooks", "validate.yml")],
                       capture_output=True, text=True, env=_env(root, collections_path), cwd=root, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert ("perch.cdn.cdn_model: node 'edge-gru1-1': field 'cdn_ipv4': "
            "'198.51.100.410' is not an IPv4 address") in out


@pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not on PATH")
@pytest.mark.parametrize("inventory", ["lab", "example"])
def test_jinja_render_matches_python(root, collections_path, tmp_path, inventory):
    """The filters chained in Jinja (as the geodns role does) give the same zones as the Python API."""
    from ansible_collections.perch.cdn.plugins.filter.cdn_nodes import cdn_nodes
    from ansible_collections.perch.cdn.plugins.filter.geo_map import geo_map
    from ansible_collections.perch.cdn.plugins.filter.pdns_geoip_zones import pdns_geoip_zones
    from ansible_collections.perch.cdn.plugins.filter.serving_sites import serving_sites

    out = tmp_path / "zones.yml"
    inv = os.path.join(root, "inventories", inventory)
    playbook = os.path.join(root, "tests", "unit", "collection", "render_zones.yml")
    r = subprocess.run([PLAYBOOK, "-i", inv, playbook, "-e", f"perch_test_out={out}"],
                       capture_output=True, text=True, env=_env(root, collections_path), cwd=root, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    rendered = yaml.safe_load(out.read_text())

    with open(os.path.join(inv, "group_vars", "all", "cdn.yml")) as f:
        gv = yaml.safe_load(f)
    with open(os.path.join(inv, "hosts.yml")) as f:
        groups = yaml.safe_load(f)["all"]["children"]
    # groups made only of other groups (perch_lab) have no hosts of their own
    hostvars = {h: v or {} for g in groups.values() for h, v in (g.get("hosts") or {}).items()}
    edges = cdn_nodes(hostvars, list(groups["cdn_edges"]["hosts"]))
    dns = cdn_nodes(hostvars, list(groups["cdn_dns"]["hosts"]))
    want = pdns_geoip_zones(geo_map(serving_sites(gv["cdn_sites"], edges), gv["cdn_policy"]),
                            gv["cdn_zone"], edges, gv["cdn_services"], dns)
    assert rendered == want
