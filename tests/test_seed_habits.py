"""The original cron's runbook, typed at a shell: `ps aux | grep job_cron`, `pgrep -f
job_cron.py` and `pkill -f job_cron.py` find the supervisors, and only them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil

from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, job, title, wait_for, write_config


def pids(*command: str) -> set[int]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert done.returncode in (0, 1), done.stderr  # 1: none matched
    return {int(word) for word in done.stdout.split()}


def test_pkill_f_job_cron_py_drains_the_supervisor_and_touches_no_runner(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=3)
    config = write_config(tmp_path, drain_timeout=30)
    sup = supervisors.start(db_url, config)
    runner = wait_for(sup.runner_pids)[0]
    server = psutil.Process(runner).ppid()
    wait_for(lambda: title(sup.pid) == f"jobsup: supervisor job_cron.py [{config}] 1/2")
    # As at a shell whose output goes to a pipe: no COLUMNS (pytest sets it), no width limit.
    shell = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    ps_aux = subprocess.run(["ps", "aux"], capture_output=True, text=True, check=True,
                            env=shell).stdout  # fmt: skip
    found = [line for line in ps_aux.splitlines() if "job_cron" in line]
    assert any(line.split()[1] == str(sup.pid) for line in found), found
    # The seed's commands, kept to this test's session (the supervisor's, which holds its fork
    # server and runners: they are candidates the pattern must not match).
    session = ("-s", str(sup.pid))
    everywhere = pids("pgrep", "-f", "job_cron.py")
    assert sup.pid in everywhere and not everywhere & {runner, server}
    assert pids("pgrep", "-f", "job_cron.py", *session) == {sup.pid}
    assert {runner, server} <= pids("pgrep", "-f", "jobsup: ", *session)  # they were there
    subprocess.run(["pkill", "-f", "job_cron.py", *session], check=True, timeout=10)
    wait_for(lambda: title(sup.pid).endswith("1/2 draining"), timeout=10)
    assert psutil.Process(runner).is_running()  # SIGTERM reached the supervisor alone
    assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 0), row  # drained, not killed
    assert "stop signal: draining 1 runners" in sup.log()
