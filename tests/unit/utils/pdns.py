"""What the live pdns tests (plugins/filter/test_pdns_server.py, test_pdns_health.py) share."""

import os
import shutil
import socket

PDNS = shutil.which("pdns_server") or ("/usr/sbin/pdns_server" if os.path.exists("/usr/sbin/pdns_server") else None)
DIG = shutil.which("dig")


def free_port() -> int:
    """A port free for both UDP and TCP, since pdns listens on both."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")
