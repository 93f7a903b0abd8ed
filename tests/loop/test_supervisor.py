"""The supervisor end to end: real PostgreSQL, real fork, real signals."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil

from supervisor.db.connect import Connection
from tests.fixtures.processes import (
    Supervisors,
    add_job,
    alive,
    job,
    rows,
    scalar,
    status,
    title,
    wait_for,
    write_config,
)


def test_batch_run_completes_jobs_and_stores_insights(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    ids = [add_job(conn, "noop", insights=3) for _ in range(4)]
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0, sup.log()
    for job_id in ids:
        row = job(conn, job_id)
        assert row["status"] == "completed"
        assert row["completed_at"] is not None and row["error_message"] is None
        assert [a["outcome"] for a in row["attempts"]] == ["completed"]
        assert scalar(conn, "SELECT count(*) FROM insights WHERE job_id = %s", job_id) == 3
    assert f"[job {ids[0]}] completed" in sup.log()


def test_each_failure_kind_leaves_an_actionable_message(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    raised = add_job(conn, "fail", message="bad row 7")
    segfault = add_job(conn, "crash", signal="SIGSEGV")
    exit_3 = add_job(conn, "crash", exit_code=3)
    unknown = add_job(conn, "diag.nope")
    missing = add_job(conn, "noop", file_path=str(tmp_path / "gone.csv"))
    sup = supervisors.start(db_url, write_config(tmp_path, max_retries=2), "--until-empty")
    assert sup.wait() == 4, sup.log()  # a batch run in which jobs failed

    def failed(job_id: str, retries: int) -> str:
        row = job(conn, job_id)
        assert row["status"] == "failed"
        assert row["retry_count"] == retries
        assert len(row["attempts"]) == retries + 1
        return str(row["error_message"])

    message = failed(raised, 2)
    assert message.startswith("RuntimeError: bad row 7\nTraceback")
    assert 'raise RuntimeError(job.metadata.get("message"' in message
    assert failed(segfault, 2).startswith("runner killed by SIGSEGV")
    assert failed(exit_3, 2).startswith("runner exited with code 3")
    # a type this supervisor does not configure is not its to fail: it waits, untouched
    assert (job(conn, unknown)["status"], job(conn, unknown)["attempts"]) == ("pending", [])
    assert failed(missing, 0) == f"file not found: {tmp_path / 'gone.csv'}"


def test_a_job_that_fails_once_is_retried_and_completes(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "fail", attempts=1)
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert row["status"] == "completed"
    assert row["retry_count"] == 1
    assert [a["outcome"] for a in row["attempts"]] == ["retry", "completed"]
    assert row["attempts"][0]["error"] == "RuntimeError: diag.fail failed on purpose"


def test_output_is_logged_with_the_job_id_and_its_tail_kept(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    printed = add_job(conn, "print", bytes=300)
    crashed = add_job(conn, "crash", exit_code=5)
    config = write_config(tmp_path, max_retries=0)
    sup = supervisors.start(db_url, config, "--until-empty")
    sup.wait()
    assert f"[job {printed}] | line 0 ...." in sup.log()
    assert status(conn, printed) == "completed"
    assert status(conn, crashed) == "failed"


def test_result_larger_than_the_cap_fails_the_job(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "noop", insights=200, size=100)
    config = write_config(tmp_path, supervisor_extra="result_max_kb = 8")
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 4, sup.log()
    row = job(conn, job_id)
    assert row["status"] == "failed" and row["retry_count"] == 0
    assert row["error_message"].startswith("result too large: ")
    assert "(result_max_kb)" in row["error_message"]


def test_kill_9_of_a_runner_is_retried_and_completes(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=2)
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    runner = wait_for(lambda: sup.runner_pids())[0]
    psutil.Process(runner).kill()
    assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert row["status"] == "completed" and row["retry_count"] == 1
    assert row["attempts"][0]["error"] == "runner killed by SIGKILL"


def test_titles_name_the_supervisor_and_each_runner(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=30)
    config = write_config(tmp_path)
    sup = supervisors.start(db_url, config)
    runner = wait_for(sup.runner_pids)[0]
    wait_for(lambda: title(sup.pid) == f"jobsup: supervisor job_cron.py [{config}] 1/2")
    wait_for(lambda: title(runner) == f"jobsup: runner {job_id} diag.sleep")
    assert os.getpgid(runner) == runner  # its own process group
    sup.signal(signal.SIGQUIT)
    sup.wait()


def test_two_supervisors_share_500_jobs_and_run_none_twice(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, metadata) "
            "SELECT 'diag.noop', '{}' FROM generate_series(1, 500)"
        )
    config = write_config(tmp_path, concurrency=2)
    first = supervisors.start(db_url, config, "--until-empty", "--log-level", "WARNING")
    second = supervisors.start(db_url, config, "--until-empty", "--log-level", "WARNING")
    assert first.wait(120) == 0, first.log()
    assert second.wait(120) == 0, second.log()
    assert rows(conn, "SELECT status, count(*) FROM processing_jobs GROUP BY status") == [
        ("completed", 500)
    ]
    # every attempt is recorded: one each means no job ran twice
    assert scalar(conn, "SELECT max(jsonb_array_length(attempts)) FROM processing_jobs") == 1
    by_worker = rows(conn, "SELECT count(DISTINCT worker_id) FROM processing_jobs")
    assert by_worker == [(2,)]


def test_sigterm_lets_running_jobs_finish(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    ids = [add_job(conn, "sleep", seconds=1.5) for _ in range(2)]
    sup = supervisors.start(db_url, write_config(tmp_path))
    wait_for(lambda: len(sup.runner_pids()) == 2)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()
    assert [status(conn, i) for i in ids] == ["completed", "completed"]
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'processing'") == 0
    assert scalar(conn, "SELECT state FROM jobsup_workers WHERE pid = %s", sup.pid) == "stopped"


def test_drain_timeout_returns_jobs_to_pending_without_spending_an_attempt(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    ids = [add_job(conn, "sleep", seconds=60) for _ in range(2)]
    sup = supervisors.start(db_url, write_config(tmp_path, drain_timeout=1))
    runners = wait_for(lambda: len(sup.runner_pids()) == 2 and sup.runner_pids())
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()
    for job_id in ids:
        row = job(conn, job_id)
        assert (row["status"], row["retry_count"], row["worker_id"]) == ("pending", 0, None)
        assert row["attempts"][-1]["outcome"] == "interrupted"
    assert not any(alive(pid) for pid in runners)


def test_second_sigterm_skips_the_wait(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=60)
    sup = supervisors.start(db_url, write_config(tmp_path, drain_timeout=60))
    wait_for(sup.runner_pids)
    sup.signal(signal.SIGTERM)
    wait_for(lambda: "draining 1 runners" in sup.log())
    began = time.monotonic()
    sup.signal(signal.SIGTERM)
    assert sup.wait(30) == 0, sup.log()
    assert time.monotonic() - began < 30
    assert job(conn, job_id)["status"] == "pending"


def test_sigquit_stops_at_once_and_returns_jobs(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=60)
    sup = supervisors.start(db_url, write_config(tmp_path))
    runner = wait_for(sup.runner_pids)[0]
    sup.signal(signal.SIGQUIT)
    assert sup.wait(30) == 0, sup.log()
    assert not alive(runner)
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("pending", 0)


def test_an_idle_supervisor_starts_a_new_job_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, interval=300))
    sup.wait_registered(conn)
    time.sleep(0.5)  # let it claim nothing and go idle
    job_id = add_job(conn, "noop")
    # the poll interval is 5 minutes: only the NOTIFY can explain a quick pickup
    wait_for(lambda: status(conn, job_id) == "completed", timeout=20)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0


def test_poll_only_mode_picks_jobs_up_on_the_interval(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, interval=1, listen=False))
    sup.wait_registered(conn)
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jobsup' AND query LIKE 'LISTEN%%'",
        )
        == 0
    )
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed", timeout=20)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0


def test_a_job_due_later_is_started_when_it_falls_due(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    from supervisor.client.enqueue import enqueue

    sup = supervisors.start(db_url, write_config(tmp_path, interval=300))
    sup.wait_registered(conn)  # its start-up (over a second under load) no longer counts
    job_id = enqueue(conn, job_type="diag.noop", delay=2.0)
    time.sleep(1.0)
    assert status(conn, job_id) == "pending"
    wait_for(lambda: status(conn, job_id) == "completed", timeout=20)
    sup.signal(signal.SIGTERM)
    sup.wait()


def test_max_jobs_stops_after_n(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    for _ in range(5):
        add_job(conn, "noop")
    sup = supervisors.start(db_url, write_config(tmp_path), "--max-jobs", "2")
    assert sup.wait() == 0, sup.log()
    assert rows(conn, "SELECT status, count(*) FROM processing_jobs GROUP BY 1 ORDER BY 1") == [
        ("completed", 2),
        ("pending", 3),
    ]


def test_max_jobs_counts_jobs_ended_not_an_attempt_taken_away(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    # issue 29: `--max-jobs 10` stopped after 9 completed when the seed's reset SQL took one.
    first = add_job(conn, "sleep", seconds=4)
    for _ in range(3):
        add_job(conn, "sleep", seconds=0.5)
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=1), "--max-jobs", "2")
    wait_for(lambda: status(conn, first) == "processing", timeout=20)
    with conn.cursor() as cur:  # the seed's reset: its runner is killed as no longer ours
        cur.execute("UPDATE processing_jobs SET status = 'pending', started_at = NULL "
                    "WHERE status = 'processing'")  # fmt: skip
    assert sup.wait() == 0, sup.log()
    assert "--max-jobs 2 reached" in sup.log()
    done = rows(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'completed'")
    assert done == [(2,)], sup.log()


def test_job_type_filter_claims_only_those_types(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    mine = add_job(conn, "noop")
    other = add_job(conn, "sleep", seconds=0)
    config = write_config(tmp_path)
    sup = supervisors.start(db_url, config, "--job-type", "diag.noop", "--until-empty")
    assert sup.wait() == 0, sup.log()
    assert (status(conn, mine), status(conn, other)) == ("completed", "pending")


def test_sighup_reloads_and_a_broken_file_keeps_the_old_config(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=2)
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    good = config.read_text()
    config.write_text(good.replace("concurrency = 2", "concurrency = 3"))
    sup.signal(signal.SIGHUP)
    wait_for(lambda: scalar(conn, "SELECT slots FROM jobsup_workers WHERE pid = %s", sup.pid) == 3)
    config.write_text(good.replace("concurrency = 2", "concurrency = -1"))
    sup.signal(signal.SIGHUP)
    wait_for(lambda: "keeping the running configuration" in sup.log())
    assert "concurrency: must not be negative" in sup.log()
    sup.signal(signal.SIGTTIN)
    wait_for(lambda: scalar(conn, "SELECT slots FROM jobsup_workers WHERE pid = %s", sup.pid) == 4)
    sup.signal(signal.SIGTTOU)  # (two at once may merge into one: the kernel does not count)
    wait_for(lambda: scalar(conn, "SELECT slots FROM jobsup_workers WHERE pid = %s", sup.pid) == 3)
    sup.signal(signal.SIGTTOU)
    wait_for(lambda: scalar(conn, "SELECT slots FROM jobsup_workers WHERE pid = %s", sup.pid) == 2)
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed")
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0


def test_a_running_job_cancelled_in_the_database_is_killed(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=60)
    sup = supervisors.start(db_url, write_config(tmp_path))
    runner = wait_for(sup.runner_pids)[0]
    wait_for(lambda: status(conn, job_id) == "processing")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET status = 'cancelled' WHERE id = %s", (job_id,))
    wait_for(lambda: not alive(runner), timeout=10)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0
    assert status(conn, job_id) == "cancelled"
    assert "job is cancelled: killing its runner" in sup.log()
    (attempt,) = job(conn, job_id)["attempts"]  # the cancelled attempt is on record
    assert (attempt["outcome"], attempt["pid"]) == ("cancelled", runner)


def test_seed_era_stuck_jobs_are_reclaimed_after_an_hour(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    old = add_job(conn, "noop")
    recent = add_job(conn, "noop")
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE processing_jobs SET status = 'processing', "
            "started_at = now() - CASE WHEN id = %s THEN interval '2 hours' ELSE interval '5 minutes' END",
            (old,),
        )
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0, sup.log()
    row = job(conn, old)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert status(conn, recent) == "processing"  # not an hour yet: not ours to judge


def test_payload_json_metadata_reaches_the_handler(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "noop", insights=2, size=3)
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0
    contents = rows(
        conn,
        "SELECT content, confidence_score FROM insights WHERE job_id = %s ORDER BY content->>'n'",
        job_id,
    )
    assert [(json.dumps(c, sort_keys=True), float(s)) for c, s in contents] == [
        ('{"n": 0, "text": "xxx"}', 1.0),
        ('{"n": 1, "text": "xxx"}', 1.0),
    ]


def test_a_handler_printing_megabytes_is_logged_up_to_the_limit(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "print", bytes=5 * 1024 * 1024)
    config = write_config(tmp_path, extra="[logging]\noutput_limit_kb = 64\n")
    config.write_text(config.read_text().replace('[logging]\nlevel = "DEBUG"\n', ""))
    sup = supervisors.start(db_url, config, "--until-empty")
    assert sup.wait() == 0, sup.log()[-2000:]
    assert status(conn, job_id) == "completed"
    log = sup.log()
    assert "more bytes of output not logged (output_limit_kb)" in log
    assert len(log) < 1024 * 1024  # 5 MiB printed, about 64 KiB logged
