"""A database that answers but refuses writes (`default_transaction_read_only`, as a standby
reached by mistake or a full disk would): supervisors keep their runners, claim nothing,
keep their outcomes until writes go through, say it once a minute and never crash-loop
(loop/write_refusal.py); `jobsup healthcheck` says why."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import (
    SupervisorProcess,
    Supervisors,
    add_job,
    alive,
    job,
    scalar,
    status,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow

REFUSED = "the database refuses writes"


def read_only(conn: Connection, on: bool) -> None:
    """Set (or reset) the database's default, and end the supervisors' sessions: a session
    keeps the default it started with."""
    name = scalar(conn, "SELECT current_database()")
    with conn.cursor() as cur:
        if on:
            cur.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
        else:
            cur.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


def healthcheck(db_url: str) -> tuple[int, str]:
    done = jobsup("healthcheck", env={"DATABASE_URL": db_url})
    return done.returncode, done.stdout + done.stderr


def test_a_read_only_database_keeps_runners_and_outcomes_until_writes_come_back(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    long = add_job(conn, "sleep", seconds=5, insights=1)
    # stale_after 3 s: a lease that runs out in 2.25 s if the refused heartbeats did not hold it
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=2))
    wait_for(lambda: status(conn, long) == "processing")
    runner = wait_for(lambda: sup.runner_pids())[0]
    read_only(conn, True)
    wait_for(lambda: REFUSED in sup.log(), timeout=10)
    later = add_job(conn, "noop")  # claimed only once writes go through
    code, said = healthcheck(db_url)
    assert code == 1 and "refuses writes (read-only" in said, said
    wait_for(lambda: "completed in" in sup.log(), timeout=15)
    time.sleep(3.0)  # past lease_timeout: the runner was not killed, nothing was claimed
    assert status(conn, long) == "processing" and status(conn, later) == "pending"
    assert not alive(runner)
    assert sup.log().count(REFUSED) == 1, sup.log()  # once a minute
    assert "lease lost" not in sup.log() and "Traceback" not in sup.log(), sup.log()
    read_only(conn, False)
    wait_for(lambda: status(conn, long) == "completed", timeout=15)
    wait_for(lambda: status(conn, later) == "completed", timeout=15)
    row = job(conn, long)
    assert row["retry_count"] == 0 and [a["outcome"] for a in row["attempts"]] == ["completed"]
    assert "accepts writes again" in sup.log(), sup.log()
    assert "declared dead" not in sup.log(), sup.log()
    assert healthcheck(db_url)[0] == 0
    sup.signal(signal.SIGTERM)
    assert sup.wait(30) == 0, sup.log()


def test_a_supervisor_started_on_a_read_only_database_waits_instead_of_exiting(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    read_only(conn, True)
    job_id = add_job(conn, "noop")
    sup: SupervisorProcess = supervisors.start(db_url, write_config(tmp_path))
    wait_for(lambda: REFUSED in sup.log(), timeout=15)
    time.sleep(2.0)
    assert sup.proc.poll() is None, sup.log()  # no exit, so no crash loop under systemd
    assert status(conn, job_id) == "pending"
    read_only(conn, False)
    wait_for(lambda: status(conn, job_id) == "completed", timeout=15)
    assert "declared dead" not in sup.log() and "no heartbeat went through" not in sup.log()
    sup.signal(signal.SIGTERM)
    assert sup.wait(30) == 0, sup.log()
