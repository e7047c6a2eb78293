"""The pure helpers of bench/stats.py (statistics on vs off): mtail's counter, the run order, the summary."""

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
