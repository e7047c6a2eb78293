#!/usr/bin/env python
"""Cache edge statistics (issue #18): HIT req/s with the statistics path on vs off, side by side.

Usage: bench/stats.py [--runs 10] [--seconds 2] [--json PATH]
Runs against the podman lab of `make lab` (lab-origin, lab-edge-fra); it stops with "run make lab
first" when the lab is not up. Both sides run in ONE nginx, with no reconfiguration between measurements:
a bench-only file /etc/nginx/conf.d/perch-bench-stats.conf (removed at the end, whatever happens) adds two
copies of the edge's own www server (taken from /etc/nginx/perch/cdn.conf at run time) on loopback ports,
127.0.0.1:8095 "on" and 127.0.0.1:8096 "off". They are identical, same proxy_pass, same cache zone
(perch_www) and key, so they serve the same cached objects, except that "off" lacks the two lines of
cache_edge_statistics: `set $perch_stats_service www;` and `access_log /run/perch-edge-stats.log
perch_stats buffer=64k flush=1s;` ("on" names a copy of the log_format, perch_bench_stats: conf.d is
read before cdn.conf defines perch_stats; the format is the same text). The 100 files of 1 KiB of
bench/edge.py part 1 go under the origin's www root and are warmed into the cache; every URL must
answer HIT on both ports, before the runs and after every wrk run (on that run's port).
A pair is one wrk run per side (bench/edge.py's wrk: -t2 -c32, a rotation over the 100 URLs, loopback,
Host: www.<zone>), --seconds each, the order alternating per pair (on/off, off/on, ...); the ratio is
on / off per pair, judged at the median (target >= 0.97).
The statistics path is checked per run with mtail's perch_edge_requests_total{service="www",
cache_status="HIT"}: after an "on" run it must have grown by (nearly) wrk's requests (plus the 100 HIT
checks), after an "off" run by no more than background noise (< 1 % of wrk's requests). mtail runs with
Nice=19 and CPUSchedulingPolicy=idle and trails nginx (the 1 s flush, its 250 ms poll), so the count is
read once it has not moved for 2 s; that wait also keeps one run's mtail work out of the next run.
Rows: HIT req/s on, off, on / off per pair, and the shares of wrk's requests mtail counted on (target
>= 0.95: below it the "on" side did not run the whole path, so the ratio is not judged) and off. On a
shared machine req/s follow the other load; the CPU the edge spends a request does far less, so the rows
also give, from /proc, the CPU seconds of nginx's workers during each wrk run and of mtail from the run's
start until its count settled, per wrk request, and per pair the edge CPU a HIT (nginx + mtail) off / on:
the HIT req/s a CPU-bound edge keeps with statistics on (not judged). The bench files are removed and
purged at the end; the edge's own configuration is never changed.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

# bench/ is sys.path[0] when this runs as a script, not when the unit tests load it by its file path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edge  # noqa: E402
from lab import pexec, row  # noqa: E402

EDGE, WWW = edge.EDGE, edge.WWW
SERVICE = "www"
CONF = "/etc/nginx/perch/cdn.conf"
BENCH_CONF = "/etc/nginx/conf.d/perch-bench-stats.conf"
PORTS = {"on": 8095, "off": 8096}
FORMAT, BENCH_FORMAT = "perch_stats", "perch_bench_stats"
STATS_LOG = "/run/perch-edge-stats.log"
METRICS = "http://127.0.0.1:3903/metrics"
TARGET = 0.97
COUNTED = 0.95  # on: the share of wrk's requests mtail must count for the "on" side to be the whole path
NOISE = 0.01  # off: HIT lines mtail may count beyond nothing (other clients of the www service), per request
# CPU ticks (utime + stime) of nginx's workers and of mtail, one "<name> <ticks>" line per process
CPU = ("for p in $(pgrep -f '^nginx: worker process$'); do awk '{print \"nginx\", $14 + $15}' /proc/$p/stat; done; "
       "for p in $(pgrep -x mtail); do awk '{print \"mtail\", $14 + $15}' /proc/$p/stat; done")
QUIET = 2.0  # s without a change before mtail's count is read: nginx flushes after 1 s, mtail polls every 250 ms


# ---------------------------------------------------------------- pure helpers (unit tested)

def hit_counter(metrics, service=SERVICE):
    """mtail's Prometheus text -> perch_edge_requests_total of `service` with cache_status HIT (all status
    classes); None when the metric is not there at all."""
    total, seen = 0.0, False
    for m in re.finditer(r"(?m)^perch_edge_requests_total\{([^}]*)\}\s+(\S+)", metrics):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        seen = True
        if labels.get("service") == service and labels.get("cache_status") == "HIT":
            total += float(m.group(2))
    return total if seen else None


def settle(read, above=None, quiet=QUIET, step=0.25, limit=15.0, sleep=time.sleep, clock=time.monotonic):
    """`read()` (a counter) once it has not moved for `quiet` seconds and, given `above`, is above it; after
    `limit` seconds the last value read."""
    last, since = read(), clock()
    deadline = since + limit
    while clock() < deadline:
        sleep(step)
        now = read()
        if now != last:
            last, since = now, clock()
        elif clock() - since >= quiet and (above is None or (now or 0) > above):
            return now
    return last


def sides(run):
    """The order of the sides in pair `run` (0-based): on/off, off/on, ..."""
    return ("on", "off") if run % 2 == 0 else ("off", "on")


def server_block(conf, name):
    """The top-level `server { ... }` of nginx config text `conf` whose server_name lists `name`."""
    lines = conf.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if re.match(r"server\s*\{", lines[i]):
            depth, j = 0, i
            while j < len(lines):
                code = re.sub(r"(^|\s)#.*", "", lines[j])  # a comment's braces do not count
                depth += code.count("{") - code.count("}")
                if depth == 0:
                    break
                j += 1
            else:
                raise ValueError("unbalanced braces in the nginx config")
            block = "".join(lines[i:j + 1])
            names = re.search(r"(?m)^\s*server_name\s+([^;]*);", block)
            if names and name in names.group(1).split():
                return block
            i = j
        i += 1
    raise ValueError(f"no server block for {name} in the nginx config")


def bench_conf(conf, name, ports=None, stats_log=STATS_LOG):
    """The edge's nginx config text (cdn.conf) -> the bench file: a copy of the log_format of the statistics
    (as BENCH_FORMAT) and, per side, the server of `name` listening on 127.0.0.1:<port> only (no TLS), "off"
    without the statistics' `set $perch_stats_service` and `access_log` lines, "on" with them. Raises
    ValueError when the config has no statistics (cache_edge_statistics off)."""
    ports = ports or PORTS
    fmt = re.search(rf"(?m)^[ \t]*log_format[ \t]+{FORMAT}[ \t]+(.*;)[ \t]*$", conf)
    block = server_block(conf, name)
    stat_lines = [
        r"(?m)^[ \t]*set[ \t]+\$perch_stats_service[ \t][^\n]*\n",
        rf"(?m)^[ \t]*access_log[ \t]+{re.escape(stats_log)}[ \t]+{FORMAT}[ \t;][^\n]*\n",
    ]
    if not fmt or not all(len(re.findall(p, block)) == 1 for p in stat_lines):
        raise ValueError(f"the server of {name} has no statistics (log_format {FORMAT}, set "
                         f"$perch_stats_service, access_log {stats_log}): is cache_edge_statistics off?")
    body = re.sub(r"(?m)^[ \t]*(listen|ssl_certificate|ssl_certificate_key)[ \t][^\n]*\n", "", block)
    off = body
    for p in stat_lines:
        off = re.sub(p, "", off)
    on = re.sub(rf"(?m)^([ \t]*access_log[ \t]+{re.escape(stats_log)}[ \t]+){FORMAT}\b", rf"\g<1>{BENCH_FORMAT}",
                body)
    out = [f"# bench/stats.py: bench-only, removed at the end of the run; the servers of {name} from cdn.conf,\n"
           "# on loopback ports, with (on) and without (off) the statistics\n",
           f"log_format {BENCH_FORMAT} {fmt.group(1)}\n"]
    for side, text in (("on", on), ("off", off)):
        listen = f"server {{\n    listen 127.0.0.1:{ports[side]};\n"
        out.append(f"# statistics {side}\n" + re.sub(r"^server\s*\{[ \t]*\n", listen, text))
    return "".join(out)


def parse_cpu(text):
    """CPU's output -> {"nginx": ticks of all workers, "mtail": ticks}; ValueError without both."""
    got = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(nginx|mtail) (\d+)", line.strip())
        if m:
            got[m.group(1)] = got.get(m.group(1), 0) + int(m.group(2))
    if set(got) != {"nginx", "mtail"}:
        raise ValueError(f"no CPU ticks of nginx's workers and mtail in {text[-200:]!r}")
    return got


def cpu_ratio(on, off):
    """Per-request edge CPU of one pair, {"nginx": s, "mtail": s} a request per side -> off / on: the HIT
    req/s a CPU-bound edge keeps with statistics on (nginx's extra writes plus mtail's parsing), whatever
    else the machine runs."""
    return (off["nginx"] + off["mtail"]) / (on["nginx"] + on["mtail"])


def summary(on, off, counted):
    """Per-pair HIT req/s with statistics on and off, and the shares of the requests mtail counted (on) ->
    {ratio: per-pair on/off, median, min, max, spread, counted_ok, met}. The ratio's target is judged only
    when mtail counted (nearly) every request; else met is None."""
    if not on or len(on) != len(off):
        raise ValueError("need as many runs on as off, at least one")
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    med = statistics.median(ratios)
    counted_ok = bool(counted) and min(counted) >= COUNTED
    return {"ratio": ratios, "median": med, "min": min(ratios), "max": max(ratios),
            "spread": max(ratios) - min(ratios), "counted_ok": counted_ok,
            "met": (med >= TARGET) if counted_ok else None}


# ---------------------------------------------------------------- lab plumbing

def log(msg):
    print(msg, flush=True)


def counter():
    return hit_counter(pexec(EDGE, f"curl -s -m 5 {METRICS}", check=False).stdout)


def base(side):
    return f"http://127.0.0.1:{PORTS[side]}"


def cpu():
    return parse_cpu(pexec(EDGE, CPU).stdout)


def wrk(side, seconds):
    """bench/edge.py's wrk run (same options, same script) against one side's port -> (req/s, requests,
    CPU ticks just before it, nginx's workers' CPU ticks during it)."""
    out = pexec(EDGE, f"{CPU}; echo ==; wrk -t2 -c32 -d{seconds}s --timeout 5s -s /tmp/perch-bench.lua "
                      f"-H 'Host: {WWW}' {base(side)}/bench/obj-1.bin; echo ==; {CPU}").stdout
    start, report, end = out.split("==\n")
    start, end = parse_cpu(start), parse_cpu(end)
    res = edge.parse_wrk(report)
    if res["non2xx"] or res["socket_errors"] or res["requests"] == 0:
        raise SystemExit(f"bench/stats.py: wrk against {base(side)} had {res['non2xx']} non-2xx/3xx answers and "
                         f"{res['socket_errors']} socket errors: no valid measurement\n{out}")
    return res["rps"], res["requests"], start, end["nginx"] - start["nginx"]


def all_hit(side, paths):
    got = edge.cache_statuses(paths, WWW, base(side))
    bad = {p: s for p, s in got.items() if s != "HIT"}
    if bad or len(got) != len(paths):
        raise SystemExit(f"bench/stats.py: the {side} server ({base(side)}) does not serve these from cache "
                         f"(HIT): {list(bad.items())[:5]}")


def reload_nginx():
    pexec(EDGE, "nginx -t -q && systemctl reload nginx")


def install():
    """The bench file, from the edge's cdn.conf as it is now; then both ports answer."""
    try:
        text = bench_conf(pexec(EDGE, f"cat {CONF}").stdout, WWW)
    except ValueError as exc:
        raise SystemExit(f"bench/stats.py: {CONF} on {EDGE}: {exc}") from None
    pexec(EDGE, f"cat > {BENCH_CONF}", input=text)
    reload_nginx()
    for _poll in range(50):
        codes = [pexec(EDGE, f"curl -s -m 2 -o /dev/null -w '%{{http_code}}' -H 'Host: {WWW}' "
                             f"{base(side)}/bench/obj-1.bin", check=False).stdout for side in PORTS]
        if codes == ["200", "200"]:
            return
        time.sleep(0.1)
    raise SystemExit(f"bench/stats.py: the bench servers on {', '.join(map(base, PORTS))} do not answer 200")


def uninstall():
    pexec(EDGE, f"if [ -e {BENCH_CONF} ]; then rm -f {BENCH_CONF} && nginx -t -q && systemctl reload nginx; fi",
          check=False)


def setup(paths):
    """bench/edge.py's small objects under the origin's www root, edge.py's wrk script; purged, then warmed."""
    files = {p.lstrip("/"): os.urandom(edge.SMALL_SIZE) for p in paths}
    pexec(edge.ORIGIN, f"mkdir -p {edge.ORIGIN_WWW} && tar -C {edge.ORIGIN_WWW} -xf -", input=edge.tar_of(files),
          text=False)
    pexec(EDGE, "cat > /tmp/perch-bench.lua", input=edge.WRK_LUA)
    pexec(EDGE, "for p in " + " ".join(paths) + f"; do curl -s -o /dev/null -H 'Host: {WWW}' "
                "http://127.0.0.1/.perch/purge$p; done")
    edge.warm(paths, WWW)


def measure(side, seconds, paths, before, tick):
    """One wrk run on one side -> (req/s, wrk's requests, mtail's HIT count after it, {"nginx", "mtail"}: CPU
    seconds a request, nginx's workers during the run, mtail from its start until its count settled). After
    it every URL is still HIT on that side's port (so it was all HIT during the run)."""
    rps, requests, start, nginx = wrk(side, seconds)
    all_hit(side, paths)
    after = settle(counter, before if side == "on" else None)
    if after is None:
        raise SystemExit(f"bench/stats.py: mtail on {EDGE} has no perch_edge_requests_total ({METRICS})")
    mtail = cpu()["mtail"] - start["mtail"]
    return rps, requests, after, {"nginx": nginx * tick / requests, "mtail": mtail * tick / requests}


def bench(runs, seconds):
    paths = [f"/bench/obj-{i}.bin" for i in range(1, edge.N_SMALL + 1)]
    res = {"on": [], "off": [], "counted": [], "noise": [], "cpu": [], "cpu_nginx": [],
           "us": {"on": [], "off": [], "mtail": []}}
    try:
        edge.ensure_wrk(EDGE)
        setup(paths)
        install()
        for side in PORTS:
            all_hit(side, paths)
        tick = 1 / int(pexec(EDGE, "getconf CLK_TCK").stdout)
        before = settle(counter)
        if before is None:
            raise SystemExit(f"bench/stats.py: mtail on {EDGE} has no perch_edge_requests_total ({METRICS})")
        for r in range(runs):
            got, use = {}, {}
            for side in sides(r):
                rps, requests, after, use[side] = measure(side, seconds, paths, before, tick)
                grown, before = after - before, after
                got[side] = rps
                if side == "on":
                    # the HIT check after the run went through the "on" server too: one line per path
                    res["counted"].append(grown / (requests + len(paths)))
                else:
                    res["noise"].append(grown / requests)
                    if grown > NOISE * requests:
                        raise SystemExit(f"bench/stats.py: mtail's HIT count grew by {grown:.0f} during {requests} "
                                         f"requests to the off server: it logs, or other traffic ran")
            res["on"].append(got["on"])
            res["off"].append(got["off"])
            res["cpu"].append(cpu_ratio(use["on"], use["off"]))
            res["cpu_nginx"].append(use["off"]["nginx"] / use["on"]["nginx"])
            res["us"]["on"].append(use["on"]["nginx"] * 1e6)
            res["us"]["off"].append(use["off"]["nginx"] * 1e6)
            res["us"]["mtail"].append((use["on"]["mtail"] - use["off"]["mtail"]) * 1e6)
            log(f"pair {r + 1} ({'/'.join(sides(r))}): HIT with statistics {got['on']:.0f} req/s, without "
                f"{got['off']:.0f} req/s, ratio {got['on'] / got['off']:.3f}; mtail counted "
                f"{res['counted'][-1]:.4f} of the on requests, {res['noise'][-1]:.5f} of the off ones; CPU a "
                f"request: nginx on {res['us']['on'][-1]:.1f} us, off {res['us']['off'][-1]:.1f} us, mtail "
                f"{res['us']['mtail'][-1]:.1f} us, off / on {res['cpu'][-1]:.3f}")
    finally:
        try:
            uninstall()
        finally:
            edge.cleanup_small(paths)
    s = summary(res["on"], res["off"], res["counted"])
    void = "" if s["counted_ok"] else ", not judged: mtail counted too few of the requests"
    how = f"1 KiB objects (wrk -t2 -c32, loopback, {seconds} s a run), one nginx, same cache zone"
    return [row(f"HIT req/s, statistics on (access_log -> file -> mtail), {how}", res["on"], "req/s"),
            row("HIT req/s, statistics off (no access_log), same nginx, same cache", res["off"], "req/s"),
            row(f"statistics on / off, HIT req/s (per pair{void})", s["ratio"], "ratio", f">= {TARGET}", s["met"]),
            row("share of wrk's requests mtail counted (on)", res["counted"], "ratio", f">= {COUNTED}",
                s["counted_ok"]),
            row("share of wrk's requests mtail counted (off: background only)", res["noise"], "ratio",
                f"< {NOISE}", max(res["noise"]) < NOISE),
            row("nginx workers' CPU a HIT, statistics on", res["us"]["on"], "us"),
            row("nginx workers' CPU a HIT, statistics off", res["us"]["off"], "us"),
            row("nginx workers' CPU a HIT, off / on (per pair: the access_log's own cost)", res["cpu_nginx"],
                "ratio"),
            row("mtail's CPU a request, on minus off (parsing the line, after serving)", res["us"]["mtail"], "us"),
            row("edge CPU a HIT (nginx workers + mtail), off / on: the HIT req/s kept by a CPU-bound edge (per pair)",
                res["cpu"], "ratio")], s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="pairs of wrk runs (one on, one off)")
    ap.add_argument("--seconds", type=int, default=2, help="duration of one wrk run")
    ap.add_argument("--json")
    args = ap.parse_args()
    if min(args.runs, args.seconds) < 1:
        ap.error("--runs and --seconds must be >= 1")
    edge.check_lab()
    t0 = time.monotonic()
    rows, s = bench(args.runs, args.seconds)
    for r in rows:
        verdict = {True: "met", False: "NOT met", None: "not judged"}[r["ok"]]
        target = f", target {r['target']}: {verdict}" if r["target"] else ""
        print(f"{r['metric']}: median {r['median']:.4g} {r['unit']} (min {r['min']:.4g}, max {r['max']:.4g}, "
              f"{r['runs']} runs){target}")
    print(f"on / off spread (max - min): {s['spread']:.3f}")
    print(f"bench/stats.py took {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
