#!/usr/bin/env python
"""Cache edge: HIT vs static throughput, large files from cache vs static, apt hit ratio.

Usage: bench/edge.py [--runs 5] [--seconds 3] [--clients 300] [--json PATH]
Runs against the podman lab of `make lab` (lab-origin, lab-edge-fra, lab-client); it stops with
"run make lab first" when the lab is not up. Everything runs in the lab containers via `podman exec`.

1. Small objects: 100 files of 1 KiB under the origin's www root (/srv/perch/www/bench/) and the same
   files under a static root on the edge, served by a bench-only server of the same nginx on
   127.0.0.1:8097 (/etc/nginx/conf.d/perch-bench.conf, access_log off, removed at the end). The cache
   is warmed until every URL answers HIT (and is checked again after every run). Per run, wrk on the
   edge (-t2 -c32, a rotation over the 100 URLs) against http://127.0.0.1/bench/... with
   Host: www.<zone> (loopback: exempt from the per-client rate limits) and against the static port,
   in alternating order. A wrk run with any non-2xx/3xx answer or socket error fails the benchmark.
2. Large file: the 64 MiB ISO of the files service warmed into the edge cache (every 8 MiB slice is
   checked for HIT with a range request) and the same bytes (checked by SHA-256) in the static root.
   Per run, 8 whole-file curl downloads over loopback from each, interleaved; MB/s = bytes / time.
3. apt: from lab-client over the network (the real client path, about 60 requests/s, under the
   edge's per-client limit of 100 r/s), K clients each fetch what `apt-get update` + `apt-get install
   perch-hello` fetch on a fresh machine: InRelease, the by-hash Packages.xz of binary-amd64 and
   binary-all it names, and the newest perch-hello .deb of the
   index (every body is checked against its SHA-256). After client K/3 and 2K/3 a new perch-hello is
   built and `perch-repo-publish` runs on the origin (it purges the edges' metadata). Client 1 is the
   warm-up; over the others: hit ratio = (HIT + REVALIDATED + UPDATING + STALE) / requests, HIT share,
   and origin offload = origin access-log lines for /dists/ and /pool/ / client requests. The first
   client after a publish misses the new InRelease, indexes and .deb: inherent, and counted. With K
   clients that is 8 of 4(K-1) requests, a ceiling of 0.993 for the default K=300 (a few hundred apt
   runs between two syncs is a quiet mirror; Kali's sees far more).
   The bench packages are removed and the repository republished at the end. Each publish is timed: it
   returns once every edge holds the new files (origin_prewarm: all in the lab).
4. Shield: a new 128 MiB file of random bytes on the origin, fetched by lab-client on the three lab edges
   at once (nyc and sin send their misses to the shield fra); the origin's access log gives the bytes
   it sent for it, divided by the file's size. Every copy is checked by SHA-256; the file is removed.
"""

import argparse
import hashlib
import http.client
import io
import json
import lzma
import os
import re
import statistics
import sys
import tarfile
import time
import zlib
from functools import cmp_to_key

# bench/ is sys.path[0] when this runs as a script, not when the unit tests load it by its file path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from lab import pexec, row, sh
except ModuleNotFoundError:
    # lab-client runs a lone copy of this file for the apt replay, which needs nothing from lab
    if "--apt-clients" not in sys.argv:
        raise

ORIGIN, EDGE, CLIENT = "lab-origin", "lab-edge-fra", "lab-client"
EDGE_IP = "198.18.100.21"
ZONE = "cdn.lab.example"
WWW, DEB, DOWNLOAD = f"www.{ZONE}", f"deb.{ZONE}", f"download.{ZONE}"
SUITE, PACKAGE = "perch", "perch-hello"
ISO = "/iso/perch-lab.iso"
N_SMALL, SMALL_SIZE = 100, 1024
STATIC_ROOT = "/srv/bench-static"
STATIC_PORT = 8097
BENCH_CONF = "/etc/nginx/conf.d/perch-bench.conf"
ORIGIN_WWW, ORIGIN_DEB, ORIGIN_DL = "/srv/perch/www", "/srv/perch/deb", "/srv/perch/download"
ORIGIN_LOG = "/var/log/nginx/access.log"
CACHED = {"HIT", "REVALIDATED", "UPDATING", "STALE"}  # served without an origin body transfer
ISO_DOWNLOADS = 8  # whole-file downloads per side per run
SLICE = 8 * 2**20


# ---------------------------------------------------------------- pure helpers (unit tested)

def parse_wrk(text):
    """wrk's report -> {rps, requests, non2xx, socket_errors}; raises ValueError if it is not a report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ", text)
    if not rps or not total:
        raise ValueError(f"not a wrk report: {text[-300:]!r}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": float(rps.group(1)), "requests": int(total.group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0}


def byhash_indexes(inrelease, suite, archs=("amd64", "all")):
    """The index files apt fetches for `archs`, as [(url path, sha256)]: from the SHA256 section of a
    (clear-signed) Release, per binary-<arch> directory the .xz if listed, else .gz, else the plain
    Packages; by hash when the Release says Acquire-By-Hash: yes."""
    by_hash = re.search(r"(?m)^Acquire-By-Hash:\s*yes\s*$", inrelease) is not None
    files, section = {}, False
    for line in inrelease.splitlines():
        if line.startswith("SHA256:"):
            section = True
            continue
        if section and line.startswith(" "):
            digest, _size, name = line.split()
            files[name] = digest
        elif section:
            section = False
    out = []
    for arch in archs:
        d = f"main/binary-{arch}"
        for ext in (".xz", ".gz", ""):
            name = f"{d}/Packages{ext}"
            if name in files:
                path = f"/dists/{suite}/{d}/by-hash/SHA256/{files[name]}" if by_hash else f"/dists/{suite}/{name}"
                out.append((path, files[name]))
                break
    if not out:
        raise ValueError("no Packages index for the wanted architectures in the Release")
    return out


def _order(c):
    if c == "~":
        return -1
    if c.isdigit() or not c:
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a, b):
    """dpkg's comparison of one upstream version or revision string."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def version_cmp(a, b):
    """Debian version comparison (epoch:upstream-revision), like dpkg --compare-versions: <0, 0, >0."""
    def split(v):
        epoch, _sep, rest = v.partition(":") if ":" in v else ("0", "", v)
        upstream, _sep, rev = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, rev
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def newest_package(packages, name):
    """A Packages index (text) -> {Version, Filename, SHA256, ...} of the newest `name`."""
    found = []
    for stanza in re.split(r"\n\s*\n", packages):
        fields = dict(re.findall(r"(?m)^([A-Za-z0-9-]+):\s*(.*)$", stanza))
        if fields.get("Package") == name:
            found.append(fields)
    if not found:
        raise ValueError(f"{name} is not in the index")
    return max(found, key=cmp_to_key(lambda x, y: version_cmp(x["Version"], y["Version"])))


def apt_stats(records):
    """Per-request records [{cache, status}] -> (hit ratio, HIT share, errors)."""
    n = len(records)
    if n == 0:
        raise ValueError("no requests")
    cached = sum(r["cache"] in CACHED for r in records)
    hits = sum(r["cache"] == "HIT" for r in records)
    errors = sum(r["status"] != 200 or not r.get("ok", True) for r in records)
    return cached / n, hits / n, errors


def count_origin_apt_lines(log_text):
    """Access-log lines (combined format) of apt requests: GET/HEAD of /dists/ or /pool/."""
    return len(re.findall(r'(?m)"(?:GET|HEAD) /(?:dists|pool)/', log_text))


# ---------------------------------------------------------------- apt clients (run inside lab-client)

def apt_clients(edge, host, suite, package, first, count, pause):
    """Replay `count` fresh apt clients (numbered from `first`); one JSON record per request on stdout."""
    def fetch(conn, path):
        for attempt in (1, 2):
            try:
                conn.request("GET", path, headers={"Host": host, "User-Agent": "perch-bench-apt"})
                resp = conn.getresponse()
                return resp.status, resp.getheader("X-Cache-Status", "-"), resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    for client in range(first, first + count):
        conn = http.client.HTTPConnection(edge, 80, timeout=30)
        plan = [(f"/dists/{suite}/InRelease", None)]
        while plan:
            path, digest = plan.pop(0)
            status, cache, body = fetch(conn, path)
            ok = status == 200 and (digest is None or hashlib.sha256(body).hexdigest() == digest)
            print(json.dumps({"client": client, "path": path, "status": status, "cache": cache, "ok": ok,
                              "bytes": len(body)}), flush=True)
            time.sleep(pause)
            if not ok:
                continue
            if path.endswith("/InRelease"):
                plan += byhash_indexes(body.decode(), suite)
            elif "/by-hash/" in path or "/Packages" in path:
                text = _decompress(body).decode()
                try:
                    pkg = newest_package(text, package)
                except ValueError:
                    continue  # this architecture's index does not have it (the other one does)
                deb = ("/" + pkg["Filename"], pkg["SHA256"])
                if deb not in plan:
                    plan.append(deb)
        conn.close()


def _decompress(body):
    if body[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(body)
    if body[:2] == b"\x1f\x8b":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    return body


# ---------------------------------------------------------------- lab plumbing

def check_lab():
    for name in (ORIGIN, EDGE, CLIENT):
        if sh("podman", "container", "exists", name, check=False).returncode != 0:
            raise SystemExit(f"bench/edge.py: container {name} does not exist: run make lab first")
    out = pexec(EDGE, f"curl -s -m 5 -o /dev/null -D - -H 'Host: {WWW}' http://127.0.0.1/", check=False).stdout
    if "x-cache-status" not in out.lower():
        raise SystemExit("bench/edge.py: the lab edge's nginx does not answer with X-Cache-Status: run make lab first")


def ensure_wrk(name):
    pexec(name, "command -v wrk >/dev/null || { apt-get update -qq && "
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }")


def tar_of(files):
    """{relative path: bytes} -> an uncompressed tar, root-owned, 0644 files / 0755 dirs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cache_statuses(paths, host, edge_base="http://127.0.0.1"):
    """X-Cache-Status of each path, asked on the edge over loopback (one podman exec)."""
    script = "for p in " + " ".join(paths) + "; do " \
             f"s=$(curl -s -m 10 -o /dev/null -D - -H 'Host: {host}' {edge_base}$p | " \
             "tr -d '\\r' | awk -F': ' 'tolower($1)==\"x-cache-status\"{print $2}'); echo \"$p ${s:--}\"; done"
    out = pexec(EDGE, script).stdout.split("\n")
    return dict(line.split(" ", 1) for line in out if line.strip())


def warm(paths, host, rounds=5):
    for _round in range(rounds):
        got = cache_statuses(paths, host)
        if all(v == "HIT" for v in got.values()):
            return
    bad = {p: s for p, s in got.items() if s != "HIT"}
    raise SystemExit(f"bench/edge.py: the edge does not serve these from cache (HIT): {list(bad.items())[:5]}")


def static_server(enable):
    if enable:
        conf = (f"# bench/edge.py: bench-only static server, removed at the end of the run\n"
                f"server {{\n    listen 127.0.0.1:{STATIC_PORT};\n    server_name _;\n    access_log off;\n"
                f"    root {STATIC_ROOT};\n    location / {{\n        try_files $uri =404;\n    }}\n}}\n")
        pexec(EDGE, f"cat > {BENCH_CONF} && nginx -t -q && systemctl reload nginx", input=conf)
        for _poll in range(50):
            code = pexec(EDGE, f"curl -s -m 2 -o /dev/null -w '%{{http_code}}' "
                               f"http://127.0.0.1:{STATIC_PORT}/bench/obj-1.bin", check=False).stdout
            if code == "200":
                return
            time.sleep(0.1)
        raise SystemExit(f"bench/edge.py: the static server on 127.0.0.1:{STATIC_PORT} does not answer")
    pexec(EDGE, f"if [ -e {BENCH_CONF} ]; then rm -f {BENCH_CONF} && nginx -t -q && systemctl reload nginx; fi",
          check=False)


# ---------------------------------------------------------------- 1. small objects

WRK_LUA = f"""-- bench/edge.py: a rotation over the bench objects
local n = 0
request = function()
  n = n % {N_SMALL} + 1
  return wrk.format("GET", "/bench/obj-" .. n .. ".bin")
end
"""


def wrk(url, host, seconds):
    hdr = f"-H 'Host: {host}' " if host else ""
    out = pexec(EDGE, f"wrk -t2 -c32 -d{seconds}s --timeout 5s -s /tmp/perch-bench.lua {hdr}{url}").stdout
    res = parse_wrk(out)
    if res["non2xx"] or res["socket_errors"] or res["requests"] == 0:
        raise SystemExit(f"bench/edge.py: wrk against {url} had {res['non2xx']} non-2xx/3xx answers and "
                         f"{res['socket_errors']} socket errors: no valid measurement\n{out}")
    return res["rps"]


def bench_small(runs, seconds):
    files = {f"bench/obj-{i}.bin": os.urandom(SMALL_SIZE) for i in range(1, N_SMALL + 1)}
    paths = [f"/{p}" for p in files]
    blob = tar_of(files)
    pexec(ORIGIN, f"mkdir -p {ORIGIN_WWW} && tar -C {ORIGIN_WWW} -xf -", input=blob, text=False)
    pexec(EDGE, f"mkdir -p {STATIC_ROOT} && tar -C {STATIC_ROOT} -xf -", input=blob, text=False)
    pexec(EDGE, "cat > /tmp/perch-bench.lua", input=WRK_LUA)
    # purge what an earlier run may have cached under these names, then warm
    pexec(EDGE, "for p in " + " ".join(paths) + f"; do curl -s -o /dev/null -H 'Host: {WWW}' "
                "http://127.0.0.1/.perch/purge$p; done")
    warm(paths, WWW)
    static_server(True)
    res = {"hit": [], "static": [], "ratio": []}
    for r in range(runs):
        order = ("hit", "static") if r % 2 == 0 else ("static", "hit")
        got = {}
        for side in order:
            if side == "hit":
                got[side] = wrk("http://127.0.0.1:80/bench/obj-1.bin", WWW, seconds)
                warm(paths, WWW, rounds=1)  # still all HIT after the run, so it was all HIT during it
            else:
                got[side] = wrk(f"http://127.0.0.1:{STATIC_PORT}/bench/obj-1.bin", None, seconds)
        for k in ("hit", "static"):
            res[k].append(got[k])
        res["ratio"].append(got["hit"] / got["static"])
        print(f"small run {r + 1}: HIT {got['hit']:.0f} req/s, static {got['static']:.0f} req/s, "
              f"ratio {res['ratio'][-1]:.3f}", flush=True)
    return [row("HIT req/s, 1 KiB objects (wrk -t2 -c32, loopback)", res["hit"], "req/s"),
            row("static req/s, same files, same nginx", res["static"], "req/s"),
            row("HIT / static req/s, 1 KiB", res["ratio"], "ratio", ">= 0.85",
                statistics.median(res["ratio"]) >= 0.85)], paths


def cleanup_small(paths):
    pexec(ORIGIN, f"rm -rf {ORIGIN_WWW}/bench", check=False)
    pexec(EDGE, "rm -f /tmp/perch-bench.lua; for p in " + " ".join(paths) +
          f"; do curl -s -o /dev/null -H 'Host: {WWW}' http://127.0.0.1/.perch/purge$p; done", check=False)


# ---------------------------------------------------------------- 2. large file

def download(url, host):
    hdr = f"-H 'Host: {host}' " if host else ""
    out = pexec(EDGE, f"curl -s -m 120 -o /dev/null {hdr}-w '%{{http_code}} %{{size_download}} %{{time_total}}' "
                      f"{url}").stdout.split()
    code, size, took = int(out[0]), int(out[1]), float(out[2])
    if code != 200 or size == 0:
        raise SystemExit(f"bench/edge.py: download of {url} answered {code} with {size} bytes")
    return size, took


def bench_large(runs):
    size = int(pexec(ORIGIN, f"stat -c %s {ORIGIN_DL}{ISO}").stdout)
    sh("bash", "-c", f"podman exec {ORIGIN} cat {ORIGIN_DL}{ISO} | podman exec -i {EDGE} bash -c "
                     f"'mkdir -p {STATIC_ROOT}/iso && cat > {STATIC_ROOT}{ISO}'")
    cache_url, static_url = f"http://127.0.0.1{ISO}", f"http://127.0.0.1:{STATIC_PORT}{ISO}"
    sums = pexec(EDGE, f"curl -s -H 'Host: {DOWNLOAD}' {cache_url} | sha256sum; sha256sum < {STATIC_ROOT}{ISO}; "
                       f"curl -s {static_url} | sha256sum").stdout.split("\n")
    if len({s.split()[0] for s in sums if s.strip()}) != 1:
        raise SystemExit(f"bench/edge.py: the ISO from the cache and the static copy differ: {sums}")
    ranges = " ".join(f"{o}-{o + 1023}" for o in range(0, size, SLICE))
    out = pexec(EDGE, f"for r in {ranges}; do curl -s -o /dev/null -D - -r $r -H 'Host: {DOWNLOAD}' {cache_url} | "
                      "tr -d '\\r' | awk -F': ' 'tolower($1)==\"x-cache-status\"{print $2}'; done").stdout.split()
    if len(out) != len(ranges.split()) or set(out) != {"HIT"}:
        raise SystemExit(f"bench/edge.py: the ISO's slices are not all HIT after a download: {out}")
    res = {"cache": [], "static": [], "ratio": []}
    for r in range(runs):
        tot = {"cache": [0, 0.0], "static": [0, 0.0]}
        for i in range(2 * ISO_DOWNLOADS):
            side = ("cache", "static")[(i + r) % 2]
            n, t = download(cache_url, DOWNLOAD) if side == "cache" else download(static_url, None)
            if n != size:
                raise SystemExit(f"bench/edge.py: {side} download got {n} of {size} bytes")
            tot[side][0] += n
            tot[side][1] += t
        got = {k: v[0] / v[1] / 1e6 for k, v in tot.items()}
        for k in ("cache", "static"):
            res[k].append(got[k])
        res["ratio"].append(got["cache"] / got["static"])
        print(f"large run {r + 1}: cache {got['cache']:.0f} MB/s, static {got['static']:.0f} MB/s, "
              f"ratio {res['ratio'][-1]:.3f}", flush=True)
    mib = size // 2**20
    return [row(f"{mib} MiB ISO from cache (slices), curl over loopback", res["cache"], "MB/s"),
            row(f"{mib} MiB ISO static, same nginx", res["static"], "MB/s"),
            row("cache / static MB/s, large file", res["ratio"], "ratio", ">= 0.8",
                statistics.median(res["ratio"]) >= 0.8)]


# ---------------------------------------------------------------- 4. shield

LAB_EDGES = {"lab-edge-fra": "198.18.100.21", "lab-edge-nyc": "198.18.100.22", "lab-edge-sin": "198.18.100.23"}
SHIELD_MIB = 128


def bench_shield(runs):
    """One cold file fetched on every lab edge at once (nyc and sin behind the shield fra): origin bytes / size."""
    res = {"bytes": []}
    size = SHIELD_MIB * 2**20
    for r in range(runs):
        path = f"/iso/bench-shield-{int(time.time())}-{r}.iso"
        pexec(ORIGIN, f"head -c {size} /dev/urandom > {ORIGIN_DL}{path}")
        want = pexec(ORIGIN, f"sha256sum < {ORIGIN_DL}{path}").stdout.split()[0]
        log0 = origin_log_size()
        got = pexec(CLIENT, "for e in " + " ".join(LAB_EDGES.values()) + f"; do curl -sf -m 300 --resolve"
                            f" {DOWNLOAD}:80:$e http://{DOWNLOAD}{path} | sha256sum & done; wait", timeout=600).stdout
        sums = [line.split()[0] for line in got.splitlines() if line.strip()]
        if sums != [want] * len(LAB_EDGES):
            raise SystemExit(f"bench/edge.py: the cold file differs on an edge: {sums} (want {want})")
        log = pexec(ORIGIN, f"tail -c +{log0 + 1} {ORIGIN_LOG}").stdout
        sent = sum(int(m.group(1)) for m in re.finditer(rf'"GET {re.escape(path)} [^"]*" \d{{3}} (\d+) ', log))
        res["bytes"].append(sent / size)
        pexec(ORIGIN, f"rm -f {ORIGIN_DL}{path}")
        print(f"shield run {r + 1}: origin sent {sent / size:.3f} x the file for {len(LAB_EDGES)} edges", flush=True)
    return [row(f"origin bytes / file size, 1 cold {SHIELD_MIB} MiB file on all {len(LAB_EDGES)} lab edges at once "
                "(nyc, sin behind the shield fra)", res["bytes"], "ratio", "<= 1.05",
                statistics.median(res["bytes"]) <= 1.05)]


# ---------------------------------------------------------------- 3. apt

def run_clients(first, count):
    out = pexec(CLIENT, f"python3 /tmp/perch-bench-edge.py --apt-clients {count} --first {first}",
                timeout=600).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def origin_log_size():
    return int(pexec(ORIGIN, f"stat -c %s {ORIGIN_LOG}").stdout)


def publish(version, took=None):
    """Build and publish a new perch-hello; `took` collects the seconds perch-repo-publish ran (it returns once
    every edge holds the new indexes, .deb and InRelease: origin_prewarm: all in the lab)."""
    deb = f"{ORIGIN_DEB}/pool/main/p/{PACKAGE}/{PACKAGE}_{version}_all.deb"
    pexec(ORIGIN, f"/usr/local/sbin/perch-build-lab-deb {PACKAGE} {version} {deb} >/dev/null")
    start = time.monotonic()
    pexec(ORIGIN, "perch-repo-publish")
    if took is not None:
        took.append(time.monotonic() - start)
    return deb


def bench_apt(runs, clients, stamp, built):
    """`built` collects the .deb files made on the origin (removed by cleanup_apt)."""
    sh("podman", "cp", os.path.abspath(__file__), f"{CLIENT}:/tmp/perch-bench-edge.py")
    third = clients // 3
    res = {"ratio": [], "hit": [], "origin": [], "publish": []}
    for r in range(runs):
        start = time.monotonic()
        records = run_clients(1, 1)  # warm-up
        log0 = origin_log_size()
        measured = run_clients(2, third - 1)
        built.append(publish(f"2.{stamp}.{r + 1}.1", res["publish"]))
        measured += run_clients(third + 1, third)
        built.append(publish(f"2.{stamp}.{r + 1}.2", res["publish"]))
        measured += run_clients(2 * third + 1, clients - 2 * third)
        new_log = pexec(ORIGIN, f"tail -c +{log0 + 1} {ORIGIN_LOG}").stdout
        records += measured
        ratio, hit, errors = apt_stats(measured)
        if errors:
            bad = [m for m in measured if m["status"] != 200 or not m["ok"]]
            raise SystemExit(f"bench/edge.py: {errors} failed apt requests (status or SHA-256): {bad[:5]}")
        origin = count_origin_apt_lines(new_log) / len(measured)
        res["ratio"].append(ratio)
        res["hit"].append(hit)
        res["origin"].append(origin)
        took = time.monotonic() - start
        misses = [f"{m['client']}:{m['path'].rsplit('/', 1)[-1][:16]}={m['cache']}" for m in measured
                  if m["cache"] not in CACHED]
        print(f"apt run {r + 1}: {len(measured)} requests after warm-up, hit ratio {ratio:.3f}, HIT {hit:.3f}, "
              f"origin requests/client requests {origin:.3f}, {took:.0f} s; not from cache: {misses}", flush=True)
        if took > 60 and r + 1 < runs:
            print(f"apt replay took {took:.0f} s (> 60 s): stopping after {r + 1} run(s)", flush=True)
            break
    return [row(f"apt hit ratio (HIT/REVALIDATED/UPDATING/STALE), {clients} clients, 2 publishes", res["ratio"],
                "ratio", ">= 0.99", statistics.median(res["ratio"]) >= 0.99),
            row("apt HIT share, same requests (publishes warm every edge first)", res["hit"], "ratio", ">= 0.999",
                statistics.median(res["hit"]) >= 0.999),
            row("time from publish to every edge warm (perch-repo-publish, 3 lab edges)", res["publish"], "s"),
            row("apt origin requests / client requests", res["origin"], "ratio")]


def cleanup_apt(built):
    if built:
        pexec(ORIGIN, "rm -f " + " ".join(built) + " && perch-repo-publish >/dev/null", check=False)
    pexec(CLIENT, "rm -f /tmp/perch-bench-edge.py", check=False)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3, help="wrk duration per side and run")
    ap.add_argument("--clients", type=int, default=300, help="apt clients per replay (>= 6)")
    ap.add_argument("--only", nargs="*", choices=["small", "large", "apt", "shield"], help="run only these parts")
    ap.add_argument("--json")
    # internal: the apt client replay, run inside lab-client
    ap.add_argument("--apt-clients", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.apt_clients:
        apt_clients(EDGE_IP, DEB, SUITE, PACKAGE, args.first, args.apt_clients, pause=0.01)
        return
    if args.runs < 1 or args.clients < 6:
        ap.error("--runs must be >= 1 and --clients >= 6")
    parts = args.only or ["small", "large", "apt", "shield"]
    check_lab()
    t0 = time.monotonic()
    rows, paths, built = [], [], []
    try:
        if "small" in parts or "large" in parts:
            ensure_wrk(EDGE)
        if "small" in parts:
            small, paths = bench_small(args.runs, args.seconds)
            rows += small
        if "large" in parts:
            if "small" not in parts:
                pexec(EDGE, f"mkdir -p {STATIC_ROOT}/bench && echo x > {STATIC_ROOT}/bench/obj-1.bin")
                static_server(True)
            rows += bench_large(args.runs)
        static_server(False)
        if "apt" in parts:
            rows += bench_apt(args.runs, args.clients, int(time.time()), built)
        if "shield" in parts:
            rows += bench_shield(args.runs)
    finally:
        static_server(False)
        pexec(EDGE, f"rm -rf {STATIC_ROOT}", check=False)
        if paths:
            cleanup_small(paths)
        cleanup_apt(built)
    for r in rows:
        target = f", target {r['target']}: {'met' if r['ok'] else 'NOT met'}" if r["target"] else ""
        print(f"{r['metric']}: median {r['median']:.3f} {r['unit']} (min {r['min']:.3f}, max {r['max']:.3f}, "
              f"{r['runs']} runs){target}")
    print(f"bench/edge.py took {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
