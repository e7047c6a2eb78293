"""perch.cdn.tls as a user sees it: HTTPS through each edge with the lab CA, a rotation under load
without a failed request, and bad certificates refused before any edge changes.

The tests run in file order: serve v1, refuse the bad ones (still v1), rotate to v2, report.
"""

import json
import re
import subprocess
import time

import pytest
from cdn import CLIENT, EDGES, ENV, IP, ORIGIN, ROOT, ZONE, changed, finish, playbook, podman, put, start_playbook

LAB = ROOT / ".cache" / "cdn-tls"
HOSTNAMES = [f"www.{ZONE}", f"deb.{ZONE}", f"download.{ZONE}"]
CA = "/usr/local/share/perch/labca.pem"
PATHS = {f"www.{ZONE}": "/", f"deb.{ZONE}": "/dists/perch/InRelease", f"download.{ZONE}": "/iso/perch-lab.iso"}


@pytest.fixture(scope="module", autouse=True)
def client_trusts_the_lab_ca():
    put(CLIENT, CA, (LAB / "labca.pem").read_bytes())


def lab_serial(name):
    out = subprocess.check_output(["openssl", "x509", "-noout", "-serial", "-in", str(LAB / name / "cert.pem")],
                                  text=True)
    return out.strip().split("=")[1].upper()


def served_serial(node, edge, hostname=HOSTNAMES[0]):
    cmd = (f"openssl s_client -connect {IP[edge]}:443 -servername {hostname} </dev/null 2>/dev/null"
           " | openssl x509 -noout -serial")
    return node(CLIENT).check_output(cmd).strip().split("=")[1].upper()


def curl(edge, hostname, path="/"):
    return (f"curl -s -r 0-99 -o /dev/null -D - --max-time 5 --cacert {CA} --resolve {hostname}:443:{IP[edge]}"
            f" https://{hostname}{path}")


def served_by(node, edge, hostname):
    """The edge that answered over HTTPS verified with the lab CA (curl fails on a bad certificate)."""
    out = node(CLIENT).check_output(curl(edge, hostname, PATHS[hostname]))
    return re.search(r"(?im)^x-served-by:\s*(\S+)", out).group(1)


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_key_files_are_private(node, edge):
    host = node(edge)
    assert host.file("/etc/perch/tls").mode == 0o700
    link = host.file("/etc/perch/tls/cdn")
    assert link.is_symlink
    version_dir = host.file(link.linked_to)
    assert version_dir.is_directory and version_dir.user == "root" and version_dir.mode == 0o700
    key = host.file("/etc/perch/tls/cdn/privkey.pem")
    assert key.user == "root" and key.group == "root" and key.mode == 0o600


@pytest.mark.parametrize("edge", sorted(EDGES))
@pytest.mark.parametrize("hostname", HOSTNAMES)
def test_https_through_each_edge_with_the_lab_ca(node, edge, hostname):
    assert served_by(node, edge, hostname) == edge


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_edges_serve_the_first_certificate(node, edge):
    assert served_serial(node, edge) == lab_serial("cdn-v1")


BAD = {
    "mismatched-key": (["-e", "tls_test_cert=v2", "-e", "tls_test_key=v1"], "private key does not match"),
    "expired": (["-e", "tls_test_cert=expired"], "expired on"),
    "missing-hostname": (["-e", "tls_test_cert=nodl"], f"does not cover hostname download.{ZONE}"),
    "expires-in-3-days": (["-e", "tls_test_cert=3days"], "tls_min_days_valid is 14"),
    "incomplete-chain": (["-e", "tls_test_cert=v2", "-e", "tls_test_chain=false"], "chain is incomplete"),
}


def test_modern_tls_only_and_hsts_where_the_inventory_asks(node):
    """TLS 1.2 with forward secrecy and AEAD, or 1.3; HSTS on www over HTTPS only (its override in the
    scenario's inventory), none on deb."""
    edge = "cdn-edge-fra"
    hello = f"openssl s_client -connect {IP[edge]}:443 -servername {HOSTNAMES[0]} </dev/null"
    # CBC suites (nginx's default list, HIGH, has them): refused
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        assert node(CLIENT).run(f"{hello} -tls1_2 -cipher {cbc}").rc != 0, cbc
    assert node(CLIENT).run(f"{hello} -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256").rc == 0
    assert node(CLIENT).run(f"{hello} -tls1_3").rc == 0
    www = node(CLIENT).check_output(curl(edge, HOSTNAMES[0]))
    assert re.search(r"(?im)^strict-transport-security: max-age=31536000\s*$", www), www
    plain = node(CLIENT).check_output(f"curl -s -o /dev/null -D - --resolve {HOSTNAMES[0]}:80:{IP[edge]}"
                                      f" http://{HOSTNAMES[0]}/")
    deb = node(CLIENT).check_output(curl(edge, HOSTNAMES[1], PATHS[HOSTNAMES[1]]))
    assert "strict-transport-security" not in (plain + deb).lower()


@pytest.fixture(scope="module")
def refused(node):
    """Try every bad certificate at once (each run stops before any edge task, so they cannot interfere)."""
    links = {e: node(e).check_output("readlink /etc/perch/tls/cdn") for e in EDGES}
    runs = {case: start_playbook("rotate_certs.yml", *args) for case, (args, _reason) in BAD.items()}
    results = {case: finish(run, timeout=300) for case, run in runs.items()}
    return links, results


@pytest.mark.parametrize("case", list(BAD))
def test_bad_certificate_is_refused_before_any_edge_changes(node, refused, case):
    _args, reason = BAD[case]
    links, results = refused
    out, returncode = results[case].stdout, results[case].returncode
    assert returncode != 0, out
    assert "certificate 'cdn'" in out and reason in out, out
    assert "Install each certificate" not in out, "an edge task ran"
    for edge in EDGES:
        assert node(edge).check_output("readlink /etc/perch/tls/cdn") == links[edge]
        assert served_serial(node, edge) == lab_serial("cdn-v1")
        assert served_by(node, edge, HOSTNAMES[0]) == edge


LOOP = f"""
rm -f /tmp/tls-stop /tmp/tls-result; ok=0; fail=0
while [ ! -e /tmp/tls-stop ]; do
  for ip in {" ".join(IP[e] for e in EDGES)}; do
    if curl -sf -o /dev/null --max-time 5 --cacert {CA} --resolve {HOSTNAMES[0]}:443:$ip https://{HOSTNAMES[0]}/
    then ok=$((ok+1)); else fail=$((fail+1)); fi
  done
done
echo "$ok $fail" > /tmp/tls-result
"""


def test_check_mode_tells_the_rotation_and_changes_nothing(node):
    run = playbook("tls.yml", "--check", "-e", "tls_test_cert=v2")
    assert run.returncode == 0, run.stdout + run.stderr
    for edge in EDGES:
        assert changed(run.stdout, edge)[0] > 0, run.stdout
        assert served_serial(node, edge) == lab_serial("cdn-v1")


def test_rotation_changes_the_serial_without_a_failed_request(node):
    client = node(CLIENT)
    loop = subprocess.Popen(["podman", "exec", CLIENT, "sh", "-c", LOOP], env=ENV)
    try:
        time.sleep(2)
        run = playbook("rotate_certs.yml", "-v", "--diff", "-e", "tls_test_cert=v2")
        time.sleep(2)
    finally:
        client.run("touch /tmp/tls-stop")
        loop.wait(timeout=30)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    ok, fail = (int(n) for n in client.check_output("cat /tmp/tls-result").split())
    print(f"rotation: {ok + fail} requests, {fail} failed")
    (LAB / "rotation.txt").write_text(f"{ok + fail} requests, {fail} failed\n")
    assert ok > 20 and fail == 0, (ok, fail)
    for edge in EDGES:
        assert served_serial(node, edge) == lab_serial("cdn-v2") != lab_serial("cdn-v1")
    # no key material in a verbose run with --diff
    assert "PRIVATE KEY" not in out
    # the first base64 line of the key holds the private scalar (later lines repeat the public key)
    assert (LAB / "cdn-v2" / "privkey.pem").read_text().splitlines()[1] not in out


def v2_certificates(cert, key, chain):
    return json.dumps(
        {"tls_certificates": [{"name": "cdn", "hostnames": HOSTNAMES, "cert": cert, "key": key, "chain": chain}]}
    )


def test_a_second_rotation_with_a_vault_encrypted_key_changes_nothing(tmp_path):
    password = tmp_path / "vault-password"
    password.write_text("lab only\n")
    vaulted = tmp_path / "privkey.pem.vault"
    subprocess.run(
        ["ansible-vault", "encrypt", "--vault-password-file", str(password), "--output", str(vaulted),
         str(LAB / "cdn-v2" / "privkey.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    extra = v2_certificates(str(LAB / "cdn-v2" / "cert.pem"), str(vaulted), str(LAB / "intermediate.pem"))
    run = playbook("rotate_certs.yml", "-e", "tls_rotate_serial=2", "--vault-password-file", str(password), "-e", extra)
    assert run.returncode == 0, run.stdout
    for edge in EDGES:
        assert changed(run.stdout, edge) == [0], run.stdout


def test_the_host_source_gives_the_same_material(node):
    node(CLIENT).check_output("install -d -m 0700 /root/tls-src")
    for src, dest in [
        ("cdn-v2/cert.pem", "cert.pem"),
        ("cdn-v2/privkey.pem", "privkey.pem"),
        ("intermediate.pem", "chain.pem"),
    ]:
        podman("cp", str(LAB / src), f"{CLIENT}:/root/tls-src/{dest}")
    extra = v2_certificates("/root/tls-src/cert.pem", "/root/tls-src/privkey.pem", "/root/tls-src/chain.pem")
    run = playbook("rotate_certs.yml", "-e", "tls_rotate_serial=2", "-e", "tls_source=host",
                   "-e", f"tls_source_host={CLIENT}", "-e", extra)
    assert run.returncode == 0, run.stdout
    for edge in EDGES:
        assert changed(run.stdout, edge) == [0], run.stdout
        assert served_serial(node, edge) == lab_serial("cdn-v2")


def test_a_real_directory_where_the_link_goes_is_refused_by_name(node):
    """A hand-made directory in place of the link is never replaced: the run names it and stops there."""
    edge = "cdn-edge-nyc"
    host = node(edge)
    # a copy of the current version as a real directory, and the link kept aside (it is relative)
    host.check_output("cd /etc/perch/tls && cp -rL cdn cdn.real && mv -T cdn cdn.link && mv -T cdn.real cdn")
    try:
        run = playbook("tls.yml", "-l", edge, "-e", "tls_test_cert=v2")
        assert run.returncode != 0, run.stdout
        refusal = "perch.cdn.files: link '/etc/perch/tls/cdn' is a real directory; move it away once"
        assert refusal in run.stdout + run.stderr
        assert host.file("/etc/perch/tls/cdn").is_directory and not host.file("/etc/perch/tls/cdn").is_symlink
        assert served_serial(node, edge) == lab_serial("cdn-v2")
    finally:
        host.check_output("cd /etc/perch/tls && rm -rf cdn && mv -T cdn.link cdn")


def test_cert_report_lists_days_left_per_edge():
    run = playbook("cert_report.yml")
    assert run.returncode == 0, run.stdout
    for edge in EDGES:
        line = next(x for x in run.stdout.splitlines() if edge in x and "days left" in x)
        days = float(line.split("days left")[0].split()[-1])
        assert 88 <= days <= 90, line


OCSP_PORT = 8888


def test_a_certificate_that_names_an_ocsp_responder_is_stapled(node, tmp_path):
    """A certificate whose chain names an OCSP responder (here openssl's, on the origin) goes out with
    a stapled, verified response; nginx fetches it after the first handshake."""
    edge = "cdn-edge-fra"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    (tmp_path / "ext.cnf").write_text(
        f"subjectAltName={','.join('DNS:' + h for h in HOSTNAMES)}\n"
        f"authorityInfoAccess=OCSP;URI:http://{IP[ORIGIN]}:{OCSP_PORT}\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
    ssl = ["openssl"]
    subprocess.run([*ssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
                   check=True, capture_output=True)
    subprocess.run([*ssl, "req", "-new", "-key", str(key), "-subj", f"/CN={HOSTNAMES[0]}", "-out",
                    str(tmp_path / "csr.pem")], check=True, capture_output=True)
    subprocess.run([*ssl, "x509", "-req", "-in", str(tmp_path / "csr.pem"), "-CA", str(LAB / "intermediate.pem"),
                    "-CAkey", str(LAB / "intermediate.key"), "-set_serial", "0x5e1f", "-days", "30",
                    "-extfile", str(tmp_path / "ext.cnf"), "-out", str(cert)], check=True, capture_output=True)
    end = subprocess.check_output([*ssl, "x509", "-in", str(cert), "-noout", "-enddate"], text=True).split("=")[1]
    end = time.strftime("%y%m%d%H%M%SZ", time.strptime(end.strip(), "%b %d %H:%M:%S %Y GMT"))
    node(ORIGIN).check_output("install -d -m 0700 /root/ocsp")
    put(ORIGIN, "/root/ocsp/index.txt", f"V\t{end}\t\t5E1F\tunknown\t/CN={HOSTNAMES[0]}\n".encode())
    for name in ("intermediate.pem", "intermediate.key"):
        put(ORIGIN, f"/root/ocsp/{name}", (LAB / name).read_bytes())
    origin = node(ORIGIN)
    # cd on its own: `cd && openssl &` would background a shell that holds ssh's output open
    origin.check_output(f"cd /root/ocsp; setsid openssl ocsp -index index.txt -port {OCSP_PORT} -rsigner"
                        " intermediate.pem -rkey intermediate.key -CA intermediate.pem -ignore_err"
                        " </dev/null >/dev/null 2>&1 & echo $! > pid")
    try:
        extra = v2_certificates(str(cert), str(key), str(LAB / "intermediate.pem"))
        run = playbook("tls.yml", "-l", edge, "-e", extra)
        assert run.returncode == 0, run.stdout
        status = (f"openssl s_client -connect {IP[edge]}:443 -servername {HOSTNAMES[0]} -status -CAfile {CA}"
                  " </dev/null 2>/dev/null")
        for _try in range(20):
            out = node(CLIENT).check_output(status)
            if "OCSP Response Status: successful" in out:
                break
            time.sleep(0.5)
        assert "OCSP Response Status: successful" in out and "Cert Status: good" in out, out
        assert "Verify return code: 0 (ok)" in out
        # a certificate without a responder (the other edges') is served without a staple, and works
        other = node(CLIENT).check_output(status.replace(IP[edge], IP["cdn-edge-nyc"]))
        assert "OCSP response: no response sent" in other and "Verify return code: 0 (ok)" in other
        # this edge has had three versions (v1, v2, this one): tls_keep_versions (2) stay, the served one first
        versions = node(edge).check_output("ls /etc/perch/tls/.versions/cdn").split()
        current = node(edge).check_output("readlink /etc/perch/tls/cdn").strip().rsplit("/", 1)[1]
        assert len(versions) == 2 and current in versions, (versions, current)
    finally:
        origin.run("kill $(cat /root/ocsp/pid)")  # not pkill -f: it would kill this very shell
