"""roles/anycast/files/perch-anycast-health: a DNS probe that garbage cannot crash or fool.

The checker's crash would withdraw the routes, so each probe here meets a hostile or broken peer
on loopback and must answer True or False, never raise.
"""

import importlib.machinery
import importlib.util
import socket
import struct
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "roles" / "anycast" / "files" / "perch-anycast-health"


@pytest.fixture(scope="module")
def health():
    loader = importlib.machinery.SourceFileLoader("perch_anycast_health", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def serve_once(answer):
    """A UDP server on loopback that answers one query with answer(query, client, server_socket)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)

    def run():
        with srv:
            query, client = srv.recvfrom(4096)
            answer(query, client, srv)

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def good_reply(query):
    qid = struct.unpack(">H", query[:2])[0]
    return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + query[12:]


def probe(health, port):
    return health.probe_dns({"zone": "cdn.example.org", "server": "127.0.0.1", "port": port}, 1.0)


def test_a_real_answer_is_healthy(health):
    assert probe(health, serve_once(lambda q, c, s: s.sendto(good_reply(q), c))) is True


@pytest.mark.parametrize("reply", [b"\x00", b"\xff\xff", b"\x00" * 11, b"garbage that is long enough"])
def test_short_or_malformed_replies_are_unhealthy_not_a_crash(health, reply):
    assert probe(health, serve_once(lambda q, c, s: s.sendto(reply, c))) is False


def test_a_reply_with_another_id_or_an_error_is_unhealthy(health):
    def wrong_id(q, c, s):
        r = bytearray(good_reply(q))
        r[0] ^= 0xFF
        s.sendto(bytes(r), c)

    def servfail(q, c, s):
        s.sendto(good_reply(q)[:2] + b"\x81\x82" + good_reply(q)[4:], c)

    assert probe(health, serve_once(wrong_id)) is False
    assert probe(health, serve_once(servfail)) is False


def test_garbage_from_anyone_else_never_reaches_the_probe(health):
    """Another host (here another socket) floods the probe's port before the server answers: the
    connected socket drops it, and the real answer still counts."""

    def flood_then_answer(q, client, srv):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            for _flood in range(50):
                other.sendto(b"\x00\x01", client)
        srv.sendto(good_reply(q), client)

    assert probe(health, serve_once(flood_then_answer)) is True


def test_no_server_is_unhealthy(health):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert probe(health, port) is False
