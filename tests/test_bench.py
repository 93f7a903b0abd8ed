"""scripts/bench.py at its smallest: every scenario runs, and --json holds exactly the keys
issue 15 names, each a number (the figures themselves are for the machine to tell)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    "turnaround_ms": {"p50", "p95"},
    "history": {"small", "large"},
    "enqueue_many_jobs_per_s": None,
    "rollup_cpu_ms_per_job": {"with", "without"},
    "pipelines": {"fan_in", "chain"},
    "progress": {"without", "with", "share"},
}  # fmt: skip
PIPELINE = {"jobs", "jobs_per_s", "independent_jobs_per_s", "share"}
CPU = {"jobs_per_s", "supervisor", "fork_server", "runners", "postgres", "total"}
HISTORY = {"rows", "overview_ms", "jobs_ms", "search_ms", "stats_ms", "ps_ms", "search_worst_ms"}
TINY = ["--jobs", "40", "--repeat", "1", "--cycles", "100", "--samples", "5",
        "--depth-rows", "3000", "--depth-jobs", "40", "--idle-seconds", "1",
        "--history-small", "100", "--history-large", "2000", "--enqueue-jobs", "500",
        "--fan-in", "40", "--chain", "10"]  # fmt: skip


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
        if key == "rollup_cpu_ms_per_job":
            assert all(set(figures[key][k]) == CPU for k in inner)
            continue
        if key == "pipelines":
            assert all(set(figures[key][k]) == PIPELINE for k in inner)
            assert (figures[key]["fan_in"]["jobs"], figures[key]["chain"]["jobs"]) == (40, 10)
            continue
        if key == "history":
            for size, rows in (("small", 100), ("large", 2000)):
                assert set(figures[key][size]) == HISTORY and figures[key][size]["rows"] == rows
                assert all(isinstance(v, int | float) for v in figures[key][size].values())
            continue
        assert all(isinstance(v, int | float) for v in figures[key].values()), key
    assert figures["supervisors"]["duplicates"] == 0
    assert all(figures["throughput"][c] > 0 for c in KEYS["throughput"])
    for line in ("fork ceiling", "throughput, concurrency 8", "pickup latency", "depth other type",
                 "supervisors: 4 x 1", "idle supervisor", "history large (2,000 finished",
                 "enqueue_many: 500 jobs", "history rollup's triggers",
                 "pipelines, fan-in of 40", "pipelines, chain of 10", "progress: "):  # fmt: skip
        assert line in done.stdout, done.stdout


@pytest.mark.unit
def test_a_peer_that_cannot_run_is_one_line_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from benchlib import peers

    real_find_spec = peers.importlib.util.find_spec
    monkeypatch.setattr(peers.importlib.util, "find_spec",
                        lambda name: None if name == "asyncpg" else real_find_spec(name))  # fmt: skip
    assert peers.missing("pgqueuer") == (
        "pgqueuer: not installed (pip install -e '.[bench]'): skipped"
    )
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    assert peers.missing("rq") == "rq: no redis-server on PATH: skipped"
    assert peers.missing("procrastinate") is None
