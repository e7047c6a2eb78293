"""What the live pdns tests (plugins/filter/test_pdns_server.py, test_pdns_health.py) share."""

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess

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


def _die_with_parent():
    """In the child: ask the kernel for SIGTERM when the test process dies, so that a killed or
    timed-out pytest (or xdist worker) leaves no pdns_server behind to hold a CI runner."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def pdns_server(args, log_path):
    """Run pdns_server with `args` in the foreground, its output in `log_path`; stop it on exit,
    killing it if SIGTERM is not enough within 10 s."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([PDNS, *args], stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)  # pylint: disable=subprocess-popen-preexec-fn
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
