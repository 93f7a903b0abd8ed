"""scripts/start_job_cron.sh: the original cron's modes, run for real."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.commands import JOBSUP
from tests.fixtures.processes import add_job, status, write_config

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


def prod(path: str) -> subprocess.CompletedProcess[str]:
    """`prod` with `path` first on PATH (where it finds `jobsup`)."""
    return subprocess.run(
        [str(SCRIPT), "prod"],
        env={**os.environ, "PATH": f"{path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def system_state() -> tuple[bool, bool, bool]:
    """What prod would create: its config directory, its user, its state directory."""
    import pwd

    try:
        pwd.getpwnam("jobsup")
        user = True
    except KeyError:
        user = False
    return Path("/etc/jobsup").exists(), user, Path("/var/lib/jobsup").exists()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="prod runs as root")


@needs_root
def test_prod_checks_the_service_user_can_run_jobsup_before_changing_anything(
    tmp_path: Path,
) -> None:
    closed = tmp_path / "closed"  # like a venv under /root: other users cannot enter
    (closed / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    fake = closed / "bin" / "jobsup"
    fake.write_text(f"#!{sys.executable}\nprint('jobsup')\n")
    fake.chmod(0o755)
    before = system_state()
    result = prod(str(fake.parent))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        result.stderr.startswith(f"prod: the service user cannot run {fake} (")
        and "is closed to others): install jobsup with a Python every user can run" in result.stderr
    )
    assert system_state() == before


@needs_root
@pytest.mark.skipif(Path("/run/systemd/system").exists(), reason="systemd runs here")
def test_prod_checks_systemd_runs_before_changing_anything() -> None:
    with tempfile.TemporaryDirectory(prefix="jobsup-open-") as directory:
        os.chmod(directory, 0o755)  # not under pytest's tmp_path, which is root's only
        fake = Path(directory) / "jobsup"  # every user may run it
        fake.write_text("#!/bin/sh\necho jobsup\n")
        fake.chmod(0o755)
        before = system_state()
        result = prod(directory)
    assert result.returncode == 1
    assert result.stderr.startswith("prod: systemd is not running here (no /run/systemd/system)")
    assert result.stderr.count("\n") == 1
    assert system_state() == before
