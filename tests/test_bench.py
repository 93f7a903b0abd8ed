"""scripts/bench.py at its smallest: every scenario runs, and --json holds exactly the keys
issue 15 names, each a number (the figures themselves are for the machine to tell)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"
KEYS = {
    "cpus": None,
    "fork_ceiling_jobs_per_s": {"1", "2"},
    "throughput": {"1", "2", "4", "8"},
    "cpu_ms_per_job": {"supervisor", "fork_server", "runners", "postgres", "total"},
    "pickup_ms": {"p50", "p95", "p99"},
    "depth": {"1000", "100000", "1000000", "completed_1000000", "other_type_1000000",
              "scheduled_1000000"},
    "supervisors": {"1", "2", "4", "duplicates"},
    "idle": {"cpu_percent", "rss_mb"},
    "progress": {"without", "with", "share"},
}  # fmt: skip
TINY = ["--jobs", "40", "--repeat", "1", "--cycles", "100", "--samples", "5",
        "--depth-rows", "3000", "--depth-jobs", "40", "--idle-seconds", "1"]  # fmt: skip


def test_the_benchmark_runs_every_scenario_and_writes_its_figures(
    server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "JOBSUP_BENCH_DATABASE_URL": server_url}
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--json", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert set(figures) == set(KEYS)
    for key, inner in KEYS.items():
        if inner is None:
            assert isinstance(figures[key], int)
            continue
        assert set(figures[key]) == inner, key
        assert all(isinstance(v, int | float) for v in figures[key].values()), key
    assert figures["supervisors"]["duplicates"] == 0
    assert all(figures["throughput"][c] > 0 for c in KEYS["throughput"])
    for line in ("fork ceiling", "throughput, concurrency 8", "pickup latency", "depth other type",
                 "supervisors: 4 x 1", "idle supervisor", "progress: "):  # fmt: skip
        assert line in done.stdout, done.stdout
