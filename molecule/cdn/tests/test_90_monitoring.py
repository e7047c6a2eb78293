"""Monitoring without logs (perch.cdn.monitoring, playbooks/monitoring.yml in site.yml): Prometheus, Alertmanager
and the probes on cdn-origin (the cdn_monitoring group), exporters and mtail on the nodes. Checked the way an
operator would: Prometheus's and Alertmanager's APIs, the status page in a real browser, status.yml."""

import json
import re
import shutil
import subprocess
import time
import uuid

import pytest
from cdn import CLIENT, CLIENT_B, DNS, EDGES, INV, IP, ORIGIN, ROOT, ZONE, playbook, podman, wait_for

KEY = ROOT / ".cache" / "lab-ssh" / "id_ed25519"
SSH = ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"]


def prom(node, query):
    """Prometheus's instant query result: [(labels, value)]."""
    out = node(ORIGIN).check_output(
        "curl -sf --get --data-urlencode %s http://127.0.0.1:9090/api/v1/query", f"query={query}")
    return [(r["metric"], float(r["value"][1])) for r in json.loads(out)["data"]["result"]]


def firing(node, alertname):
    """Alerts Alertmanager holds under that name: [labels]."""
    out = node(ORIGIN).check_output(
        "curl -sf --get --data-urlencode %s http://127.0.0.1:9093/api/v2/alerts", f'filter=alertname="{alertname}"')
    return [a["labels"] for a in json.loads(out) if a["status"]["state"] == "active"]


def mtail(node, edge, service):
    """{cache status: requests} of a service, as the edge's mtail counts them."""
    out = node(edge).check_output("curl -sf http://127.0.0.1:3903/metrics")
    counts = {}
    for status, value in re.findall(
            rf'^perch_edge_requests_total{{cache_status="([^"]+)",service="{service}",status_class="\dxx"}} (\d+)', out,
            re.M):
        counts[status] = counts.get(status, 0) + int(value)
    return counts


def test_prometheus_scrapes_every_exporter_and_probe(node):
    def all_up():
        out = json.loads(node(ORIGIN).check_output("curl -sf http://127.0.0.1:9090/api/v1/targets"))
        targets = out["data"]["activeTargets"]
        return targets and all(t["health"] == "up" for t in targets)

    wait_for(all_up, timeout=60, step=2)
    scraped = {(m["job"], m["node"]) for m, _v in prom(node, "up == 1") if "node" in m}
    for edge in EDGES:
        assert {(j, edge) for j in ("node", "nginx", "bird", "edge_stats")} <= scraped
    for dns in DNS:
        assert {("node", dns), ("pdns", dns)} <= scraped
    probes = {(m["job"], m.get("node") or m.get("anycast"), m.get("service"))
              for m, v in prom(node, "probe_success") if v}
    for edge in EDGES:
        assert {("probe_edge", edge, s) for s in ("www", "deb", "download")} <= probes, probes
    assert {("probe_anycast", "203.0.113.1", s) for s in ("www", "deb", "download")} <= probes
    assert {("probe_dns", d, None) for d in DNS} <= probes
    # both DNS servers serve the same zone, and every certificate is the one the tls role deployed
    assert len({v for _m, v in prom(node, 'probe_dns_serial{job="probe_dns"}')}) == 1
    days = [v for _m, v in prom(node, '(probe_ssl_earliest_cert_expiry{job="probe_edge"} - time()) / 86400')]
    assert len(days) == len(EDGES) * 3 and all(20 < d < 400 for d in days), days


def test_alert_rules_pass_their_promtool_tests(node):
    out = node(ORIGIN).run("promtool test rules /etc/prometheus/perch/alerts.test.yml")
    assert out.rc == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_exporters_answer_the_monitoring_host_only(node):
    edge = IP["cdn-edge-sin"]
    dns = IP["cdn-dns1"]
    for port in (9100, 9113, 9324, 3903):
        assert node(ORIGIN).run(f"curl -sf -m 3 -o /dev/null http://{edge}:{port}/metrics").rc == 0, port
        # dropped: a second is plenty on this network
        assert node(CLIENT).run(f"curl -sf -m 1 -o /dev/null http://{edge}:{port}/metrics").rc != 0, port
    assert "pdns_auth_udp_queries" in node(ORIGIN).check_output(f"curl -sf -m 3 http://{dns}:8081/metrics")
    assert node(CLIENT).run(f"curl -sf -m 1 -o /dev/null http://{dns}:8081/metrics").rc != 0
    # Prometheus and Alertmanager listen on the monitoring host's loopback only
    for port in (9090, 9093, 9115):
        assert node(CLIENT).run(f"curl -sf -m 1 -o /dev/null http://{IP[ORIGIN]}:{port}/").rc != 0, port


def test_hit_ratio_counts_what_the_client_was_served(node):
    """A browser-like client (one keep-alive connection) asks an edge for a fresh URL 30 times: the edge's
    counters move by what the client saw in X-Cache-Status (the monitoring probes may add a request or two),
    and Prometheus gets them."""
    edge = "cdn-edge-sin"
    url = f"http://www.{ZONE}/?monitoring-{uuid.uuid4().hex}"
    before = mtail(node, edge, "www")
    out = node(CLIENT).check_output(
        f"curl -s -o /dev/null -D - --resolve www.{ZONE}:80:{IP[edge]} " + " ".join([f"'{url}'"] * 30))
    seen = {}
    for status in re.findall(r"(?im)^x-cache-status:\s*(\S+)", out):
        seen[status.upper()] = seen.get(status.upper(), 0) + 1
    assert sum(seen.values()) == 30 and seen.get("MISS") == 1 and seen.get("HIT", 0) >= 25, seen
    # nginx writes the lines in 64 KiB buffers flushed every second; mtail reads within 250 ms
    state = {}

    def counted():
        state["after"] = mtail(node, edge, "www")
        state["delta"] = {s: state["after"].get(s, 0) - before.get(s, 0) for s in set(state["after"]) | set(before)}
        return all(state["delta"].get(s, 0) >= n for s, n in seen.items())

    wait_for(counted, timeout=10, step=0.5)
    after, delta = state["after"], state["delta"]
    for status, count in seen.items():
        assert count <= delta.get(status, 0) <= count + 2, (status, seen, delta)
    assert sum(v for s, v in delta.items() if s != "-") <= 30 + 2, delta

    def prometheus_has_them():
        got = {m["cache_status"]: v for m, v in prom(
            node, f'sum by (cache_status) (perch_edge_requests_total{{node="{edge}", service="www"}})')}
        return all(got.get(s, 0) >= n for s, n in after.items())

    wait_for(prometheus_has_them, timeout=20, step=1)
    ratio = prom(node, f'perch:edge_hit_ratio:rate5m{{node="{edge}"}}')
    assert ratio and 0 < ratio[0][1] <= 1


def test_no_metric_and_no_file_carries_the_client_address(node):
    names = json.loads(node(ORIGIN).check_output("curl -sf http://127.0.0.1:9090/api/v1/labels"))["data"]
    values = []
    for name in names:
        out = node(ORIGIN).check_output(f"curl -sf http://127.0.0.1:9090/api/v1/label/{name}/values")
        values += json.loads(out)["data"]
    assert values and not [v for v in values if IP[CLIENT] in v or CLIENT_B in v]
    for edge in EDGES:
        metrics = node(edge).check_output("curl -sf http://127.0.0.1:3903/metrics")
        assert "perch_edge_requests_total" in metrics and IP[CLIENT] not in metrics
        assert node(edge).check_output("find /var/log/nginx -name 'access*'") == ""
    res = playbook("privacy_report.yml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr


def test_stopping_nginx_on_an_edge_fires_edge_down_within_60_seconds(node):
    edge = "cdn-edge-sin"
    wait_for(lambda: not firing(node, "PerchEdgeDown"), timeout=60, step=2)
    node(edge).check_output("systemctl stop nginx")
    try:
        took = wait_for(lambda: any(a.get("node") == edge for a in firing(node, "PerchEdgeDown")), timeout=60, step=1)
        print(f"PerchEdgeDown for {edge} in Alertmanager {took:.1f} s after nginx stopped")
        assert [a["node"] for a in firing(node, "PerchEdgeDown")] == [edge]
    finally:
        node(edge).check_output("systemctl start nginx")
    wait_for(lambda: not prom(node, f'ALERTS{{alertname="PerchEdgeDown", node="{edge}"}}'), timeout=60, step=1)
    # the edge is back in GeoDNS and anycast before the next check
    health = f"curl -sf -o /dev/null -H 'Host: www.{ZONE}' http://127.0.0.1/.perch/health"
    wait_for(lambda: node(edge).run(health).rc == 0, timeout=60, step=1)


def test_a_publish_an_edge_cannot_see_shows_as_its_metadata_lag(node):
    """nyc loses its upstream (shield and origin answer resets); a publish without purge reaches the others when
    they revalidate InRelease (4 s), while nyc keeps serving its stale copy: its lag shows, then the alert."""
    edge = "cdn-edge-nyc"
    upstreams = f"{IP[ORIGIN]}, {IP['cdn-edge-fra']}, 198.18.8.2"  # origin, shield, backup mirror
    block = ("nft -f - <<'EOF'\ntable inet perch_test {\n chain out {\n  type filter hook output priority -5;\n"
             f"  ip daddr {{ {upstreams} }} tcp dport {{ 80, 443 }} reject with tcp reset\n }}\n}}\nEOF")
    node(edge).check_output(block)
    try:
        time.sleep(1.1)  # InRelease's Date has a resolution of a second
        node(ORIGIN).check_output("perch-repo-publish --no-purge")

        def lagging():
            same = {m["edge"]: v for m, v in prom(node, "perch_apt_inrelease_same_as_origin")}
            lag = {m["edge"]: v for m, v in prom(node, "perch_apt_metadata_lag_seconds")}
            return same.get(edge) == 0 and lag.get(edge, 0) > 0 and all(
                same.get(e) == 1 for e in EDGES if e != edge)

        took = wait_for(lagging, timeout=60, step=1)
        print(f"{edge}'s metadata lag visible {took:.1f} s after the publish")
        wait_for(lambda: [a.get("edge") for a in firing(node, "PerchAptMetadataLag")] == [edge], timeout=90, step=2)
    finally:
        node(edge).check_output("nft delete table inet perch_test")
    wait_for(lambda: {m["edge"]: v for m, v in prom(node, "perch_apt_inrelease_same_as_origin")}.get(edge) == 1,
             timeout=60, step=1)


def test_status_page_in_a_real_browser_through_an_ssh_tunnel(node, tmp_path):
    """As the README tells an operator: ssh -L to the monitoring host, then the page in a browser."""
    port = 19090
    tunnel = subprocess.Popen(["ssh", "-i", str(KEY), *SSH, "-o", "ExitOnForwardFailure=yes", "-N",
                               "-L", f"{port}:127.0.0.1:9090", f"root@{IP[ORIGIN]}"])
    try:
        wait_for(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/-/ready"],
                                        check=False).returncode == 0, timeout=20, step=0.5)
        chromium = shutil.which("chromium")
        assert chromium, "chromium is not installed (scripts/bootstrap installs it)"
        page = f"http://127.0.0.1:{port}/consoles/perch.html"
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        dom = subprocess.run([*args, "--dump-dom", page], capture_output=True, text=True, timeout=60, check=True).stdout
        for edge in EDGES:
            row = re.search(rf'<tr id="edge-{edge}">(.*?)</tr>', dom, re.S)
            assert row, edge
            assert ">up<" in row.group(1), row.group(1)
        for dns in DNS:
            assert f'id="dns-{dns}"' in dom
        shot = ROOT / ".cache" / "status.png"
        subprocess.run([*args, "--window-size=1280,800", f"--screenshot={shot}", page], capture_output=True,
                       timeout=60, check=True)
        assert shot.stat().st_size > 10000
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def test_status_playbook_prints_every_edge_and_dns_server():
    res = playbook("status.yml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    for name in [*EDGES, *DNS]:
        assert re.search(rf"^\s+{name}\s", res.stdout, re.M), name


def test_bad_monitoring_input_is_refused_naming_the_variable(tmp_path):
    res = playbook("monitoring.yml", "-e", json.dumps({"monitoring_alert_thresholds": {"hit_ratio_mni": 0.5}}))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "hit_ratio_mni" in out and "monitoring_alert_thresholds" in out, out[-3000:]
    res = playbook("monitoring.yml", "-e", json.dumps({"monitoring_alert_thresholds": {"hit_ratio_min": 1.5}}))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "monitoring_alert_thresholds.hit_ratio_min" in out, out[-3000:]
    # an inventory whose cdn_monitoring group has no host
    inv = tmp_path / "inventory"
    shutil.copytree(INV, inv, symlinks=True)
    hosts = inv / "hosts.yml"
    hosts.write_text(re.sub(r"    cdn_monitoring:\n      hosts:\n        cdn-origin:\n", "    cdn_monitoring:\n",
                            hosts.read_text()))
    res = playbook("monitoring.yml", "--limit", "cdn-edge-sin", inventory=inv)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "cdn_monitoring" in out and "no host" in out, out[-3000:]


def test_an_edge_comes_back_monitored_after_a_reboot(node):
    """Every piece starts from systemd: after a reboot the edge's exporters answer again, its statistics file is
    there and counted, and its firewall keeps the client out."""
    edge = "cdn-edge-fra2"
    restarted = time.time()
    podman("restart", "--time", "20", edge)
    # podman gives the restarted container a new MAC and announces none (a server keeps its NIC's): the
    # neighbours forget the old one
    for other in [ORIGIN, CLIENT, "cdn-router", *DNS, *(e for e in EDGES if e != edge)]:
        podman("exec", other, "sh", "-c", f"ip neigh flush to {IP[edge]}; ip neigh flush to {EDGES[edge][1]}; true",
               capture_output=True)
    subprocess.run(["ip", "neigh", "flush", "to", IP[edge]], check=False)

    def scraped():
        """Every exporter of the edge answers Prometheus; node exporter and mtail (the ones that tell) are
        processes started after the reboot."""
        jobs = {"node", "nginx", "bird", "edge_stats"}
        up = {m["job"]: v for m, v in prom(node, f'up{{node="{edge}"}}')}
        started = {m["job"]: v for m, v in prom(node, f'process_start_time_seconds{{node="{edge}"}}')}
        return (set(up) >= jobs and all(v == 1 for v in up.values())
                and all(started.get(j, 0) > restarted for j in ("node", "edge_stats")))

    took = wait_for(scraped, timeout=120, step=2)
    print(f"{edge} scraped again {took:.1f} s after the restart")
    before = mtail(node, edge, "www").get("MISS", 0)
    node(CLIENT).check_output(f"curl -sf -o /dev/null --resolve www.{ZONE}:80:{IP[edge]} "
                              f"'http://www.{ZONE}/?reboot-{uuid.uuid4().hex}'")
    wait_for(lambda: mtail(node, edge, "www").get("MISS", 0) == before + 1, timeout=10, step=0.5)
    assert node(CLIENT).run(f"curl -sf -m 1 -o /dev/null http://{IP[edge]}:9100/metrics").rc != 0


@pytest.fixture(autouse=True, scope="module")
def alertmanager_is_quiet_at_the_end(node):
    yield
    # what the checks broke is back: no edge-down alert stays
    wait_for(lambda: not prom(node, 'ALERTS{alertname="PerchEdgeDown", alertstate="firing"}'), timeout=60, step=2)
