"""Load the rendered zones into a real pdns_server (GeoIP backend) and ask it with dig +subnet.

Starts its own pdns_server on 127.0.0.1:<free port> with a temporary config dir and the test mmdb
from scripts/make-test-mmdb; skipped only when pdns_server (or dig) is not installed.
"""

import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from ansible_collections.perch.cdn.plugins.filter.cdn_nodes import cdn_nodes
from ansible_collections.perch.cdn.plugins.filter.geo_map import geo_map
from ansible_collections.perch.cdn.plugins.filter.pdns_geoip_zones import pdns_geoip_zones
from ansible_collections.perch.cdn.plugins.filter.serving_sites import serving_sites
from ansible_collections.perch.cdn.tests.unit.utils.pdns import DIG, PDNS, free_port, pdns_server

pytestmark = [
    pytest.mark.skipif(PDNS is None,
                       reason="pdns_server is not installed (apt install pdns-server pdns-backend-geoip)"),
    pytest.mark.skipif(DIG is None, reason="dig is not installed (apt install bind9-dnsutils)"),
]


def _load_example(root):
    inv = os.path.join(root, "inventories", "example")
    with open(os.path.join(inv, "group_vars", "all", "cdn.yml")) as f:
        gv = yaml.safe_load(f)
    with open(os.path.join(inv, "hosts.yml")) as f:
        hosts = yaml.safe_load(f)["all"]["children"]
    hostvars = {h: v for grp in hosts.values() for h, v in grp["hosts"].items()}
    groups = {g: sorted(v["hosts"]) for g, v in hosts.items()}
    return gv, hostvars, groups


@pytest.fixture(scope="module")
def example(root):
    gv, hostvars, groups = _load_example(root)
    edges = cdn_nodes(hostvars, groups["cdn_edges"])
    gm = geo_map(serving_sites(gv["cdn_sites"], edges), gv["cdn_policy"])
    ns = [{"name": n, "ipv4": hostvars[n]["cdn_ipv4"], "ipv6": hostvars[n].get("cdn_ipv6")} for n in groups["cdn_dns"]]
    zones = pdns_geoip_zones(gm, gv["cdn_zone"], edges, gv["cdn_services"], ns)
    return {"zone": gv["cdn_zone"], "geo_map": gm, "edges": edges, "zones": zones, "ns": ns}


@pytest.fixture(scope="module")
def pdns(example, root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pdns")
    mmdb = tmp / "test.mmdb"
    script = os.path.join(root, "scripts", "make-test-mmdb")
    subprocess.run([sys.executable, script, str(mmdb)], check=True)
    clients = json.loads(subprocess.run([sys.executable, script, str(mmdb), "--json"], check=True,
                                        capture_output=True, text=True).stdout)
    zones_file = tmp / "zones.yml"
    zones_file.write_text(yaml.safe_dump(example["zones"], default_flow_style=False))
    (tmp / "pdns.conf").write_text("")
    port = free_port()
    args = [
        f"--config-dir={tmp}", f"--socket-dir={tmp}", "--guardian=no", "--daemon=no", "--disable-syslog",
        "--write-pid=no", "--local-address=127.0.0.1", f"--local-port={port}", "--launch=geoip",
        f"--geoip-database-files=mmdb:{mmdb}", f"--geoip-zones-file={zones_file}", "--edns-subnet-processing=yes",
        "--cache-ttl=0", "--query-cache-ttl=0", "--negquery-cache-ttl=0",
    ]
    with pdns_server(args, tmp / "pdns.log") as proc:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"pdns_server exited with {proc.returncode}:\n{(tmp / 'pdns.log').read_text()}")
            r = subprocess.run([DIG, "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1",
                                example["zone"], "SOA"], capture_output=True, text=True, check=False)
            if r.returncode == 0 and r.stdout.strip():
                break
            if time.monotonic() > deadline:
                pytest.fail(f"pdns_server did not answer:\n{(tmp / 'pdns.log').read_text()}")
            time.sleep(0.2)
        yield {"port": port, "clients": clients, "log": tmp / "pdns.log"}


def dig(pdns, name, rtype, subnet=None):
    cmd = [DIG, "+short", "+time=2", "+tries=2", "-p", str(pdns["port"]), "@127.0.0.1", name, rtype]
    if subnet:
        cmd.insert(1, f"+subnet={subnet}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def expected_a(example, cc, family="ipv4"):
    site = example["geo_map"]["countries"][cc][0]
    return sorted(n[family] for n in example["edges"].values() if n["site"] == site and n["state"] == "active"
                  and n[family])


def first_host(subnet):
    # a client inside the subnet, sent as a /32 or /128 ECS option
    base = subnet.split("/")[0]
    return (base[:-1] + "1" if base.endswith("0") else base) if ":" not in base else base + "1"


def test_soa_ns_and_glue(pdns, example):
    zone = example["zone"]
    soa = dig(pdns, zone, "SOA")
    assert len(soa) == 1 and soa[0].startswith(f"ns1.{zone}. hostmaster.{zone}. ")
    assert dig(pdns, zone, "NS") == sorted(f"{n['name']}.{zone}." for n in example["ns"])
    assert dig(pdns, f"ns1.{zone}", "A") == ["192.0.2.53"]
    assert dig(pdns, f"ns1.{zone}", "AAAA") == ["2001:db8:1::53"]


@pytest.mark.parametrize("cc", ["DE", "US", "SG", "BR", "AU", "ZA", "JP", "GB"])
def test_service_answer_per_country(pdns, example, cc):
    subnet = next(k for k, v in pdns["clients"].items() if v["country"] == cc and ":" not in k)
    want = expected_a(example, cc)
    assert want, cc
    for svc in ("www", "deb", "download"):
        assert dig(pdns, f"{svc}.{example['zone']}", "A", subnet=f"{first_host(subnet)}/32") == want, (cc, svc)


def test_own_country_sites_are_answered(pdns, example):
    # the readable expectations, independent of the geo map
    zone = example["zone"]
    assert dig(pdns, f"www.{zone}", "A", subnet="198.51.100.1/32") == ["192.0.2.11", "192.0.2.12"]  # DE: fra1
    assert dig(pdns, f"www.{zone}", "A", subnet="198.51.100.65/32") == ["198.51.100.11", "198.51.100.12"]  # US
    assert dig(pdns, f"www.{zone}", "A", subnet="198.51.100.129/32") == ["192.0.2.41"]  # SG: sin1
    assert dig(pdns, f"www.{zone}", "AAAA", subnet="198.51.100.129/32") == ["2001:db8:41::41"]


def test_ipv6_clients(pdns, example):
    zone = example["zone"]
    for subnet, cc in (("2001:db8:a::1/128", "DE"), ("2001:db8:b::1/128", "US"), ("2001:db8:c::1/128", "SG")):
        assert dig(pdns, f"www.{zone}", "A", subnet=subnet) == expected_a(example, cc)
        assert dig(pdns, f"www.{zone}", "AAAA", subnet=subnet) == expected_a(example, cc, "ipv6")


def test_unknown_country_falls_back_to_default(pdns, example):
    # 203.0.113.0/24 is not in the test database: country and continent unknown
    site = example["geo_map"]["default"][0]
    want = sorted(n["ipv4"] for n in example["edges"].values() if n["site"] == site and n["state"] == "active")
    assert dig(pdns, f"www.{example['zone']}", "A", subnet="203.0.113.9/32") == want


def test_whoami_txt(pdns, example):
    zone = example["zone"]
    assert dig(pdns, f"whoami.{zone}", "TXT", subnet="198.51.100.7/32") == [
        '"ip 198.51.100.7 country de city frankfurt am main as 64501"']
    assert dig(pdns, f"whoami.{zone}", "TXT", subnet="192.0.2.130/32") == [
        '"ip 192.0.2.130 country jp city tokyo as 64507"']
    assert dig(pdns, f"whoami.{zone}", "TXT", subnet="203.0.113.9/32") == [
        '"ip 203.0.113.9 country unknown city unknown as unknown"']


def test_site_names(pdns, example):
    assert dig(pdns, f"sin1.site.{example['zone']}", "A") == ["192.0.2.41"]
    # the drained site has no edge: no name
    assert dig(pdns, f"hel1.site.{example['zone']}", "A") == []
