"""`jobsup jobs list|show|retry|cancel|reclaim|prune` and `jobsup stats` against a real
PostgreSQL (and, for cancel, a real supervisor)."""

from __future__ import annotations

import json
import re
import socket
import uuid
from pathlib import Path
from typing import Any

from supervisor.db.connect import Connection
from tests.fixtures.commands import jobsup
from tests.fixtures.jobrows import add_insight, make_job
from tests.fixtures.processes import (
    Supervisors,
    add_job,
    alive,
    job,
    scalar,
    status,
    wait_for,
    write_config,
)


def cli(db_url: str, *args: str) -> Any:
    return jobsup(*args, env={"DATABASE_URL": db_url})


def test_list_filters_by_status_type_and_age(db_url: str, conn: Connection) -> None:
    old = make_job(conn, status="failed", error_message="boom\nTraceback", created="3 hours")
    new = make_job(conn, "diag.noop", status="failed", error_message="bad row 7")
    pending = make_job(conn)
    failed = cli(db_url, "jobs", "list", "--status", "failed")
    assert failed.returncode == 0, failed.stderr
    assert old in failed.stdout and new in failed.stdout and pending not in failed.stdout
    assert "boom" in failed.stdout and "Traceback" not in failed.stdout  # first line only
    assert failed.stdout.index(new) < failed.stdout.index(old)  # newest first
    recent = json.loads(cli(db_url, "jobs", "list", "--since", "1h", "--json").stdout)
    assert {j["id"] for j in recent} == {new, pending}
    typed = json.loads(cli(db_url, "jobs", "list", "--type", "diag.noop", "--json").stdout)
    assert [j["id"] for j in typed] == [new]
    assert len(json.loads(cli(db_url, "jobs", "list", "--limit", "1", "--json").stdout)) == 1
    bad = cli(db_url, "jobs", "list", "--since", "soon")
    assert bad.returncode == 2 and "expected a number and a unit" in bad.stderr


def test_show_prints_every_field_attempts_error_and_readable_insights(
    db_url: str, conn: Connection
) -> None:
    attempts = [
        {"attempt": 1, "outcome": "retry", "host": "h1", "pid": 11, "error": "killed by SIGKILL"},
        {"attempt": 2, "outcome": "completed", "host": "h2", "pid": 12, "seconds": 3.5},
    ]
    job_id = make_job(
        conn, status="completed", retry_count=1, attempts=attempts,
        business_description="Why did sales drop?", error_message="killed by SIGKILL",
    )  # fmt: skip
    add_insight(conn, job_id, {"title": "Sales fell 12 %", "summary": "March was the low point.",
                               "details": {"drop": 0.12}})  # fmt: skip
    add_insight(conn, job_id, {"n": 1}, kind="diag")
    shown = cli(db_url, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for expected in ("status       completed", "retries      1", "Why did sales drop?",
                     "insights     2", "last error:", "killed by SIGKILL", "h2", "3.5",
                     "1. [kpi] Sales fell 12 % (confidence 0.80)", "March was the low point.",
                     '2. [diag] (confidence 0.80) {"n": 1}'):  # fmt: skip
        assert expected in text, expected
    assert '"drop"' not in text
    assert '"drop": 0.12' in cli(db_url, "jobs", "show", job_id, "--details").stdout
    data = json.loads(cli(db_url, "jobs", "show", job_id, "--json").stdout)
    assert data["insights"][0]["content"]["title"] == "Sales fell 12 %"
    assert data["attempts"] == attempts and data["run_at"]  # every column, jobsup's too
    missing = cli(db_url, "jobs", "show", str(uuid.uuid4()))
    assert missing.returncode == 1 and "no job" in missing.stderr
    assert cli(db_url, "jobs", "show", "nope").returncode == 2


def test_retry_clears_failed_jobs_like_the_seed(db_url: str, conn: Connection) -> None:
    first = make_job(conn, status="failed", retry_count=3, error_message="x", completed="1 hour")
    second = make_job(conn, status="failed", retry_count=1, error_message="y")
    done = make_job(conn, status="completed")
    named = cli(db_url, "jobs", "retry", first, done)
    assert named.returncode == 1  # one of them was left alone
    assert f"retried {first} (was failed)" in named.stdout
    assert f"not retried {done}: it is completed" in named.stdout
    row = job(conn, first)
    assert (row["status"], row["retry_count"], row["error_message"]) == ("pending", 0, None)
    assert row["completed_at"] is None
    assert status(conn, second) == "failed"
    every = json.loads(cli(db_url, "jobs", "retry", "--all-failed", "--json").stdout)
    assert [c["id"] for c in every["retried"]] == [second]
    assert status(conn, done) == "completed"
    assert cli(db_url, "jobs", "retry").returncode == 2  # nothing named


def test_cancel_a_pending_job_and_not_a_finished_one(db_url: str, conn: Connection) -> None:
    pending = make_job(conn)
    done = make_job(conn, status="completed")
    ghost = str(uuid.uuid4())
    result = cli(db_url, "jobs", "cancel", pending, done, ghost, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(c["id"], c["was"]) for c in report["cancelled"]] == [(pending, "pending")]
    assert {c["id"]: c["was"] for c in report["unchanged"]} == {done: "completed", ghost: None}
    row = job(conn, pending)
    assert row["status"] == "cancelled" and row["completed_at"] is not None
    assert "jobsup jobs cancel" in row["error_message"]


def test_cancel_kills_a_job_running_in_another_supervisor(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=120)
    sup = supervisors.start(db_url, write_config(tmp_path))
    runner = wait_for(sup.runner_pids)[0]
    pid = "SELECT runner_pid FROM processing_jobs WHERE id = %s"
    wait_for(lambda: scalar(conn, pid, job_id) == runner)  # recorded with a heartbeat
    result = cli(db_url, "jobs", "cancel", job_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"cancelled {job_id} (was processing; runner on {socket.gethostname()}, pid {runner}, "
        f"is killed by its supervisor, pid {sup.pid})"
    )
    wait_for(lambda: not alive(runner), timeout=20)
    wait_for(lambda: "job is cancelled: killing its runner" in sup.log())
    assert sup.proc.poll() is None  # the supervisor goes on
    assert status(conn, job_id) == "cancelled"


def test_cancel_of_a_job_whose_runner_pid_is_not_recorded_yet_says_so(
    db_url: str, conn: Connection
) -> None:
    owner = add_worker(conn, "1 second")
    job_id = make_job(conn, status="processing", worker_id=owner, started="1 second")
    result = cli(db_url, "jobs", "cancel", job_id)
    assert result.stdout.strip() == (
        f"cancelled {job_id} (was processing; runner on elsewhere, pid not recorded yet, "
        "is killed by its supervisor, pid 4242)"
    ), result.stderr


def add_worker(conn: Connection, heartbeat_ago: str, state: str = "running") -> str:
    worker_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, slots, "
            "state, heartbeat_at) VALUES (%s, 'elsewhere', 'other-boot:1', 4242, 0, 2, %s, "
            "now() - %s::interval)",
            (worker_id, state, heartbeat_ago),
        )
    return worker_id


def test_reclaim_takes_back_only_jobs_without_a_live_owner(db_url: str, conn: Connection) -> None:
    live = add_worker(conn, "1 second")
    dead = add_worker(conn, "10 minutes")
    held = make_job(conn, status="processing", worker_id=live, started="2 hours")
    lost = make_job(conn, status="processing", worker_id=dead, started="1 minute")
    orphan = make_job(conn, status="processing", started="2 hours")
    young = make_job(conn, status="processing", started="5 minutes")
    result = cli(db_url, "jobs", "reclaim")
    assert result.returncode == 0, result.stderr
    assert "supervisor elsewhere pid 4242 declared dead" in result.stdout
    assert f"reclaimed {lost}: now pending" in result.stdout
    assert (status(conn, lost), job(conn, lost)["retry_count"]) == ("pending", 1)
    assert status(conn, orphan) == "pending"
    assert (status(conn, held), status(conn, young)) == ("processing", "processing")
    again = json.loads(cli(db_url, "jobs", "reclaim", "--older-than", "1m", "--json").stdout)
    assert [c["id"] for c in again["jobs"]] == [young]
    assert status(conn, held) == "processing"
    assert "nothing to reclaim" in cli(db_url, "jobs", "reclaim").stdout


def test_prune_deletes_old_finished_jobs_with_insights_in_batches(
    db_url: str, conn: Connection
) -> None:
    old = [make_job(conn, status="completed", completed="10 days") for _ in range(25)]
    for job_id in old[:5]:
        add_insight(conn, job_id, {"n": 1})
    old_failed = make_job(conn, status="failed", completed="10 days")
    old_cancelled = make_job(conn, status="cancelled", completed="10 days")
    recent = make_job(conn, status="completed", completed="1 hour")
    pending = make_job(conn, created="30 days")
    result = cli(db_url, "jobs", "prune", "--older-than", "7d", "--batch-size", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "deleted 26 jobs (completed, failed) that ended over 7d00h ago, with 5 insights, "
        "in 3 batches"
    )
    left = {r for (r,) in _rows(conn, "SELECT id::text FROM processing_jobs")}
    assert left == {old_cancelled, recent, pending}
    assert scalar(conn, "SELECT count(*) FROM insights") == 0
    refused = cli(db_url, "jobs", "prune", "--older-than", "1d", "--status", "pending")
    assert refused.returncode == 1 and "finished jobs only" in refused.stderr
    assert old_failed not in left


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_stats_reports_counts_throughput_durations_and_failures(
    db_url: str, conn: Connection
) -> None:
    for seconds in (1, 2, 3, 4, 100):
        make_job(conn, "diag.noop", status="completed", started=f"{seconds + 60} seconds",
                 completed="60 seconds")  # fmt: skip
    for message in ("memory limit exceeded\ntrace", "memory limit exceeded\nother", "boom"):
        make_job(conn, status="failed", retry_count=3, error_message=message, completed="1 min")
    make_job(conn)
    report = json.loads(cli(db_url, "stats", "--hours", "2", "--json").stdout)
    counts = {(c["status"], c["retry_count"]): c["jobs"] for c in report["counts"]}
    assert counts == {("completed", 0): 5, ("failed", 3): 3, ("pending", 0): 1}
    assert len(report["throughput"]) == 2
    assert sum(h["completed"] for h in report["throughput"]) == 5
    (noop,) = report["durations"]
    assert noop["job_type"] == "diag.noop" and noop["jobs"] == 5
    assert abs(noop["median"] - 3) < 0.5 and noop["p95"] > 50
    failures = [(f["reason"], f["jobs"]) for f in report["failures"]]
    assert failures == [("memory limit exceeded", 2), ("boom", 1)]
    text = cli(db_url, "stats").stdout
    for heading in ("jobs by status", "throughput", "duration", "failures"):
        assert heading in text, heading
    assert "memory limit exceeded" in text


def test_stats_groups_failures_with_numbers_and_ids_masked(db_url: str, conn: Connection) -> None:
    for pid in (2480, 2516):
        make_job(
            conn,
            status="failed",
            completed="1 min",
            error_message=f"failed: its supervisor vm pid {pid} died while running it",
        )
    for _ in range(2):
        make_job(conn, status="failed", completed="1 min",
                 error_message=f"job {uuid.uuid4()} used 1.5 GiB\nTraceback")  # fmt: skip
    make_job(conn, status="failed", completed="1 min", error_message="boom")
    report = json.loads(cli(db_url, "stats", "--json").stdout)
    rows = [(f["reason"], f["jobs"]) for f in report["failures"]]
    assert rows == [
        ("failed: its supervisor vm pid <n> died while running it", 2),
        ("job <id> used <n> GiB", 2),
        ("boom", 1),
    ]
    example = report["failures"][0]["example"]
    assert example in {
        f"failed: its supervisor vm pid {p} died while running it" for p in (2480, 2516)
    }
    text = cli(db_url, "stats").stdout
    assert "vm pid <n> died" in text and example in text
    assert text.count("died while running it") == 2  # one row: the reason and its example


ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
TIME_LIKE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:")


def times(value: Any) -> list[str]:
    """Every string in a JSON document that looks like a timestamp."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in times(v)]
    if isinstance(value, list):
        return [t for v in value for t in times(v)]
    return [value] if isinstance(value, str) and TIME_LIKE.match(value) else []


def test_every_time_in_json_is_iso_8601_with_its_offset(db_url: str, conn: Connection) -> None:
    attempts = [{"attempt": 1, "outcome": "failed", "started": "2026-11-29T01:09:38+00:00"}]
    job_id = make_job(conn, status="failed", error_message="boom", started="2 min",
                      completed="1 min", attempts=attempts)  # fmt: skip
    documents = {
        "list": cli(db_url, "jobs", "list", "--json").stdout,
        "show": cli(db_url, "jobs", "show", job_id, "--json").stdout,
        "stats": cli(db_url, "stats", "--hours", "2", "--json").stdout,
    }
    for name, text in documents.items():
        found = times(json.loads(text))
        assert found, name
        for moment in found:
            assert ISO_WITH_OFFSET.match(moment), (name, moment)
    shown = json.loads(documents["show"])
    assert {"created_at", "started_at", "completed_at", "updated_at", "run_at"} <= set(shown)


def test_every_command_taking_a_job_id_accepts_a_unique_prefix(
    db_url: str, conn: Connection
) -> None:
    twins = ["1f64f4c9-4880-4e24-ae8a-4fe77429b723", "1f64f4c9-4881-4e24-ae8a-4fe77429b723"]
    failed = "2a000000-0000-4000-8000-000000000001"
    for job_id in twins:
        make_job(conn, id=job_id)
    make_job(conn, id=failed, status="failed", error_message="boom")
    shown = cli(db_url, "jobs", "show", "1F64F4C9-4880", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == twins[0]
    assert (
        json.loads(cli(db_url, "jobs", "show", "1f64f4c94881", "--json").stdout)["id"] == twins[1]
    )
    retried = cli(db_url, "jobs", "retry", failed[:8])
    assert retried.stdout.strip() == f"retried {failed} (was failed)", retried.stderr
    cancelled = cli(db_url, "jobs", "cancel", twins[1][:13], failed[:9])
    assert f"cancelled {twins[1]} (was pending)" in cancelled.stdout, cancelled.stderr
    assert f"cancelled {failed} (was pending)" in cancelled.stdout
    for args, message in [
        (("show", "1f64f4c9"), "jobsup: job id prefix 1f64f4c9 is ambiguous: "
                              f"{twins[0]}, {twins[1]}; give more of the id"),
        (("cancel", "1f64f4c9"), "ambiguous"),
        (("retry", "2b000000"), "jobsup: no job id starts with 2b000000: `jobsup jobs list` "
                                "shows the ids"),
    ]:  # fmt: skip
        result = cli(db_url, "jobs", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    short = cli(db_url, "jobs", "show", "1f64f4c")
    assert short.returncode == 2 and "first 8 characters or more" in short.stderr
    assert status(conn, twins[0]) == "pending"


def test_show_cuts_a_huge_description_unless_details(db_url: str, conn: Connection) -> None:
    description = "Why did sales drop? " + "x" * 10_000_000
    job_id = make_job(conn, business_description=description)
    shown = cli(db_url, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout) < 5000
    assert "description  Why did sales drop? xxx" in shown.stdout
    assert "… (10,000,020 characters; --details prints them all)" in shown.stdout
    full = cli(db_url, "jobs", "show", job_id, "--details").stdout
    assert description in full
    assert (
        json.loads(cli(db_url, "jobs", "show", job_id, "--json").stdout)["business_description"]
        == description
    )


def test_attempts_are_numbered_on_after_jobs_retry(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """`jobs retry` gives a failed job its attempts afresh (retry_count 0), and its history goes
    on numbering: 1, 2, the retry, then 3 and 4 (they restarted from 1 before)."""
    config = write_config(tmp_path, max_retries=1)
    supervisors.start(db_url, config).wait_registered(conn)
    failing = add_job(conn, "fail")
    wait_for(lambda: status(conn, failing) == "failed", 60)
    assert cli(db_url, "jobs", "retry", failing).returncode == 0
    wait_for(
        lambda: status(conn, failing) == "failed" and len(job(conn, failing)["attempts"]) == 5, 60
    )
    history = job(conn, failing)["attempts"]
    assert [(a.get("attempt"), a["outcome"]) for a in history] == [
        (1, "retry"), (2, "failed"), (None, "retried"), (3, "retry"), (4, "failed"),
    ]  # fmt: skip
    assert (history[2]["after"], history[2]["was"]) == (2, "failed")
    assert job(conn, failing)["retry_count"] == 1  # its own budget: afresh
    shown = cli(db_url, "jobs", "show", failing).stdout
    assert re.search(r"^  4 +failed ", shown, re.MULTILINE), shown
