"""bench/geo_map.py runs and writes the bench/run.py result format (no timing assertions here)."""

import json
import os
import subprocess
import sys


def test_bench_geo_map_json(root, tmp_path):
    out = tmp_path / "gm.json"
    subprocess.run([sys.executable, os.path.join(root, "bench", "geo_map.py"), "--sizes", "10,30", "--repeat", "1",
                    "--json", str(out)], check=True, capture_output=True)
    doc = json.loads(out.read_text())
    assert [r["metric"] for r in doc["rows"]] == [
        "geo_map, 10 sites", "geo_map + zone render, 10 sites", "geo_map, 30 sites", "geo_map + zone render, 30 sites"]
    for r in doc["rows"]:
        assert r["min"] <= r["median"] <= r["max"] and r["unit"] == "s" and r["runs"] == 1
    assert set(doc["curves"]["scaling"]["series"]) == {"geo_map", "geo_map + zone render"}
