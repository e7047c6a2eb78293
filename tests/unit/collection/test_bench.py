"""bench/geo_map.py runs and writes the bench/run.py result format (no timing assertions here);
the pure parsing helpers of bench/edge.py."""

import json
import os
import subprocess
import sys

import pytest


def test_bench_geo_map_json(root, collections_path, tmp_path):
    out = tmp_path / "gm.json"
    # the script finds the collection through the checkout's .cache/collections, or else through PYTHONPATH
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (collections_path, os.environ.get("PYTHONPATH")) if p))
    subprocess.run([sys.executable, os.path.join(root, "bench", "geo_map.py"), "--sizes", "10,30", "--repeat", "1",
                    "--json", str(out)], check=True, capture_output=True, env=env)
    doc = json.loads(out.read_text())
    assert [r["metric"] for r in doc["rows"]] == [
        "geo_map, 10 sites", "geo_map + zone render, 10 sites", "geo_map, 30 sites", "geo_map + zone render, 30 sites"]
    for r in doc["rows"]:
        assert r["min"] <= r["median"] <= r["max"] and r["unit"] == "s" and r["runs"] == 1
    assert set(doc["curves"]["scaling"]["series"]) == {"geo_map", "geo_map + zone render"}


def _edge_bench(root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_edge", os.path.join(root, "bench", "edge.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


WRK_OK = """Running 5s test @ http://127.0.0.1/bench/obj-1.bin
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us  10.00ms   80.00%
    Req/Sec    12.00k     1.00k   14.00k    70.00%
  119500 requests in 5.00s, 150.00MB read
Requests/sec:  23900.12
Transfer/sec:     30.00MB
"""


def test_edge_parse_wrk(root):
    edge = _edge_bench(root)
    assert edge.parse_wrk(WRK_OK) == {"rps": 23900.12, "requests": 119500, "non2xx": 0, "socket_errors": 0}
    bad = WRK_OK.replace("Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 2\n"
                         "  Non-2xx or 3xx responses: 42\nRequests/sec")
    got = edge.parse_wrk(bad)
    assert got["non2xx"] == 42 and got["socket_errors"] == 5
    with pytest.raises(ValueError):
        edge.parse_wrk("unable to connect to 127.0.0.1:80 Connection refused")


INRELEASE = """-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

Origin: perch
Suite: perch
Architectures: amd64 all
Components: main
Acquire-By-Hash: yes
SHA256:
 {a} 700 main/binary-amd64/Packages
 {b} 400 main/binary-amd64/Packages.gz
 {c} 420 main/binary-amd64/Packages.xz
 {d} 700 main/binary-all/Packages
 {e} 400 main/binary-all/Packages.gz
-----BEGIN PGP SIGNATURE-----
"""
H = {k: k * 64 for k in "abcde"}


def test_edge_byhash_indexes(root):
    edge = _edge_bench(root)
    assert edge.byhash_indexes(INRELEASE.format(**H), "perch") == [
        ("/dists/perch/main/binary-amd64/by-hash/SHA256/" + H["c"], H["c"]),
        ("/dists/perch/main/binary-all/by-hash/SHA256/" + H["e"], H["e"])]
    plain = INRELEASE.replace("Acquire-By-Hash: yes\n", "").format(**H)
    assert edge.byhash_indexes(plain, "perch", archs=("amd64",)) == [
        ("/dists/perch/main/binary-amd64/Packages.xz", H["c"])]
    with pytest.raises(ValueError):
        edge.byhash_indexes(INRELEASE.format(**H), "perch", archs=("arm64",))


@pytest.mark.parametrize("a,b,sign", [
    ("1.0", "1.0", 0), ("1.0", "1.1", -1), ("1.10", "1.9", 1), ("2.1732460000.1.1", "1.0", 1),
    ("2.17.2.1", "2.17.10.1", -1), ("1.0~rc1", "1.0", -1), ("1:0.1", "2.0", 1), ("1.0-1", "1.0-2", -1),
    ("1.0a", "1.0", 1), ("1.0+b1", "1.0", 1), ("1.0-1", "1.0", 1), ("0:1.0", "1.0", 0)])
def test_edge_version_cmp(root, a, b, sign):
    edge = _edge_bench(root)
    got = edge.version_cmp(a, b)
    assert (got > 0) - (got < 0) == sign
    assert (edge.version_cmp(b, a) > 0) - (edge.version_cmp(b, a) < 0) == -sign


def test_edge_newest_package_and_stats(root):
    edge = _edge_bench(root)
    packages = "\n\n".join(
        f"Package: {n}\nVersion: {v}\nArchitecture: all\nFilename: pool/main/p/{n}/{n}_{v}_all.deb\nSHA256: {v}"
        for n, v in [("perch-hello", "1.0"), ("perch-tools", "9.0"), ("perch-hello", "2.10.1"),
                     ("perch-hello", "2.9.5")]) + "\n"
    newest = edge.newest_package(packages, "perch-hello")
    assert newest["Filename"] == "pool/main/p/perch-hello/perch-hello_2.10.1_all.deb"
    with pytest.raises(ValueError):
        edge.newest_package(packages, "nope")
    caches = ("HIT", "HIT", "REVALIDATED", "UPDATING", "STALE", "MISS", "EXPIRED", "BYPASS")
    recs = [{"cache": c, "status": 200} for c in caches]
    assert edge.apt_stats(recs) == (5 / 8, 2 / 8, 0)
    assert edge.apt_stats([{"cache": "HIT", "status": 429}, {"cache": "-", "status": 200, "ok": False}])[2] == 2
    log = ('198.18.100.50 - - [24/Nov/2026:10:00:00 +0000] "GET /dists/perch/InRelease HTTP/1.1" 200 1 "-" "x"\n'
           '198.18.100.50 - - [24/Nov/2026:10:00:00 +0000] "GET /pool/main/p/x.deb HTTP/1.1" 200 1 "-" "x"\n'
           '198.18.100.50 - - [24/Nov/2026:10:00:00 +0000] "GET /bench/obj-1.bin HTTP/1.1" 200 1 "-" "x"\n')
    assert edge.count_origin_apt_lines(log) == 2
