"""scripts/start_job_cron.sh: the original cron's modes, run for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from supervisor.db import Connection
from tests.conftest import JOBSUP
from tests.processes import add_job, status, write_config

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "start_job_cron.sh"


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(JOBSUP).parent}:{os.environ['PATH']}"  # this venv's jobsup
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dev_runs_in_the_foreground_and_passes_the_cron_flags(
    db_url: str, conn: Connection
) -> None:
    jobs = [add_job(conn, "noop") for _ in range(2)]
    result = script("dev", "--max-jobs", "1", "--interval", "7", DATABASE_URL=db_url)
    assert result.returncode == 0, result.stderr
    assert sorted(status(conn, job_id) for job_id in jobs) == ["completed", "pending"]
    assert "poll every 7 s" in result.stderr and "--max-jobs 1 reached" in result.stderr


def test_bg_status_stop(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, "JOBSUP_CONFIG": str(write_config(tmp_path))}
    started = script("bg", "--interval", "5", **env)
    assert started.returncode == 0, started.stderr
    assert "started in the background: pid" in started.stdout
    running = script("status", **env)
    assert running.returncode == 0 and "supervisor: running" in running.stdout
    stopped = script("stop", **env)
    assert stopped.returncode == 0 and "stopped supervisor pid" in stopped.stdout
    assert script("status", **env).returncode == 3


def test_an_unknown_mode_prints_the_modes() -> None:
    result = script("fast")
    assert result.returncode == 2
    assert "start_job_cron.sh docker [ARGS]" in result.stderr
