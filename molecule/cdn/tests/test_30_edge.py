"""perch.cdn.origin + perch.cdn.cache_edge as a user sees them: apt-get through an edge with the
origin's signed repository, cache statuses, a repository update under load, slices for a 64 MiB
file, purge, bans, rate limits and a rollout that stops at a broken canary.

The tests run in file order and share the containers.
"""

import json
import re
import time

import pytest
from cdn import (
    CLIENT,
    CLIENT_B,
    EDGES,
    INV,
    IP,
    ORIGIN,
    ROOT,
    ROUTER,
    ZONE,
    headers,
    next_hops,
    playbook,
    podman,
    put,
    rollout_plays,
)

EDGE1, EDGE2 = "cdn-edge-fra", "cdn-edge-nyc"
# the edges behind the shield cdn-edge-fra (cdn_shield in the scenario's inventory)
CHILDREN = ("cdn-edge-fra2", "cdn-edge-nyc", "cdn-edge-sin")
ISO = "/iso/perch-lab.iso"
WEB_VALID, META_VALID = 3, 4
FIRST = "Cache edges that serve nothing yet"


def origin_log_lines(node):
    return int(node(ORIGIN).check_output("wc -l < /var/log/nginx/access.log"))


def origin_log_since(node, start):
    return node(ORIGIN).check_output(f"tail -n +{start + 1} /var/log/nginx/access.log").splitlines()


def write_origin(node, service, path, content):
    node(ORIGIN).check_output(f"mkdir -p $(dirname /srv/perch/{service}{path}) && "
                              f"printf '%s' '{content}' > /srv/perch/{service}{path}")


@pytest.fixture(scope="module", autouse=True)
def no_apt_probe(node):
    """These checks expect exact cache statuses of InRelease (MISS after a purge, EXPIRED, REVALIDATED): the
    monitoring host's apt probe, another client of that object on every edge every 5 s, waits meanwhile
    (test_90 checks it)."""
    node(ORIGIN).check_output("systemctl stop perch-apt-probe.timer")
    yield
    node(ORIGIN).check_output("systemctl start perch-apt-probe.timer")


@pytest.fixture(scope="module", autouse=True)
def client_apt(node):
    """The client trusts the origin's archive key (no [trusted=yes]) and uses the CDN's name."""
    key = podman("exec", ORIGIN, "cat", "/srv/perch/deb/perch-archive-keyring.gpg", capture_output=True).stdout
    node(CLIENT).check_output("mkdir -p /etc/apt/keyrings")
    put(CLIENT, "/etc/apt/keyrings/perch.gpg", key)
    # the CDN's repository only: the client routes 203.0.113.0/24 (anycast) into the lab, and
    # this sandbox resolves public mirrors into that range
    node(CLIENT).check_output(
        f"echo 'deb [signed-by=/etc/apt/keyrings/perch.gpg] http://deb.{ZONE}/ perch main'"
        " > /etc/apt/sources.list.d/perch.list && rm -f /etc/apt/sources.list")
    node(CLIENT).check_output(f"ip addr add {CLIENT_B}/16 dev eth0 2>/dev/null || true")
    yield
    # ban.yml writes the inventory, as it should; the scenario's inventory is in git
    (INV / "group_vars" / "all" / "cdn_bans.yml").unlink(missing_ok=True)


def test_no_access_log_on_edges_after_converge(node):
    for edge in EDGES:
        assert node(edge).check_output("find /var/log/nginx -name 'access*'") == ""


def test_apt_install_through_the_edge(node):
    out = node(CLIENT).run("apt-get update 2>&1")
    assert out.rc == 0, out.stdout
    assert not re.search(r"(?m)^(W:|E:|Err:)", out.stdout), out.stdout
    node(CLIENT).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y perch-hello")
    assert node(CLIENT).check_output("dpkg-query -W -f '${Version}' perch-hello") == "1.0"


def test_second_apt_run_is_served_from_cache(node):
    start = origin_log_lines(node)
    node(CLIENT).check_output("apt-get clean && rm -rf /var/lib/apt/lists/*perch* && apt-get update")
    node(CLIENT).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall perch-hello")
    reached = [line for line in origin_log_since(node, start) if "/pool/" in line or "/by-hash/" in line]
    assert reached == [], f"immutable files went to the origin again: {reached}"
    deb = f"http://deb.{ZONE}/pool/main/p/perch-hello/perch-hello_1.0_all.deb"
    assert headers(node, deb) == (200, "HIT")


def test_miss_then_hit(node):
    write_origin(node, "www", "/tour/page.html", "hello")
    url = f"http://www.{ZONE}/tour/page.html"
    assert headers(node, url) == (200, "MISS")
    assert headers(node, url) == (200, "HIT")


def test_a_path_that_would_share_another_urls_cache_key_is_refused(node):
    """The key holds the decoded path: /x%3Fv=1 would be cached as /x?v=1, under that URL's key."""
    write_origin(node, "www", "/tour/key.html", "k")
    for odd in ("/tour/key.html%3Fv=1", "/tour/%2e%2e/tour/key.html", "/tour/..%2Ftour/key.html", "/tour//key.html"):
        assert headers(node, f"http://www.{ZONE}{odd}")[0] == 400, odd
    assert headers(node, f"http://www.{ZONE}/tour/key.html?v=1") == (200, "MISS")
    assert headers(node, f"http://www.{ZONE}/tour/k%65y.html?q=%3F") == (200, "MISS")  # an encoded 'e' is fine


def test_no_cache_bypasses_only_for_trusted_clients(node):
    url = f"http://www.{ZONE}/tour/page.html"
    headers(node, url)
    assert headers(node, url, extra="-H 'Cache-Control: no-cache'")[1] in ("HIT", "STALE", "UPDATING")
    out = node(EDGE1).check_output(
        f"curl -s -o /dev/null -D - -H 'Cache-Control: no-cache' -H 'Host: www.{ZONE}' http://127.0.0.1/tour/page.html")
    assert re.search(r"(?im)^x-cache-status:\s*BYPASS", out), out


def test_expired_then_stale_and_updating_when_the_origin_is_slow_or_down(node):
    write_origin(node, "www", "/tour/stale.html", "v1")
    url = f"http://www.{ZONE}/tour/stale.html"
    assert headers(node, url) == (200, "MISS")
    time.sleep(WEB_VALID + 1)
    # origin frozen: the first request serves the old copy and refreshes it in the background,
    # the next one finds that refresh under way
    podman("pause", ORIGIN)
    try:
        assert headers(node, url) == (200, "STALE")
        assert headers(node, url) == (200, "UPDATING")
    finally:
        podman("unpause", ORIGIN)
    node(ORIGIN).check_output("systemctl stop nginx")
    try:
        time.sleep(WEB_VALID + 1)
        status, cache = headers(node, url)
        assert (status, cache) == (200, "STALE")
        assert node(CLIENT).check_output(f"curl -s --max-time 10 {url}") == "v1"
    finally:
        node(ORIGIN).check_output("systemctl start nginx")


MIRROR_CONF = f"""
map $host $perch_service {{ ~^(?<s>[a-z0-9-]+)\\.{re.escape(ZONE)}$ $s; }}
server {{
    listen 443 ssl;
    ssl_certificate /etc/perch-mirror/fullchain.pem;
    ssl_certificate_key /etc/perch-mirror/privkey.pem;
    root /srv/perch/$perch_service;
    access_log /var/log/nginx/mirror.log;
}}
"""


def test_when_the_origin_fails_the_edges_fetch_from_its_mirror(node):
    """cdn_origin_backup names a mirror (here nginx on the router, a copy of the origin's files): with the origin
    stopped, cold objects come from it, on the shield and through it, and on an edge without a shield."""
    tls = ROOT / ".cache" / "cdn-tls"
    node(ROUTER).check_output("mkdir -p /etc/perch-mirror")  # nginx is installed by prepare.yml
    put(ROUTER, "/etc/perch-mirror/fullchain.pem",
        (tls / "mirror" / "cert.pem").read_bytes() + (tls / "intermediate.pem").read_bytes())
    put(ROUTER, "/etc/perch-mirror/privkey.pem", (tls / "mirror" / "privkey.pem").read_bytes())
    put(ROUTER, "/etc/nginx/conf.d/perch-mirror.conf", MIRROR_CONF.encode())
    for edge in EDGES:
        write_origin(node, "www", f"/mirror/{edge}.html", f"from the mirror for {edge}")
    podman("exec", ORIGIN, "tar", "cf", "/tmp/www.tar", "-C", "/srv", "perch/www")
    data = podman("exec", ORIGIN, "cat", "/tmp/www.tar", capture_output=True).stdout
    put(ROUTER, "/tmp/www.tar", data)
    node(ROUTER).check_output("mkdir -p /srv && tar xf /tmp/www.tar -C /srv && nginx -t 2>/dev/null"
                              " && systemctl restart nginx")
    node(ORIGIN).check_output("systemctl stop nginx")
    try:
        for edge in (EDGE1, *CHILDREN):
            out = node(CLIENT).check_output(
                f"curl -s -D - --max-time 20 --resolve www.{ZONE}:80:{IP[edge]} http://www.{ZONE}/mirror/{edge}.html")
            assert out.endswith(f"from the mirror for {edge}"), (edge, out)
            assert re.search(r"(?im)^x-cache-status: MISS", out), (edge, out)
        served = node(ROUTER).check_output("grep -c 'GET /mirror/' /var/log/nginx/mirror.log")
        # the shield fetched each object from the mirror, for itself and for the edges behind it
        assert served == str(len(EDGES)), served
    finally:
        node(ORIGIN).check_output("systemctl start nginx")
        node(ROUTER).check_output("systemctl stop nginx; rm -f /var/log/nginx/mirror.log")


ROGUE = ("set -e; mkdir -p /tmp/rogue; cd /tmp/rogue; echo EVIL > forged.html;"
         " openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k.pem -out c.pem"
         f" -days 2 -subj /CN=origin.{ZONE} -addext subjectAltName=DNS:origin.{ZONE} 2>/dev/null;"
         " setsid openssl s_server -quiet -accept 443 -cert c.pem -key k.pem -WWW </dev/null >/dev/null 2>&1 &"
         " echo $! > pid")
# not pkill -f: its pattern is in the shell's own command line, and the shell would die with it
ROGUE_STOP = "pid=$(cat /tmp/rogue/pid) && kill $pid && while kill -0 $pid 2>/dev/null; do sleep 0.1; done"


def test_a_forged_origin_is_refused_and_never_cached(node):
    """Someone answers on the origin's address, with a certificate of their own for the origin's name:
    the edge checks it against the CDN's origin CA, refuses it (502) and caches nothing."""
    write_origin(node, "www", "/tour/forged.html", "real")
    url = f"http://www.{ZONE}/tour/forged.html"
    origin = node(ORIGIN)
    origin.check_output("systemctl stop nginx")
    try:
        origin.check_output(ROGUE)
        assert origin.check_output("for i in $(seq 50); do curl -sk https://127.0.0.1/forged.html && break;"
                                   " sleep 0.1; done") == "EVIL"  # it would serve, to anyone who trusts it
        assert headers(node, url) == (502, "MISS")
        assert "EVIL" not in node(CLIENT).check_output(f"curl -s --resolve www.{ZONE}:80:{IP[EDGE1]} {url}")
    finally:
        origin.run(ROGUE_STOP)
        origin.check_output("systemctl start nginx")
    assert headers(node, url) == (200, "MISS")
    assert node(CLIENT).check_output(f"curl -s --resolve www.{ZONE}:80:{IP[EDGE1]} {url}") == "real"


def test_the_origin_answers_only_the_edges_and_hides_its_version(node):
    write_origin(node, "www", "/tour/origin.html", "o")
    page = f"https://origin.{ZONE}/tour/origin.html"
    ask = f"curl -s -o /dev/null -D - --max-time 5 -H 'Host: www.{ZONE}' --resolve origin.{ZONE}:443:{IP[ORIGIN]}"
    out = node(EDGE1).check_output(f"{ask} --cacert /etc/nginx/perch/origin-ca.pem {page}")
    assert out.split()[1] == "200", out
    out = node(CLIENT).check_output(f"{ask} -k {page}")
    assert out.split()[1] == "403" and re.search(r"(?im)^server: nginx\s*$", out), out
    # port 80 stays for the edges (while they switch to TLS), and only for them
    plain = f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 -H 'Host: www.{ZONE}' http://{IP[ORIGIN]}/tour/origin.html"
    assert node(CLIENT).check_output(plain) == "403"
    assert node(EDGE1).check_output(plain) == "200"


def test_release_files_are_revalidated(node):
    url = f"http://deb.{ZONE}/dists/perch/InRelease"
    headers(node, url)
    time.sleep(META_VALID + 1)
    assert headers(node, url) == (200, "REVALIDATED")
    assert headers(node, url) == (200, "HIT")


def test_by_hash_and_pool_are_immutable(node):
    out = node(CLIENT).check_output(f"curl -s -D - -o /dev/null http://deb.{ZONE}/pool/main/p/perch-hello/perch-hello_1.0_all.deb")
    assert "immutable" in out


def build_deb(node, name, version):
    node(ORIGIN).check_output(
        f"set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/{name}; echo {version} > $d/usr/share/{name}/VERSION;"
        f"printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: perch <root@localhost>\\n"
        f"Description: perch.cdn test package\\n' > $d/DEBIAN/control;"
        f"mkdir -p /srv/perch/deb/pool/main/p/{name};"
        f"dpkg-deb -Zgzip --build $d /srv/perch/deb/pool/main/p/{name}/{name}_{version}_all.deb >/dev/null; rm -rf $d")


def test_repository_update_under_load_has_no_hash_sum_mismatch(node):
    # apt-get update in a loop on the client while the repository changes twice and is purged
    node(CLIENT).check_output(
        "rm -f /tmp/loop.log; (for i in $(seq 40); do"
        " apt-get update >>/tmp/loop.log 2>&1 || echo FAILED >>/tmp/loop.log;"
        " sleep 0.3; done; echo DONE >>/tmp/loop.log) >/dev/null 2>&1 &")
    for version in ("1.1", "1.2"):
        time.sleep(3)
        build_deb(node, "perch-hello", version)
        out = node(ORIGIN).run("perch-repo-publish")
        assert out.rc == 0, out.stdout + out.stderr
    for _poll in range(120):
        if "DONE" in node(CLIENT).check_output("tail -n 1 /tmp/loop.log"):
            break
        time.sleep(1)
    log = node(CLIENT).check_output("cat /tmp/loop.log")
    assert "DONE" in log
    assert log.count("Reading package lists") == 40
    bad = [line for line in log.splitlines() if re.search(r"Hash Sum|mismatch|FAILED|^(W|E):|^Err:", line)]
    assert bad == [], bad
    node(CLIENT).check_output("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y perch-hello")
    assert node(CLIENT).check_output("dpkg-query -W -f '${Version}' perch-hello") == "1.2"


# /etc/hosts is bind-mounted in the container: rewritten in place, not renamed (sed -i). The first line that
# names deb.<zone> wins (prepare.yml's line names fra).
def pin(edge=None):
    """Shell that puts deb.<zone> on the edge's address in the client's /etc/hosts, first (the first line
    wins); with no edge, it only takes such a line out. (/etc/hosts is a bind mount: rewritten, not replaced.)"""
    first = f"echo '{IP[edge]} deb.{ZONE}'; " if edge else ""
    return f"{{ {first}grep -v ' deb.{ZONE}$' /etc/hosts; }} > /tmp/hosts; cat /tmp/hosts > /etc/hosts"


UNPIN = pin()


def test_after_a_publish_the_first_apt_client_of_every_edge_is_served_from_cache(node):
    """perch-repo-publish warms the shield, then every edge (origin_prewarm: all): the new indexes and the new
    .deb before InRelease changes, InRelease after the purge. No apt client waits for the origin."""
    build_deb(node, "perch-warm", "1.0")
    out = node(ORIGIN).run("perch-repo-publish")
    assert out.rc == 0, out.stdout + out.stderr
    warmed = re.findall(r"^perch-repo-publish: (\S+): warmed (\d+) of (\d+) files", out.stdout, re.M)
    order = [a for a, _ok, _n in warmed]
    assert order[0] == IP[EDGE1] and set(order[:4]) == {IP[e] for e in EDGES}, order  # the shield first
    assert all(ok == n != "0" for _a, ok, n in warmed), warmed
    release = node(ORIGIN).check_output("cat /srv/perch/deb/dists/perch/Release").split("SHA256:")[1]
    digest = re.search(r"^ ([0-9a-f]{64}) +\d+ main/binary-all/Packages.xz$", release, re.M).group(1)
    paths = {"InRelease": "/dists/perch/InRelease",
             "index": f"/dists/perch/main/binary-all/by-hash/SHA256/{digest}",
             "deb": "/pool/main/p/perch-warm/perch-warm_1.0_all.deb"}
    start = origin_log_lines(node)
    try:
        for edge in EDGES:
            # a client served by this edge alone, as GeoDNS would send it there
            node(CLIENT).check_output(pin(edge))
            assert node(CLIENT).check_output(f"getent hosts deb.{ZONE}").split()[0] == IP[edge]
            node(CLIENT).check_output("apt-get update && cd /tmp && apt-get download perch-warm && rm perch-warm_*.deb")
            got = {what: headers(node, f"http://deb.{ZONE}{p}", edge=edge)[1] for what, p in paths.items()}
            # the scenario keeps InRelease 4 s (META_VALID): later, the edge revalidates it with its shield
            assert got["index"] == got["deb"] == "HIT" and got["InRelease"] in ("HIT", "REVALIDATED"), (edge, got)
    finally:
        node(CLIENT).check_output(UNPIN)
    fetched = [line for line in origin_log_since(node, start) if "/by-hash/" in line or "/pool/" in line]
    assert fetched == []


def test_changed_release_without_purge_shows_expired(node):
    url = f"http://deb.{ZONE}/dists/perch/InRelease"
    headers(node, url)
    build_deb(node, "perch-tools", "1.1")
    node(ORIGIN).check_output("perch-repo-publish --no-purge")
    time.sleep(META_VALID + 1)
    assert headers(node, url) == (200, "EXPIRED")


def test_purge_by_url_and_tag_with_the_playbook(node):
    url = f"http://deb.{ZONE}/dists/perch/InRelease"
    headers(node, url)
    headers(node, url, edge=EDGE2)
    res = playbook("purge.yml", "-e", "service=deb", "-e", "url=/dists/perch/InRelease")
    assert res.returncode == 0, res.stdout + res.stderr
    # the shield first, then the edges behind it (tier by tier)
    tiers = [part.split("\n\n")[0] for part in res.stdout.split("TASK [perch.cdn.cache_edge : Purge]")[1:]]
    assert len(tiers) == 2 and f"[{EDGE1}]" in tiers[0] and all(f"[{e}]" in tiers[1] for e in CHILDREN), tiers
    assert not any(f"[{e}]" in tiers[0] for e in CHILDREN), tiers
    assert headers(node, url)[1] == "MISS"
    assert headers(node, url, edge=EDGE2)[1] == "MISS"
    deb = f"http://deb.{ZONE}/pool/main/p/perch-hello/perch-hello_1.0_all.deb"
    assert headers(node, deb)[1] == "HIT"
    # what someone who can write as www-data could leave in the cache: a FIFO (a blocking read) and
    # links to a file and a directory outside it, the file shaped like an entry the purge matches
    edge = node(EDGE1)
    edge.check_output("printf 'header\\nKEY: /dists/perch/InRelease\\nHTTP/1.1 200 OK\\r\\n\\r\\n' > /root/outside"
                      " && cd /var/cache/perch/deb && runuser -u www-data -- sh -c"
                      " 'mkfifo trap-fifo && ln -s /root/outside trap-file && ln -s /root trap-dir'")
    try:
        res = playbook("purge.yml", "-e", "service=deb", "-e", "tag=suite:perch", timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "KEY: /dists/perch/InRelease" in edge.check_output("cat /root/outside")
        assert edge.file("/var/cache/perch/deb/trap-fifo").is_pipe
    finally:
        edge.run("rm -f /root/outside /var/cache/perch/deb/trap-fifo /var/cache/perch/deb/trap-file"
                 " /var/cache/perch/deb/trap-dir")
    assert headers(node, url)[1] == "MISS"
    assert headers(node, deb)[1] == "HIT"  # the tag only covers the suite's metadata
    everything = playbook("purge.yml", "-e", "service=download", "-e", "url=/")
    assert everything.returncode != 0 and "confirm_all" in everything.stdout, everything.stdout
    bad = playbook("purge.yml", "-e", "service=nope", "-e", "url=/x")
    assert bad.returncode != 0 and "perch.cdn purge" in bad.stdout


def test_purge_over_http_is_restricted(node):
    path = "/.perch/purge/dists/perch/InRelease"
    assert node(CLIENT).check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: deb.{ZONE}' http://{IP[EDGE1]}{path}") == "403"
    headers(node, f"http://deb.{ZONE}/dists/perch/InRelease")
    assert node(ORIGIN).check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: deb.{ZONE}' http://{IP[EDGE1]}{path}") == "200"


def test_large_file_with_aria2_is_byte_exact(node):
    want = node(ORIGIN).check_output(f"sha256sum /srv/perch/download{ISO}").split()[0]
    node(CLIENT).check_output(
        f"cd /tmp && rm -f perch-lab.iso && aria2c -q -x4 -s4 -k1M http://download.{ZONE}{ISO}")
    assert node(CLIENT).check_output("sha256sum /tmp/perch-lab.iso").split()[0] == want
    ranged = node(CLIENT).check_output(
        f"curl -s -r 5000000-5999999 http://download.{ZONE}{ISO} | sha256sum").split()[0]
    piece = node(ORIGIN).check_output(
        f"tail -c +5000001 /srv/perch/download{ISO} | head -c 1000000 | sha256sum").split()[0]
    assert ranged == piece
    assert headers(node, f"http://download.{ZONE}{ISO}", extra="-r 0-99")[1] == "HIT"
    node(CLIENT).check_output("rm -f /tmp/perch-lab.iso")


def test_one_cold_iso_on_the_three_edges_behind_the_shield_costs_the_origin_one_copy(node):
    """fra2, nyc and sin send their misses to fra (cdn_shield): the same cold 256 MiB file fetched on all
    three at once crosses the origin's link once, and every client gets it byte-exact (edge to shield and
    shield to origin over TLS)."""
    path, size = "/iso/shield-256.iso", 256 * 1024 * 1024
    node(ORIGIN).check_output(f"head -c {size} /dev/urandom > /srv/perch/download{path}")
    want = node(ORIGIN).check_output(f"sha256sum /srv/perch/download{path}").split()[0]
    start = origin_log_lines(node)
    node(CLIENT).check_output(
        "for e in " + " ".join(IP[e] for e in CHILDREN) + f"; do curl -sf --max-time 300"
        f" --resolve download.{ZONE}:80:$e http://download.{ZONE}{path} | sha256sum > /tmp/shield.$e & done; wait")
    sums = node(CLIENT).check_output("cat /tmp/shield.*; rm -f /tmp/shield.*").split()
    assert sums == [want, "-"] * 3
    sent = sum(int(re.search(r'" \d{3} (\d+) ', line).group(1))
               for line in origin_log_since(node, start) if f"GET {path} " in line)
    print(f"origin bytes for one cold 256 MiB file on 3 edges behind a shield: {sent / size:.3f} x the file")
    assert size <= sent <= 1.05 * size
    for edge in CHILDREN:
        assert headers(node, f"http://download.{ZONE}{path}", edge=edge, extra="-r 0-99") == (206, "HIT")
    node(ORIGIN).check_output(f"rm -f /srv/perch/download{path}")


def test_prewarm_a_new_file_on_every_edge_shield_first(node):
    path, size = "/iso/prewarm-32.iso", 32 * 1024 * 1024
    node(ORIGIN).check_output(f"head -c {size} /dev/urandom > /srv/perch/download{path}")
    start = origin_log_lines(node)
    res = playbook("prewarm.yml", "-e", "service=download", "-e", f"url={path}")
    assert res.returncode == 0, res.stdout[-3000:]
    # progress: one loop item per range and edge, the shield's before any other edge's
    progress = re.findall(r"^changed: \[(\S+)\] => \(item=\S+: (\d+)% ", res.stdout, re.M)
    assert [p for _e, p in progress if _e == EDGE1][-1] == "100", progress
    assert {e for e, _p in progress} == set(EDGES) and progress[0][0] == EDGE1
    assert all(e == EDGE1 for e, _p in progress[:10]), progress
    sent = sum(int(re.search(r'" \d{3} (\d+) ', line).group(1))
               for line in origin_log_since(node, start) if f"GET {path} " in line)
    assert size <= sent <= 1.05 * size
    for edge in EDGES:
        assert headers(node, f"http://download.{ZONE}{path}", edge=edge, extra="-r 0-99") == (206, "HIT")
    node(ORIGIN).check_output(f"rm -f /srv/perch/download{path}")


def test_ban_and_unban_land_on_every_edge(node):
    url = f"http://www.{ZONE}/tour/page.html"
    res = playbook("ban.yml", "-e", f"ip={IP[CLIENT]}")
    assert res.returncode == 0, res.stdout + res.stderr
    for edge in (EDGE1, EDGE2):
        assert headers(node, url, edge=edge)[0] == 403
        assert headers(node, url, edge=edge, extra=f"--interface {CLIENT_B}")[0] == 200
    res = playbook("ban.yml", "-e", f"ip={IP[CLIENT]}", "-e", "unban=true")
    assert res.returncode == 0, res.stdout + res.stderr
    for edge in (EDGE1, EDGE2):
        assert headers(node, url, edge=edge)[0] == 200
    bad = playbook("ban.yml", "-e", "ip=198.51.100.7/24")
    assert bad.returncode != 0 and "perch.cdn.ban_list" in bad.stdout


def test_rate_limit_hits_the_burst_not_the_neighbour(node):
    url = f"http://www.{ZONE}/tour/page.html"
    # 600 requests over 20 connections at once: far over 100 r/s with a burst of 200 (the role's defaults)
    codes = node(CLIENT).check_output(
        f"for i in $(seq 600); do echo 'url = \"{url}\"'; echo 'output = /dev/null'; done > /tmp/flood.cfg && "
        "curl -s -Z --parallel-max 20 -K /tmp/flood.cfg -w '%{http_code}\\n' | sort | uniq -c")
    assert re.search(r"\d+ 429", codes), codes
    assert re.search(r"\d+ 200", codes), codes
    assert headers(node, url, extra=f"--interface {CLIENT_B}")[0] == 200


def old_config_header(node):
    out = node(CLIENT).check_output(
        f"curl -s -o /dev/null -D - --max-time 10 --resolve www.{ZONE}:80:{IP[EDGE1]} http://www.{ZONE}/tour/page.html")
    return "x-perch-old-config" in out.lower()


def test_rerun_reloads_an_nginx_left_on_an_older_config(node):
    """A run stopped after installing the files and before the reload leaves nginx serving the
    previous configuration, and the rerun has no file left to change: it must reload anyway."""
    inc = "/etc/nginx/perch/headers.inc"
    node(EDGE1).check_output(f"cp -p {inc} /run/perch-headers.inc"
                             f" && echo 'add_header X-Perch-Old-Config 1 always;' >> {inc}"
                             " && nginx -q -t && systemctl reload nginx")
    time.sleep(2.5)  # the role compares whole seconds: the files must be at least 2 s younger than the reload
    # the edge now serves that "previous" configuration; the current files are back, not loaded
    node(EDGE1).check_output(f"cp /run/perch-headers.inc {inc} && touch {inc} && rm /run/perch-headers.inc")
    assert old_config_header(node)
    res = playbook("edges.yml", "-l", EDGE1)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "RUNNING HANDLER [perch.cdn.cache_edge : Reload nginx]" in res.stdout
    assert not old_config_header(node)


def test_broken_change_stops_the_rollout_after_the_canary(node):
    res = playbook("edges.yml", "-e", "cache_edge_extra_http_config='perch_not_a_directive on;'")
    assert res.returncode != 0
    assert "nginx rejects the new configuration" in res.stdout
    # every edge is previewed at once in check mode; the rollout starts at its own plays (every
    # edge serves, so the one for edges that serve nothing yet has no hosts)
    rollout = "".join(rollout_plays(res.stdout, FIRST))
    touched = set(re.findall(r"(?m)^(?:ok|changed|fatal): \[(cdn-edge-\w+)\]", rollout))
    assert len(touched) == 1, touched  # the canary batch only
    for edge in EDGES:
        assert headers(node, f"http://www.{ZONE}/tour/page.html", edge=edge)[0] == 200
        assert "perch_not_a_directive" not in node(edge).check_output("cat /etc/nginx/perch/cdn.conf")
    # every edge still announces the anycast prefix
    assert next_hops(node) == {bgp for _unicast, bgp in EDGES.values()}


def test_an_edge_that_serves_nothing_is_converged_first_and_alone(node):
    """An edge whose nginx is down serves no traffic, so it skips the canary batches: it goes
    through the first play, on its own. A broken change fails there, before any serving edge."""
    node(EDGE1).check_output("systemctl stop nginx")
    try:
        res = playbook("edges.yml", "-e", "cache_edge_extra_http_config='perch_not_a_directive on;'")
        assert res.returncode != 0
        first, _sep, rest = rollout_plays(res.stdout, FIRST)
        assert set(re.findall(r"(?m)^fatal: \[(cdn-edge-\w+)\]", first)) == {EDGE1}, first[-3000:]
        assert not re.search(r"(?m)^(?:ok|changed|fatal): \[cdn-edge-\w+\]", rest), rest[-3000:]
        assert headers(node, f"http://www.{ZONE}/tour/page.html", edge=EDGE2)[0] == 200
    finally:
        res = playbook("edges.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    first, _sep, rest = rollout_plays(res.stdout, FIRST)
    assert "changed: [cdn-edge-fra]" in first and not re.search(r"\[cdn-edge-(?!fra\])", first + rest)
    assert headers(node, f"http://www.{ZONE}/tour/page.html", edge=EDGE1)[0] == 200


def test_origin_report_counts_what_reached_it_through_the_edges(node):
    """The CDN's only access log is the origin's; goaccess turns it into an anonymised daily report
    of the requests the edges passed on, with the clients' addresses (the origin trusts the edges'
    X-Forwarded-For) and countries from the DNS's mmdb."""
    # the monitoring probes (blackbox, through every edge every 5 s) would be counted too: they wait
    node(ORIGIN).check_output("systemctl stop prometheus-blackbox-exporter.service")
    try:
        time.sleep(2)  # the rate-limit test emptied this client's burst allowance; the last probes finish
        node(ORIGIN).check_output("truncate -s 0 /var/log/nginx/access.log")
        # 25 cold URLs, each asked twice in a row, paced under the edge's rate limit: the first reaches the
        # origin, the second is a HIT and does not. (Asked again later, a page would be revalidated at the
        # origin: www pages are valid 3 s here, and 25 requests can take longer than that on a busy machine.)
        out = node(CLIENT).check_output(
            f"for i in $(seq 0 24); do for n in 1 2; do curl -sf -o /dev/null -D - 'http://www.{ZONE}/?report='$i"
            " | grep -i '^x-cache-status:'; done; sleep 0.1; done")
        assert [line.split(":", 1)[1].strip().upper() for line in out.splitlines()] == ["MISS", "HIT"] * 25, out
        node(ORIGIN).check_output("systemctl start perch-log-report.service")
        text = node(ORIGIN).check_output("cat /var/lib/perch/reports/report.json")
        report = json.loads(text)
        assert report["general"]["total_requests"] == 25
        assert report["general"]["unique_visitors"] == 1
        geo = json.dumps(report.get("geolocation", {}))
        assert "FR" in geo or "France" in geo  # the test mmdb puts the lab network in France
        assert IP[CLIENT] not in text
        assert IP[CLIENT] not in node(ORIGIN).check_output("cat /var/lib/perch/reports/index.html")
        assert node(ORIGIN).check_output(f"grep -c '^{IP[CLIENT]} ' /var/log/nginx/access.log") == "25"
    finally:
        node(ORIGIN).check_output("systemctl start prometheus-blackbox-exporter.service")


def test_reports_are_served_only_to_the_allow_list(node):
    cmd = f"curl -s -o /dev/null -w '%{{http_code}}' http://{IP[ORIGIN]}:8081/report.json"
    assert node(ORIGIN).check_output(cmd) == "200"
    assert node(CLIENT).check_output(cmd) == "403"


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
    assert "access.log.9" in origin.check_output("journalctl -u perch-log-retention.service --no-pager")


def test_no_access_log_and_no_client_address_on_edges(node):
    for edge in EDGES:
        assert node(edge).check_output("find /var/log/nginx /var/cache/perch -maxdepth 1 -name 'access*'") == ""
        assert IP[CLIENT] not in node(edge).check_output("cat /var/log/nginx/error.log")
        assert CLIENT_B not in node(edge).check_output("cat /var/log/nginx/error.log")
