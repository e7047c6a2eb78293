#!/usr/bin/env python
"""`make bench`: run every benchmark in bench/ and write one table.

Each benchmark is a script `bench/<name>.py` that accepts `--json PATH` and writes
{"rows": [{"metric", "median", "min", "max", "unit", "runs", "target", "ok"}], "curves": {...}}.
A benchmark whose script is missing, or that fails, is reported as "not available" with the reason:
never a made-up number.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (name, what it measures), in the order of the table
BENCHMARKS = [
    ("geo_map", "geo_map + zone rendering scaling"),
    ("edge", "cache edge: HIT vs static, large files, apt hit ratio"),
    ("stats", "cache edge: HIT req/s with the statistics path (nginx -> mtail) on vs off"),
    ("dns_qps", "GeoDNS: geoip vs static zone QPS"),
    ("dns_health", "GeoDNS: a failed edge leaves the answers, and comes back"),
    ("anycast", "anycast failover and BFD hard-failure time"),
    ("drain", "drain: failed requests and wall time"),
    ("site", "site.yml cold vs idempotent on the lab"),
    ("site_scaling", "site.yml wall time for 1, 4, 8 and 16 edges, default vs recommended settings"),
]
# name -> (script, extra arguments, timeout in seconds)
RUNS = {
    "site": ("site", ["--part", "lab"], 1800),
    "site_scaling": ("site", ["--part", "scaling"], 10800),
}
# `make bench-scaling RUNS=3`: fewer runs per size for site_scaling (each run is about 10 minutes)
SCALING_RUNS = os.environ.get("PERCH_BENCH_SCALING_RUNS", "")
# Not run by `make bench` (its 30 minutes cannot hold them on a 2-core machine): `make bench-scaling`
# runs them into bench/results/<file>.json, and `make bench` reports that file's figures with its date.
SEPARATE = {"site_scaling": "scaling"}


def machine():
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    py = platform.python_version()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {py}"


def run_one(name, timeout):
    script_name, extra, timeout = RUNS.get(name, (name, [], timeout))
    if name == "site_scaling" and SCALING_RUNS:
        extra = [*extra, "--runs", SCALING_RUNS]
    script = HERE / f"{script_name}.py"
    if not script.exists():
        return {"available": False, "reason": f"bench/{script_name}.py does not exist yet"}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    # the script's output goes to .cache/bench-<name>.log as it runs, so a long benchmark can be followed
    log = HERE.parent / ".cache" / f"bench-{name}.log"
    log.parent.mkdir(exist_ok=True)
    start = time.monotonic()
    try:
        with log.open("w") as fh:
            proc = subprocess.run([sys.executable, str(script), *extra, "--json", out], stdout=fh,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": f"timed out after {timeout}s (output: {log})"}
    took = time.monotonic() - start
    output = log.read_text()
    sys.stderr.write(output[-3000:])
    if proc.returncode != 0:
        # a script's own error starts with "bench/<name>.py:" (what follows it may be a command's output)
        lines = output.strip().splitlines() or ["no output"]
        msg = next((line for line in reversed(lines) if line.startswith("bench/")), lines[-1])
        return {"available": False, "reason": f"exit {proc.returncode}: {msg[:200]}"}
    try:
        data = json.loads(Path(out).read_text())
    except (OSError, ValueError) as exc:
        return {"available": False, "reason": f"no JSON result ({exc})"}
    finally:
        Path(out).unlink(missing_ok=True)
    data["available"] = True
    data["seconds"] = round(took, 1)
    return data


def separate(name):
    """The figures of a benchmark `make bench` does not run, from the last run of its own target."""
    path = HERE / "results" / f"{SEPARATE[name]}.json"
    try:
        data = json.loads(path.read_text())
        res = data["results"][name]
    except (OSError, ValueError, KeyError):
        return {"available": False, "reason": f"not run by make bench (about 1.5 h): `make bench-scaling` "
                                              f"writes bench/results/{SEPARATE[name]}.md, and it has not run yet"}
    if res.get("available"):
        res = dict(res, measured=f"{data['date']} by `make bench-scaling`")
    return res


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(results, when):
    lines = [f"Measured {when} on {machine()}.", "",
             "| benchmark | metric | median | min | max | unit | runs | target | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, _what in BENCHMARKS:
        if name not in results:
            continue
        res = results[name]
        if res.get("measured"):
            lines.append(f"| {name} | *measured {res['measured']}, not in this run* | | | | | | | |")
        if not res["available"]:
            lines.append(f"| {name} | not available: {res['reason']} | | | | | | | |")
            continue
        for row in res.get("rows", []):
            met = {True: "yes", False: "**no**"}.get(row.get("ok"), "")
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                name, row["metric"], fmt(row["median"]), fmt(row.get("min", "")), fmt(row.get("max", "")),
                row.get("unit", ""), row.get("runs", ""), row.get("target", ""), met))
    return "\n".join(lines) + "\n"


def plot(results, path):
    curves = {f"{n}: {k}": v for n, r in results.items() if r["available"] for k, v in r.get("curves", {}).items()}
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for ax, (title, c) in zip(axes[0], curves.items(), strict=True):
        for label, pts in c["series"].items():
            xs = [p[0] for p in pts]
            ax.errorbar(xs, [p[1] for p in pts], yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]],
                        marker="o", capsize=3, label=label)
        ax.set_xscale(c.get("xscale", "linear"))
        ax.set_yscale(c.get("yscale", "linear"))
        ax.set_xlabel(c["x"])
        ax.set_ylabel(c["y"])
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="run only these benchmarks")
    ap.add_argument("--timeout", type=int, default=900, help="per benchmark, seconds")
    ap.add_argument("--output", default="latest", help="name of the result files in bench/results/")
    args = ap.parse_args()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {}
    for name, what in BENCHMARKS:
        if args.only and name not in args.only:
            results[name] = {"available": False, "reason": "not run (--only)"}
            continue
        if name in SEPARATE and not args.only:
            results[name] = separate(name)
            continue
        print(f"=== bench {name}: {what}", flush=True)
        results[name] = run_one(name, args.timeout)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.output}.json").write_text(json.dumps({"date": when, "machine": machine(), "results": results},
                                                        indent=1))
    md = table({n: r for n, r in results.items() if not args.only or n in args.only}, when)
    png = f"{args.output}.png"
    if plot(results, out / png):
        md += f"\n![curves]({png})\n"
    (out / f"{args.output}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
