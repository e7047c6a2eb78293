"""roles/monitoring/files/perch-apt-probe against real HTTP servers on loopback: an origin, an edge that serves
the same InRelease, one that serves an older one, one that answers 502 and one that is not there."""

import http.server
import importlib.machinery
import importlib.util
import json
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "roles" / "monitoring" / "files" / "perch-apt-probe"
PATH = "/dists/perch/InRelease"


def inrelease(date):
    return (f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: perch\nSuite: perch\nDate: {date}\n"
            "SHA256:\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n").encode()


NEW = inrelease("Sun, 06 Dec 2026 11:28:21 UTC")
OLD = inrelease("Sun, 06 Dec 2026 11:20:01 UTC")


@pytest.fixture(scope="module")
def probe():
    loader = importlib.machinery.SourceFileLoader("perch_apt_probe", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


@pytest.fixture
def servers():
    """{name: port}: servers that answer by Host and path like an edge, each with its own InRelease."""
    started = []

    def serve(status, body):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                ok = self.path == PATH and self.headers["Host"] == "deb.cdn.test.example"
                self.send_response(status if ok else 404)
                self.end_headers()
                self.wfile.write(body if ok else b"")

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv.server_address[1]

    yield serve
    for srv in started:
        srv.shutdown()


def test_digest_reads_the_date_of_a_clearsigned_file(probe):
    sha, date = probe.digest(NEW)
    assert len(sha) == 64 and date == 1796556501.0
    assert probe.digest(b"no date here")[1] is None
    assert probe.digest(b"Date: not a date\n")[1] is None


def test_render_marks_each_edge_against_the_origin(probe):
    origin = probe.digest(NEW)
    text = probe.render(origin, {"e1": origin, "e2": probe.digest(OLD), "e3": None})
    assert 'perch_apt_inrelease_same_as_origin{edge="e1"} 1' in text
    assert 'perch_apt_inrelease_same_as_origin{edge="e2"} 0' in text
    assert 'perch_apt_inrelease_same_as_origin{edge="e3"} 0' in text
    assert 'perch_apt_metadata_lag_seconds{edge="e1"} 0' in text
    assert 'perch_apt_metadata_lag_seconds{edge="e2"} 500' in text
    assert 'edge="e3"} 0' in text and 'perch_apt_metadata_lag_seconds{edge="e3"}' not in text
    assert 'perch_apt_probe_success{edge="e3"} 0' in text and "perch_apt_origin_probe_success 1" in text
    # without the origin nothing is compared, and that shows
    text = probe.render(None, {"e1": origin})
    assert "same_as_origin" not in text and "perch_apt_origin_probe_success 0" in text


def test_main_fetches_by_host_and_writes_the_textfile_atomically(probe, servers, tmp_path, monkeypatch):
    # every node listens on its own port here: one port in the config, so each gets its own address
    port = servers(200, NEW)
    ports = {"origin": port, "e1": servers(200, NEW), "e2": servers(200, OLD), "e3": servers(502, b"bad gateway")}
    real_fetch = probe.fetch
    monkeypatch.setattr(probe, "fetch", lambda address, _port, host, path: real_fetch(
        "127.0.0.1", ports[address], host, path) if address in ports else None)
    config = tmp_path / "apt-probe.json"
    config.write_text(json.dumps({"host": "deb.cdn.test.example", "path": PATH, "origin": ["origin"],
                                  "edges": {"e1": "e1", "e2": "e2", "e3": "e3", "e4": "e4"}}))
    out = tmp_path / "perch-apt.prom"
    assert probe.main(["perch-apt-probe", str(config), str(out)]) == 0
    text = out.read_text()
    assert 'perch_apt_inrelease_same_as_origin{edge="e1"} 1' in text
    assert 'perch_apt_metadata_lag_seconds{edge="e2"} 500' in text
    assert 'perch_apt_probe_success{edge="e3"} 0' in text and 'perch_apt_probe_success{edge="e4"} 0' in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".perch-apt-")] == []
    assert oct(out.stat().st_mode & 0o777) == "0o644"
