"""bench/load.py end to end at a small scale: the real server under concurrent clients
answers every call of the mix, and the bench reports both runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is scripts, not an installed package

from bench.load import MIX, warm_up_urls  # noqa: E402


def test_load_bench_answers_every_call_of_the_mix(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREXUS_")}
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--postings", "400", "--requests", "400",
         "--clients", "10", "--db", str(tmp_path / "load.db")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    runs = {line.split(" | ")[0]: line.split(" | ") for line in lines if " | " in line}
    assert runs["mix"][1] == runs["bare endpoint"][1] == "400"
    assert runs["mix"][-1] == runs["bare endpoint"][-1] == "0", result.stdout
    assert all(scenario in runs for scenario in MIX), result.stdout
    assert "clustered the store" in result.stdout
    if sys.platform == "linux":  # read from /proc: the server's CPU, whatever else runs
        assert "server CPU: mix" in result.stdout


def test_warm_up_opens_each_scenario_once_and_every_cluster_page() -> None:
    pages = [f"/api/clusters?limit=20&offset={n}" for n in (20, 0, 20, 40)]
    requests = [("search (words)", "/api/search?q=a"), ("search (words)", "/api/search?q=b"),
                *(("cluster list", page) for page in pages), ("cluster detail", "/api/clusters/A1")]
    assert warm_up_urls(requests) == [
        "/api/search?q=a", pages[0], "/api/clusters/A1", pages[1], pages[3],
    ]
