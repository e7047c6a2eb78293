"""The pure helpers of bench/stats.py (statistics on vs off): mtail's counter, the run order, the bench servers,
the summary."""

import importlib.util
import os

import pytest


def _stats_bench(root):
    spec = importlib.util.spec_from_file_location("bench_stats", os.path.join(root, "bench", "stats.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


METRICS = """# HELP perch_edge_requests_total defined at perch-edge.mtail:4:9-33
# TYPE perch_edge_requests_total counter
perch_edge_requests_total{cache_status="-",service="www",status_class="2xx"} 55
perch_edge_requests_total{cache_status="HIT",service="deb",status_class="2xx"} 9
perch_edge_requests_total{cache_status="HIT",service="www",status_class="2xx"} 1200
perch_edge_requests_total{cache_status="HIT",service="www",status_class="4xx"} 3
perch_edge_requests_total{cache_status="MISS",service="www",status_class="2xx"} 7
perch_edge_bytes_sent_total{service="www"} 419404
"""


def test_stats_hit_counter(root):
    stats = _stats_bench(root)
    assert stats.hit_counter(METRICS) == 1203
    assert stats.hit_counter(METRICS, "deb") == 9
    assert stats.hit_counter(METRICS, "download") == 0
    assert stats.hit_counter("mtail_lines_total 0\n") is None


def test_stats_sides_and_summary(root):
    stats = _stats_bench(root)
    assert [stats.sides(r) for r in range(3)] == [("on", "off"), ("off", "on"), ("on", "off")]
    s = stats.summary([99.0, 96.0, 100.0], [100.0, 100.0, 100.0], [1.0, 0.99, 1.01])
    assert s["ratio"] == [0.99, 0.96, 1.0] and s["median"] == 0.99 and s["met"] is True
    assert s["spread"] == pytest.approx(0.04)
    assert stats.summary([90.0], [100.0], [1.0])["met"] is False
    # mtail counted a fraction of the requests: the "on" side was not the whole path, nothing is judged
    void = stats.summary([100.0], [100.0], [0.0003])
    assert void["counted_ok"] is False and void["met"] is None
    with pytest.raises(ValueError):
        stats.summary([1.0], [1.0, 2.0], [1.0])


def test_stats_settle(root):
    stats = _stats_bench(root)

    class Clock:
        t = 0.0

        def sleep(self, s):
            self.t += s

        def __call__(self):
            return self.t

    def run(values, **kw):
        clock, it = Clock(), iter(values)
        last = [None]

        def read():
            last[0] = next(it, last[0])
            return last[0]
        return stats.settle(read, sleep=clock.sleep, clock=clock, **kw), clock.t

    # nginx's buffered lines arrive late: a pause shorter than `quiet` is not the end
    assert run([10, 10, 10, 10, 50, 50, 80]) == (80, 3.5)
    # the count must pass `above`; it never does: the last value after `limit`
    assert run([5], above=5, limit=4.0) == (5, 4.0)
    assert run([5, 5, 9], above=5) == (9, 2.5)


CDN_CONF = """log_format perch_stats 'perch: $perch_stats_service $upstream_cache_status $status';
map $request_uri $perch_odd_path {
    "~^[^?]*(%2[EeFf]|%23|//)" 1;
    default 0;
}
server {
    listen 80;
    listen [::]:80;
    listen 443 ssl http2;
    ssl_certificate /etc/perch/tls/cdn/fullchain.pem;
    ssl_certificate_key /etc/perch/tls/cdn/privkey.pem;
    server_name deb.cdn.lab.example;
    set $perch_stats_service deb;
    access_log /run/perch-edge-stats.log perch_stats buffer=64k flush=1s;
    proxy_cache perch_deb;
}

server {
    listen 80;
    listen [::]:80;
    listen 443 ssl http2;
    ssl_certificate /etc/perch/tls/cdn/fullchain.pem;
    ssl_certificate_key /etc/perch/tls/cdn/privkey.pem;
    server_name www.cdn.lab.example www.example.org;
    set $perch_service_name www.cdn.lab.example;
    set $perch_stats_service www;
    access_log /run/perch-edge-stats.log perch_stats buffer=64k flush=1s;
    # a comment with a brace {
    location = /.perch/health {
        if (-f /var/lib/perch-edge/drained) {
            return 503 "drained\\n";
        }
    }
    proxy_cache perch_www;
    proxy_cache_key $uri$is_args$args;
    location / {
        proxy_pass https://perch_origin_www;
        proxy_cache_valid 200 301 302 10m;
    }
}
server {
    listen 80 default_server;
    location / {
        return 404;
    }
}
"""


def test_stats_server_block(root):
    stats = _stats_bench(root)
    www = stats.server_block(CDN_CONF, "www.cdn.lab.example")
    assert www.startswith("server {\n") and www.endswith("    }\n}\n")
    assert "perch_origin_www" in www and "perch_deb" not in www and "default_server" not in www
    assert stats.server_block(CDN_CONF, "www.example.org") == www  # an alias names it too
    assert "perch_deb" in stats.server_block(CDN_CONF, "deb.cdn.lab.example")
    with pytest.raises(ValueError):
        stats.server_block(CDN_CONF, "download.cdn.lab.example")
    with pytest.raises(ValueError):
        stats.server_block("server {\n    server_name www.cdn.lab.example;\n", "www.cdn.lab.example")


def test_stats_bench_conf(root):
    stats = _stats_bench(root)
    conf = stats.bench_conf(CDN_CONF, "www.cdn.lab.example", {"on": 8095, "off": 8096})
    head, on, off = conf.split("# statistics ")
    # the statistics' log_format, copied under a name of its own (conf.d is read before cdn.conf)
    assert "log_format perch_bench_stats 'perch: $perch_stats_service $upstream_cache_status $status';" in head
    assert on.startswith("on\n") and off.startswith("off\n")
    on, off = on[3:], off[4:]
    for text, port in ((on, 8095), (off, 8096)):
        assert text.startswith(f"server {{\n    listen 127.0.0.1:{port};\n    server_name www.cdn.lab.example")
        assert text.count("listen") == 1 and "ssl_certificate" not in text
        assert "proxy_cache perch_www;" in text and "proxy_pass https://perch_origin_www;" in text
    assert "    set $perch_stats_service www;\n" in on
    assert "    access_log /run/perch-edge-stats.log perch_bench_stats buffer=64k flush=1s;\n" in on
    assert "perch_stats_service" not in off and "access_log" not in off
    # the two servers differ only in the statistics' lines
    assert [line for line in on.splitlines() if "perch_stats" not in line and "access_log" not in line
            and "listen" not in line] == [line for line in off.splitlines() if "listen" not in line]
    # statistics off on the edge: nothing to compare
    with pytest.raises(ValueError, match="cache_edge_statistics"):
        stats.bench_conf(CDN_CONF.replace("    access_log /run/perch-edge-stats.log perch_stats buffer=64k flush=1s;\n",
                                          ""), "www.cdn.lab.example")


def test_stats_cpu(root):
    stats = _stats_bench(root)
    assert stats.parse_cpu("nginx 120\nnginx 7\nmtail 1090\n") == {"nginx": 127, "mtail": 1090}
    with pytest.raises(ValueError):
        stats.parse_cpu("nginx 120\n")  # no mtail
    with pytest.raises(ValueError):
        stats.parse_cpu("awk: cannot open /proc/1/stat\n")
    # off: 40 us a request; on: 41 us in nginx and 2 us in mtail -> a CPU-bound edge keeps 40/43 of its rate
    on, off = {"nginx": 41e-6, "mtail": 2e-6}, {"nginx": 40e-6, "mtail": 0.0}
    assert stats.cpu_ratio(on, off) == pytest.approx(40 / 43)
    assert stats.cpu_ratio(off, off) == 1
