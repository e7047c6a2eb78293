"""What the benchmarks share: the lab's environment, running commands in it, and the result rows.

Every benchmark writes {"rows": [row(...), ...]} (bench/run.py reads it); a failure is a
SystemExit whose message starts with "bench/<name>.py:", so bench/run.py can show it.
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "inventories" / "lab"
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "tests" / "lab" / "containers.conf"),
           ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
           ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
NAME = f"bench/{Path(sys.argv[0]).name}"


def sh(*cmd, check=True, input=None, text=True, timeout=1800, env=None):
    """Run a command on the host; on failure (check) stop the benchmark with the command's output."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=text, env=env or ENV, input=input,
                          timeout=timeout, cwd=ROOT, check=False)
    if check and proc.returncode != 0:
        out = proc.stdout + proc.stderr if text else (proc.stdout + proc.stderr).decode(errors="replace")
        raise SystemExit(f"{NAME}: {' '.join(map(str, cmd))[:300]} failed (exit {proc.returncode}):\n{out[-2000:]}")
    return proc


def pexec(name, script, check=True, input=None, text=True, timeout=600):
    """Run a bash script in a lab container."""
    args = ["podman", "exec"] + (["-i"] if input is not None else []) + [name, "bash", "-c", script]
    return sh(*args, check=check, input=input, text=text, timeout=timeout)


def playbook(name, *args, inv=LAB, timeout=900):
    """ansible-playbook playbooks/<name> on the lab inventory; stops the benchmark if it fails."""
    return sh("ansible-playbook", "-i", inv, ROOT / "playbooks" / name, *args, timeout=timeout)


def row(metric, values, unit, target="", ok=None, digits=None):
    """One result row; `digits` rounds median, min and max (None keeps them as measured)."""
    def num(x):
        return x if digits is None else round(x, digits)  # round(x, None) would make an int
    return {"metric": metric, "median": num(statistics.median(values)), "min": num(min(values)),
            "max": num(max(values)), "unit": unit, "runs": len(values), "target": target, "ok": ok}
