"""Scheduling with real supervisors: periodic slots, caps across supervisors, pause and
resume, per-type retries, retry_on and runner.Retry."""

from __future__ import annotations

import itertools
import json
import signal
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.commands import free_port, jobsup
from tests.fixtures.processes import (
    Supervisors,
    add_job,
    job,
    rows,
    scalar,
    status,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow

FAST = "heartbeat_interval = 0.5\n"


def test_two_supervisors_serving_a_schedule_enqueue_each_slot_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, interval=0.5,
                          extra='[periodic.tick]\nevery = "2s"\njob_type = "diag.noop"\n')  # fmt: skip
    for _ in range(2):
        supervisors.start(db_url, config).wait_registered(conn)
    time.sleep(10)
    for sup in supervisors:
        sup.signal(signal.SIGTERM)
    for sup in supervisors:
        assert sup.wait() == 0
    keys = [k for (k,) in rows(conn, "SELECT unique_key FROM processing_jobs ORDER BY unique_key")]
    slots = [datetime.fromisoformat(k.removeprefix("periodic:tick:")) for k in keys]
    assert len(keys) >= 4 and len(set(keys)) == len(keys)  # one job per slot, never two
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(slots))  # none missed
    enqueuers = sum("periodic tick: enqueued" in sup.log() for sup in supervisors)
    assert enqueuers >= 1
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status <> 'completed'") == 0
    listed = json.loads(jobsup("periodic", "list", "-c", str(config), "--json",
                               env={"DATABASE_URL": db_url}).stdout)  # fmt: skip
    assert listed[0]["name"] == "tick" and listed[0]["when"] == "every 2.0s"
    assert listed[0]["last_slot"] == slots[-1].isoformat()
    assert listed[0]["last_status"] == "completed"
    text = jobsup("periodic", "list", "-c", str(config), env={"DATABASE_URL": db_url}).stdout
    assert text.splitlines()[0].split()[:3] == ["NAME", "WHEN", "TYPE"]


def test_sighup_loads_a_new_schedule(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path)
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    with config.open("a") as f:
        f.write('\n[periodic.added]\nevery = "1s"\njob_type = "diag.noop"\n')
    sup.signal(signal.SIGHUP)
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM processing_jobs "
                                  "WHERE unique_key LIKE 'periodic:added:%%'"), 10)  # fmt: skip


def test_max_running_holds_across_two_supervisors(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=2, interval=0.1,
                          type_extra={"sleep": "max_running = 1\n"})  # fmt: skip
    for _ in range(2):  # four free slots between them
        supervisors.start(db_url, config).wait_registered(conn)
    ids = [add_job(conn, "sleep", seconds=0.3) for _ in range(5)]
    seen = []
    deadline = time.monotonic() + 60
    while scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'completed'") < 5:
        seen.append(
            scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'processing'")
        )
        assert time.monotonic() < deadline, "the capped jobs did not all run"
        time.sleep(0.01)
    assert max(seen) == 1
    spans = []
    for job_id in ids:
        (attempt,) = job(conn, job_id)["attempts"]
        start = datetime.fromisoformat(attempt["started"])
        spans.append((start, start + timedelta(seconds=attempt["seconds"])))
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_a_paused_type_stays_pending_until_resumed(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    port = free_port()
    config = write_config(tmp_path, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    env = {"DATABASE_URL": db_url}
    assert jobsup("pause", "-c", str(config), "diag.noop", env=env).stdout == "paused: diag.noop\n"
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    paused = add_job(conn, "noop")
    other = add_job(conn, "sleep", seconds=0)
    wait_for(lambda: status(conn, other) == "completed")
    time.sleep(1.5)
    assert status(conn, paused) == "pending"
    assert "paused: diag.noop" in jobsup("ps", "-c", str(config), env=env).stdout
    stats = json.loads(jobsup("stats", "-c", str(config), "--json", env=env).stdout)
    assert [p["job_type"] for p in stats["paused"]] == ["diag.noop"]

    def metric() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    wait_for(lambda: 'jobsup_job_type_paused{type="diag.noop"} 1.0' in metric(), 10)
    resumed = jobsup("resume", "-c", str(config), "diag.noop", env=env)
    assert resumed.stdout == "resumed: diag.noop\n"
    started = time.monotonic()
    wait_for(lambda: status(conn, paused) == "completed", 10)
    assert time.monotonic() - started < 5  # woken by the resume, not by the 30 s poll
    again = jobsup("resume", "-c", str(config), "diag.noop", env=env)
    assert again.stderr == "diag.noop: was not paused\n"
    unknown = jobsup("pause", "-c", str(config), "diag.nop", env=env)
    assert unknown.returncode == 2 and "did you mean 'diag.noop'?" in unknown.stderr


RETRY_TYPES = """
[job_types."sched.flaky"]
handler = "runner.diag:fail"
retry_on = ["TimeoutError", "ConnectionError"]
[job_types."sched.snoozer"]
handler = "runner.diag:retry"
max_snoozes = 2
max_retries = 1
"""


def test_per_type_retries_retry_on_and_runner_retry(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=4, max_retries=3, extra=RETRY_TYPES,
                          type_extra={"fail": "max_retries = 1\n"})  # fmt: skip
    supervisors.start(db_url, config).wait_registered(conn)
    once = add_job(conn, "fail")  # max_retries = 1 for this type, 3 in [retry]
    timeout = add_job(conn, "sched.flaky", exception="TimeoutError")
    reset = add_job(conn, "sched.flaky", exception="ConnectionResetError")  # a ConnectionError
    value = add_job(conn, "sched.flaky", exception="ValueError")
    counter = tmp_path / "runs"
    later = add_job(conn, "sched.snoozer", delay=0.2, times=2, count_file=str(counter), insights=1)
    stuck = add_job(conn, "sched.snoozer", delay=0.1)
    ended = ("completed", "failed")
    for job_id in (once, timeout, reset, value, later, stuck):
        wait_for(lambda job_id=job_id: status(conn, job_id) in ended, 60)
    assert (job(conn, once)["status"], job(conn, once)["retry_count"]) == ("failed", 1)
    assert job(conn, timeout)["retry_count"] == 3 and job(conn, reset)["retry_count"] == 3
    assert (job(conn, value)["status"], job(conn, value)["retry_count"]) == ("failed", 0)
    assert "ValueError" in job(conn, value)["error_message"]
    done = job(conn, later)
    assert (done["status"], done["retry_count"]) == ("completed", 0)  # no attempt spent
    assert [a["outcome"] for a in done["attempts"]] == ["snoozed", "snoozed", "completed"]
    assert counter.read_text() == "3"
    insight = scalar(conn, "SELECT content FROM insights WHERE job_id = %s", later)
    assert insight["runs"] == 3 and insight["attempt"] == 1
    gave_up = job(conn, stuck)  # max_snoozes 2, then each Retry spends one of 2 attempts
    assert (gave_up["status"], gave_up["retry_count"]) == ("failed", 1)
    assert [a["outcome"] for a in gave_up["attempts"]] == ["snoozed", "snoozed", "retry", "failed"]
    assert "max_snoozes 2 reached" in gave_up["error_message"]


def test_enqueue_with_a_unique_key_from_the_command_line(
    db_url: str, conn: Connection, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    args = ("enqueue", "-c", str(config), "--type", "diag.noop", "--unique-key", "upload:42")
    first = jobsup(*args, env={"DATABASE_URL": db_url})
    second = jobsup(*args, env={"DATABASE_URL": db_url})
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout and first.stderr == ""
    job_id = first.stdout.strip()
    assert second.stderr == (f"unique key 'upload:42': job {job_id} holds it (not yet "
                             "finished); no new job\n")  # fmt: skip
    as_json = json.loads(jobsup(*args, "--json", env={"DATABASE_URL": db_url}).stdout)
    assert (as_json["id"], as_json["created"]) == (job_id, False)
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 1
