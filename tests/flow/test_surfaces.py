"""Where progress and steps show: `jobs show` (--details lists the steps' results),
`jobs list`, `ps` (and --json), `wait(…, on_progress=…)`; `jobs retry --fresh` forgets the
steps (a plain retry keeps them): real supervisors, real runners, real PostgreSQL."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from supervisor.api import Progress, wait
from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection, connect
from supervisor.store import statements as store
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, scalar, status, wait_for, write_config

pytestmark = pytest.mark.slow


def run(db_url: str, *args: str) -> str:
    result = jobsup(*args, env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_progress_in_ps_list_show_and_wait(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "progress", total=4, seconds=0.6, after=60)
    sup = supervisors.start(db_url, write_config(tmp_path, interval=0.5))
    sup.wait_registered(conn)

    def in_ps() -> dict[str, Any] | None:
        (worker,) = json.loads(run(db_url, "ps", "--json"))
        found = [r for r in worker["runners"] if (r.get("progress") or {}).get("done") == 4]
        return found[0] if found else None

    runner = wait_for(in_ps, timeout=30, interval=0.2)  # 4/4 done, the job sleeps on
    assert runner["progress"] == {"done": 4, "total": 4, "note": "stage 4 of 4"}
    assert "4/4 (100%) stage 4 of 4" in run(db_url, "ps")
    assert "4/4 (100%) stage 4 of 4" in run(db_url, "jobs", "list")
    assert "progress     4/4 (100%) stage 4 of 4" in run(db_url, "jobs", "show", job_id)
    listed = json.loads(run(db_url, "jobs", "list", "--json"))
    assert listed[0]["progress"]["done"] == 4
    sup.signal(signal.SIGQUIT)
    sup.wait()


def test_wait_calls_on_progress_with_each_new_value_and_the_last(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "progress", total=5, seconds=1.2)
    sup = supervisors.start(db_url, write_config(tmp_path, interval=0.5))
    seen: list[Progress] = []
    waiter = connect(db_url)
    try:
        result = wait(waiter, job_id, timeout=60, on_progress=seen.append)
    finally:
        waiter.close()
    assert result.ok
    dones = [p.done for p in seen]
    assert dones == sorted(set(dones)) and len(dones) >= 3 and dones[-1] == 5
    assert seen[-1].fraction == 1.0 and seen[-1].note == "stage 5 of 5" and seen[-1].at
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_show_lists_steps_and_retry_fresh_forgets_them(
    conn: Connection, db_url: str, tmp_path: Path, supervisors: Supervisors
) -> None:
    calls = tmp_path / "calls"
    job_id = add_job(conn, "steps", count=2, calls_file=str(calls))
    config = write_config(tmp_path, interval=0.5)
    sup = supervisors.start(db_url, config, "--until-empty")
    sup.wait()
    assert status(conn, job_id) == "completed"
    assert "steps done (2): step-1, step-2 (--details" in run(db_url, "jobs", "show", job_id)
    detailed = run(db_url, "jobs", "show", job_id, "--details")
    assert '  step-1: {"attempt": 1, "data": ""' in detailed
    with conn.cursor() as cur:  # as if it had failed: `jobs retry` takes failed jobs
        cur.execute("UPDATE processing_jobs SET status = 'failed' WHERE id = %s", (job_id,))
    run(db_url, "jobs", "retry", job_id)
    assert sorted(scalar(conn, "SELECT steps FROM processing_jobs WHERE id = %s", job_id)) == [
        "step-1", "step-2"
    ]  # fmt: skip
    supervisors.start(db_url, config, "--until-empty").wait()
    assert calls.read_text().splitlines() == ["step-1 1", "step-2 1"]  # not run again
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET status = 'failed' WHERE id = %s", (job_id,))
    run(db_url, "jobs", "retry", "--fresh", job_id)
    assert scalar(conn, "SELECT steps FROM processing_jobs WHERE id = %s", job_id) is None
    supervisors.start(db_url, config, "--until-empty").wait()
    assert calls.read_text().splitlines() == ["step-1 1", "step-2 1", "step-1 1", "step-2 1"]
    assert "steps done (2)" in run(db_url, "jobs", "show", job_id)


def test_a_new_attempt_starts_with_no_progress(conn: Connection) -> None:
    """The bar of an attempt that ended (a crash, a retry) is not shown as the next one's."""
    job_id = enqueue(conn, job_type="diag.noop")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET progress = %s WHERE id = %s",
                    (json.dumps({"done": 60, "total": 80, "note": "", "at": "x"}), job_id))  # fmt: skip
    assert [j.id for j in store.claim(conn, "00000000-0000-4000-8000-000000000001", 1,
                                      ["diag.noop"])] == [job_id]  # fmt: skip
    assert scalar(conn, f"SELECT progress FROM processing_jobs WHERE id = '{job_id}'") is None
