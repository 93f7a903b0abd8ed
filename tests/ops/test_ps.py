"""`jobsup ps`: every supervisor on every host with its runners, from jobsup_workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from psycopg2.extras import Json

from supervisor.cli import cli
from supervisor.cli.inspect import DASH
from supervisor.db.connect import Connection
from tests.fixtures.commands import JOBSUP, jobsup
from tests.fixtures.processes import Supervisors, add_job, scalar, wait_for, write_config

RUNNER_FIELDS = {
    "job_id", "job_type", "pid", "elapsed", "rss_mb", "peak_rss_mb", "memory_limit_mb",
    "cpu_seconds", "attempt", "max_attempts",
}  # fmt: skip


def ps_json(db_url: str, *args: str) -> list[dict[str, Any]]:
    result = jobsup("ps", "--json", *args, env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_ps_shows_a_running_sleep_job_and_its_runner(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=120)
    sup = supervisors.start(db_url, write_config(tmp_path))
    runner_pid = wait_for(sup.runner_pids)[0]

    def mine() -> dict[str, Any] | None:
        found = [w for w in ps_json(db_url) if w["pid"] == sup.pid]
        # Figures are None until the runner's first sample has reached a heartbeat.
        sampled = found and found[0]["runners"] and (found[0]["runners"][0]["rss_mb"] or 0) > 0
        return found[0] if sampled else None

    worker = wait_for(mine)
    assert (worker["state"], worker["slots"], worker["running"]) == ("running", 2, 1)
    (runner,) = worker["runners"]
    assert set(runner) >= RUNNER_FIELDS, RUNNER_FIELDS - set(runner)
    assert (runner["job_id"], runner["job_type"], runner["pid"]) == (
        job_id,
        "diag.sleep",
        runner_pid,
    )
    assert (runner["attempt"], runner["max_attempts"]) == (1, 4)
    assert runner["memory_limit_mb"] == 1024 and runner["peak_rss_mb"] >= runner["rss_mb"] > 0
    text = jobsup("ps", env={"DATABASE_URL": db_url}).stdout
    # (the figures move with each heartbeat: the limit is what stays put)
    for expected in (job_id, "diag.sleep", str(runner_pid), str(sup.pid), "1/2", "1/4", "/1024"):
        assert expected in text, expected
    assert "1 supervisors (1 running); 1/2 slots busy" in text
    sup.signal(signal.SIGQUIT)
    sup.wait()


def fake_workers(conn: Connection, count: int) -> None:
    """`count` supervisors on as many hosts, two runners each; #0 is stale, #1 stopped."""
    with conn.cursor() as cur:
        for n in range(count):
            state = "stopped" if n == 1 else "running"
            age = "10 minutes" if n == 0 else "1 second"
            worker_id = str(uuid.uuid4())
            runners = [] if state == "stopped" else [fake_runner(cur, worker_id) for _ in "ab"]
            cur.execute(
                "INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, slots, "
                "running, state, heartbeat_at, runners) VALUES (%s, %s, 'k', %s, 0, 4, 2, %s, "
                "now() - %s::interval, %s)",
                (worker_id, f"host-{n:03d}", 1000 + n, state, age, Json(runners)),
            )


def fake_runner(cur: Any, worker_id: str) -> dict[str, Any]:
    """A job held by `worker_id` and its figures as the supervisor's heartbeat gives them."""
    job_id = str(uuid.uuid4())
    cur.execute(
        "INSERT INTO processing_jobs (id, status, worker_id, retry_count, started_at) "
        "VALUES (%s, 'processing', %s, 1, localtimestamp - interval '5 seconds')",
        (job_id, worker_id),
    )
    return {"job_id": job_id, "job_type": "analysis", "pid": 10, "elapsed": 5.0,
            "rss_mb": 100.0, "peak_rss_mb": 150.0, "memory_limit_mb": 1024,
            "cpu_seconds": 2.5, "attempt": 2, "max_attempts": 4}  # fmt: skip


def test_ps_shows_100_supervisors_in_under_a_second_and_dead_ones_as_dead(
    db_url: str, conn: Connection
) -> None:
    fake_workers(conn, 100)
    workers = ps_json(db_url)
    assert len(workers) == 99  # the stopped one is hidden
    states = {w["host"]: w["state"] for w in workers}
    assert states["host-000"] == "dead" and "host-001" not in states
    assert {s for h, s in states.items() if h != "host-000"} == {"running"}
    runner = workers[1]["runners"][0]
    assert runner["cpu_percent"] == 50.0 and runner["elapsed"] >= 5.0
    assert len(ps_json(db_url, "--all")) == 100
    assert [w["host"] for w in ps_json(db_url, "--host", "host-042")] == ["host-042"]
    # In-process, without the interpreter's start-up: the query and the table for 100 rows.
    began = time.monotonic()
    result = CliRunner().invoke(cli, ["ps"], env={"DATABASE_URL": db_url})
    elapsed = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert (
        "100 supervisors" not in result.output
        and "99 supervisors (1 dead, 98 running)" in result.output
    )
    assert result.output.count("2/4") == 99 * 3  # each row's slots, each runner's attempt
    assert elapsed < 1.0, f"jobsup ps took {elapsed:.2f} s with 100 supervisors"


def test_ps_watch_refreshes_until_interrupted(db_url: str, conn: Connection) -> None:
    fake_workers(conn, 3)
    proc = subprocess.Popen(
        [JOBSUP, "ps", "--watch", "0.2", "--json"],
        env={**os.environ, "DATABASE_URL": db_url},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    snapshots = [json.loads(proc.stdout.readline()) for _ in range(2)]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert [len(s) for s in snapshots] == [2, 2]
    assert scalar(conn, "SELECT count(*) FROM jobsup_workers") == 3


def test_ps_shows_a_job_started_since_the_last_heartbeat_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    slow = "heartbeat_interval = 0.5\nstale_after = 3.0"
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace(slow, "heartbeat_interval = 60\nstale_after = 180")
    )
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    job_id = add_job(conn, "sleep", seconds=120)
    wait_for(lambda: scalar(conn, "SELECT status FROM processing_jobs WHERE id = %s", job_id)
             == "processing")  # fmt: skip
    (worker,) = ps_json(db_url)
    assert worker["running"] == 1
    (runner,) = worker["runners"]
    assert (runner["job_id"], runner["job_type"], runner["attempt"]) == (job_id, "diag.sleep", 1)
    assert runner["rss_mb"] is None and runner["elapsed"] < 60  # no heartbeat since
    text = jobsup("ps", env={"DATABASE_URL": db_url}).stdout
    line = next(line for line in text.splitlines() if job_id in line)
    figures = line.split()[1:]
    assert figures == ["diag.sleep", DASH, figures[2], DASH, DASH, DASH, f"1/{DASH}", DASH], line
    assert "1/2 slots busy" in text
    sup.signal(signal.SIGQUIT)
    sup.wait()


def test_a_supervisor_killed_on_this_host_is_dead_at_once_and_stopped_ones_keep_their_run_time(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    slow = "stale_after = 3.0"
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(slow, "stale_after = 180"))
    killed = supervisors.start(db_url, config)
    stopped = supervisors.start(db_url, config)
    for sup in (killed, stopped):
        sup.wait_registered(conn)
    time.sleep(1.0)
    killed.signal(signal.SIGKILL)
    stopped.signal(signal.SIGTERM)
    assert stopped.wait() == 0
    states = {w["pid"]: w for w in ps_json(db_url, "--all")}
    assert states[killed.pid]["state"] == "dead"  # long before stale_after (180 s)
    assert states[stopped.pid]["state"] == "stopped"
    # Stopped ones with --all only; so are dead ones holding no jobs (none to reclaim).
    assert ps_json(db_url) == []
    assert states[killed.pid]["uptime_known"] is False  # it died some time after its heartbeat
    time.sleep(1.5)
    later = {w["pid"]: w for w in ps_json(db_url, "--all")}
    for pid in (killed.pid, stopped.pid):
        ran = states[pid]["uptime"]
        # to its last heartbeat (the killed one) or its stop, and no further
        assert 0 < ran < 60 and abs(later[pid]["uptime"] - ran) < 0.05, (ran, later[pid])
    text = jobsup("ps", "--all", env={"DATABASE_URL": db_url}).stdout
    assert "2 supervisors (1 dead, 1 stopped); 0/0 slots busy" in text


def test_a_dead_supervisor_is_listed_until_its_jobs_are_reclaimed(
    db_url: str, conn: Connection
) -> None:
    """Dead supervisors no longer stay in `ps` (and the overview) forever: one is listed while
    it holds jobs, then only with --all; its uptime is what it ran at least, or `-` when it
    died before its first heartbeat (it read 0.0s)."""
    fake_workers(conn, 3)  # host-000 silent for 10 minutes, holding two jobs
    assert [w["host"] for w in ps_json(db_url)] == ["host-000", "host-002"]
    reclaimed = jobsup("jobs", "reclaim", env={"DATABASE_URL": db_url})
    assert reclaimed.returncode == 0, reclaimed.stderr
    assert [w["host"] for w in ps_json(db_url)] == ["host-002"]
    every = {w["host"]: w for w in ps_json(db_url, "--all")}
    assert every["host-000"]["state"] == "dead" and every["host-000"]["running"] == 0
    text = jobsup("ps", "--all", env={"DATABASE_URL": db_url}).stdout
    row = next(line for line in text.splitlines() if line.startswith("host-000"))
    assert row.split()[3:5] == ["0/4", "-"], row
    assert " 0.0s " not in row
