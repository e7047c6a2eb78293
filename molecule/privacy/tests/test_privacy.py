"""Central logs as the privacy policy promises: aggregated reports, anonymised, shredded after retention."""

import json

ORIGIN = "privacy-origin"


def test_report_counts_the_requests_that_reached_the_origin(node):
    origin, client = node(ORIGIN), node("privacy-client")
    origin.check_output("truncate -s 0 /var/log/nginx/access.log")
    for i in range(25):
        client.check_output(f"curl -sf -o /dev/null http://198.18.6.10/?n={i}")
    origin.check_output("systemctl start perch-log-report.service")
    report = json.loads(origin.file("/var/lib/perch/reports/report.json").content_string)
    assert report["general"]["total_requests"] == 25
    assert report["general"]["unique_visitors"] == 1
    # the country panel comes from the same mmdb the DNS uses: the lab network is FR
    geo = json.dumps(report.get("geolocation", {}))
    assert "FR" in geo or "France" in geo
    # anonymised: no full client address anywhere in the report
    assert "198.18.6.20" not in origin.file("/var/lib/perch/reports/report.json").content_string
    assert "198.18.6.20" not in origin.file("/var/lib/perch/reports/index.html").content_string


def test_reports_are_served_only_to_the_allow_list(node):
    cmd = "curl -s -o /dev/null -w '%{http_code}' http://198.18.6.10:8081/report.json"
    assert node(ORIGIN).check_output(cmd) == "200"
    assert node("privacy-client").check_output(cmd) == "403"


def test_retention_timer_shreds_old_logs_and_keeps_reports(node):
    origin = node(ORIGIN)
    for name, age in (("access.log.9", "10 days ago"), ("access.log.2", "2 days ago")):
        path = f"/var/log/nginx/{name}"
        origin.check_output(f"head -c 4096 /dev/urandom > {path} && touch -d '{age}' {path}")
    assert origin.service("perch-log-retention.timer").is_enabled
    origin.check_output("systemctl start perch-log-retention.service")
    assert not origin.file("/var/log/nginx/access.log.9").exists
    assert origin.file("/var/log/nginx/access.log.2").exists
    assert origin.file("/var/lib/perch/reports/report.json").exists
    journal = origin.check_output("journalctl -u perch-log-retention.service --no-pager")
    assert "access.log.9" in journal
