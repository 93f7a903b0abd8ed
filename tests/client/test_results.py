"""Waiting for jobs: `jobs wait`, `enqueue --wait` and `wait()`, woken by NOTIFY
jobsup_finished (migration 0007) with a poll as fallback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest

from supervisor.api import JobResult, UnknownJob, WaitTimeout, enqueue, wait, wait_all
from supervisor.db.connect import Connection, transaction
from supervisor.errors import JobsupError
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, connection, scalar, write_config


def test_jobs_wait_on_a_pending_job_exits_3_after_the_timeout(
    db_url: str, conn: Connection
) -> None:
    job_id = add_job(conn, "noop")
    began = time.monotonic()
    result = jobsup("jobs", "wait", job_id[:8], "--timeout", "1", env={"DATABASE_URL": db_url})
    assert result.returncode == 3, result.stderr
    assert 1.0 <= time.monotonic() - began < 10
    assert result.stdout == f"{job_id} not finished after 1 s (still pending)\n"


def test_jobs_wait_names_an_unknown_job_in_one_line(db_url: str) -> None:
    for given, said in (
        ("0badc0de", "no job id starts with 0badc0de"),
        ("0badc0de-0000-0000-0000-000000000000", "no job 0badc0de-0000-0000-0000-000000000000"),
        ("nope", "'nope' is not a job id"),
    ):
        result = jobsup("jobs", "wait", given, env={"DATABASE_URL": db_url})
        assert result.returncode in (1, 2), result.stderr
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_enqueue_wait_returns_within_a_second_of_the_end_with_0_or_4(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, max_retries=0)
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    env = {"DATABASE_URL": db_url}
    done = jobsup("enqueue", "-c", str(config), "--type", "diag.sleep", "--metadata",
                  '{"seconds": 1}', "--wait", "--timeout", "30", env=env)  # fmt: skip
    returned_after = scalar(
        conn, "SELECT extract(epoch FROM localtimestamp - completed_at)::float8 "
        "FROM processing_jobs WHERE id = %s", done.stdout.split()[0],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + sup.log()
    job_id, line = done.stdout.splitlines()
    assert line == f"{job_id} completed: 0 insights"
    assert returned_after < 1.0  # woken by the NOTIFY, not the 2 s poll

    failed = jobsup("enqueue", "-c", str(config), "--type", "diag.fail", "--metadata",
                    '{"message": "bad row 7"}', "--wait", env=env)  # fmt: skip
    assert failed.returncode == 4, failed.stderr + sup.log()
    job_id, line = failed.stdout.splitlines()
    assert line == f"{job_id} failed: RuntimeError: bad row 7"


def test_wait_returns_the_insights(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, max_retries=0))
    sup.wait_registered(conn)
    with transaction(conn):
        found = enqueue(conn, job_type="diag.noop", metadata={"insights": 3, "size": 4})
        failing = enqueue(conn, job_type="diag.fail")
    result = wait(conn, found, timeout=30)
    assert result == JobResult(
        id=found, status="completed", error=None, retry_count=0,
        insights=[{"insight_type": "diag", "content": {"n": n, "text": "xxxx"},
                   "confidence_score": 1.0} for n in range(3)],
        completed_at=result.completed_at,
    )  # fmt: skip
    assert result.ok and result.completed_at is not None
    both = wait_all(conn, [failing, found], timeout=30)
    assert [r.status for r in both] == ["failed", "completed"]
    assert str(both[0].error).startswith("RuntimeError: diag.fail failed on purpose")
    assert both[0].insights == []
    # The same on an application's psycopg 3 connection; `jobs wait --json` has them too.
    with psycopg.connect(db_url) as conn3:
        assert wait(conn3, found, timeout=5) == result
    shown = jobsup("jobs", "wait", found, "--json", env={"DATABASE_URL": db_url})
    assert shown.returncode == 0, shown.stderr
    (document,) = json.loads(shown.stdout)
    assert (document["status"], len(document["insights"])) == ("completed", 3)


def test_wait_is_woken_by_the_notify_of_any_ending(db_url: str, conn: Connection) -> None:
    """A cancel by hand ends the wait at once, though the fallback poll is 30 s away."""
    job_id = add_job(conn, "noop")

    def cancel_soon() -> None:
        time.sleep(0.5)
        other = connection(db_url)
        with other.cursor() as cur:
            cur.execute("UPDATE processing_jobs SET status = 'cancelled' WHERE id = %s", (job_id,))
        other.close()

    threading.Thread(target=cancel_soon).start()
    began = time.monotonic()
    result = wait(conn, job_id, timeout=20, poll=30)
    assert 0.4 < time.monotonic() - began < 3
    assert (result.status, result.ok) == ("cancelled", False)


def test_wait_times_out_with_a_timeout_error_and_refuses_what_it_cannot_wait_for(
    db_url: str, conn: Connection
) -> None:
    job_id = add_job(conn, "noop")
    with pytest.raises(TimeoutError) as caught:
        wait(conn, job_id, timeout=0.3)
    assert isinstance(caught.value, WaitTimeout)
    assert caught.value.pending == {job_id: "pending"}
    assert str(caught.value) == f"not finished after 0.3 s: {job_id} (pending)"
    with pytest.raises(UnknownJob, match="no job 00000000-0000-0000-0000-000000000000"):
        wait(conn, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(ValueError, match="'1f64f4c9' is not a job id"):
        wait(conn, "1f64f4c9")
    with pytest.raises(JobsupError, match="outside a transaction"), transaction(conn):
        enqueue(conn, job_type="diag.noop")
        wait(conn, job_id)
    # The connection is as it was: autocommit, listening to nothing; an application's own
    # LISTEN on the channel stays.
    assert conn.autocommit
    assert scalar(conn, "SELECT count(*) FROM pg_listening_channels()") == 0
    with psycopg.connect(db_url) as app:
        app.execute("LISTEN jobsup_finished")
        app.commit()
        with pytest.raises(WaitTimeout):
            wait(app, job_id, timeout=0)
        assert not app.autocommit
        assert app.execute("SELECT pg_listening_channels()").fetchall() == [("jobsup_finished",)]
