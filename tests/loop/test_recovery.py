"""Nothing is lost: dead runners, dead supervisors, a restarted database, an outdated schema."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from supervisor.db.connect import Connection, connect
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import (
    Supervisors,
    add_job,
    alive,
    job,
    rows,
    scalar,
    status,
    wait_for,
    write_config,
)
from tests.fixtures.seed import seed_database


def test_jobs_of_a_killed_supervisor_go_to_another_after_stale_after(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=2)
    ids = [add_job(conn, "sleep", seconds=30, attempts_seen=0) for _ in range(2)]
    doomed = supervisors.start(db_url, config, "--job-type", "diag.sleep")
    doomed_id = doomed.wait_registered(conn)
    runners = wait_for(lambda: len(doomed.runner_pids()) == 2 and doomed.runner_pids())
    wait_for(lambda: all(status(conn, i) == "processing" for i in ids))
    # Pretend it runs on another machine: its pid then proves nothing, only its heartbeat does.
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE jobsup_workers SET host_key = 'another-host' WHERE id = %s", (doomed_id,)
        )
        cur.execute("UPDATE processing_jobs SET metadata = '{\"seconds\": 0.2}'")
    rescuer = supervisors.start(db_url, config)
    rescuer.wait_registered(conn)
    doomed.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: not any(alive(pid) for pid in runners), timeout=10)  # PDEATHSIG
    wait_for(lambda: all(status(conn, i) == "completed" for i in ids), timeout=60)
    took = time.monotonic() - killed_at
    assert took >= 3.0  # stale_after: its pid could not be checked from here
    for job_id in ids:
        row = job(conn, job_id)
        assert row["retry_count"] == 1
        assert (
            scalar(conn, "SELECT worker_id::text FROM processing_jobs WHERE id = %s", job_id)
            != doomed_id
        )
    assert scalar(conn, "SELECT state FROM jobsup_workers WHERE id = %s", doomed_id) == "dead"
    assert "declared dead: silent for" in rescuer.log()
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait() == 0


def test_a_restarted_supervisor_recovers_its_own_jobs_at_once(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config = write_config(tmp_path, concurrency=1)
    config.write_text(config.read_text().replace("stale_after = 3.0", "stale_after = 600.0"))
    job_id = add_job(conn, "sleep", seconds=30)
    first = supervisors.start(db_url, config)
    wait_for(first.runner_pids)
    wait_for(lambda: status(conn, job_id) == "processing")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET metadata = '{\"seconds\": 0}'")
    first.signal(signal.SIGKILL)
    first.wait()
    began = time.monotonic()
    second = supervisors.start(db_url, config, "--until-empty")
    assert second.wait() == 0, second.log()
    assert time.monotonic() - began < 60  # far less than stale_after = 600 s
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert row["attempts"][0]["error"].startswith("reclaimed: its supervisor ")
    assert row["attempts"][0]["error"].endswith(": process gone")
    assert "reclaimed, now pending" in second.log()


# A process of the title a killed supervisor's runner (or its fork server, or a runner that
# has not yet taken its own title) carries, outliving it: as under load, when its death reaches
# them only in steps, and until then they may run user code.
LEFTOVER = (
    "import setproctitle, sys, time\n"
    "setproctitle.setproctitle(sys.argv[1])\n"
    "print('titled', flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.mark.parametrize("kind", ["runner", "fork server"])
def test_a_killed_supervisor_is_not_declared_gone_while_its_processes_live(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors, kind: str
) -> None:
    config = write_config(tmp_path, concurrency=1)
    config.write_text(config.read_text().replace("stale_after = 3.0", "stale_after = 600.0"))
    job_id = add_job(conn, "sleep", seconds=60)
    doomed = supervisors.start(db_url, config)
    doomed_id = doomed.wait_registered(conn)
    wait_for(doomed.runner_pids)
    wait_for(lambda: status(conn, job_id) == "processing")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET metadata = '{\"seconds\": 0.2}'")
    name = (f"jobsup: runner {job_id} diag.sleep" if kind == "runner"
            else f"jobsup: fork server of {doomed.pid}")  # fmt: skip
    leftover = subprocess.Popen(
        [sys.executable, "-c", LEFTOVER, name], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert leftover.stdout is not None and leftover.stdout.readline() == b"titled\n"
        doomed.signal(signal.SIGKILL)
        doomed.wait()
        rescuer = supervisors.start(db_url, config)
        rescuer.wait_registered(conn)

        def reclaimed() -> bool:
            row = job(conn, job_id)
            return row["status"] != "processing" or row["worker_id"] != doomed_id

        if kind == "runner":  # the rescuer kills it, then takes the job
            assert leftover.wait(20) == -signal.SIGKILL
        else:  # the server already has its PDEATHSIG: it waits for it to be gone
            time.sleep(3.0)  # 6 heartbeats
            assert not reclaimed()
            assert "is gone, not yet its processes" in rescuer.log()
            assert leftover.poll() is None
            leftover.kill()
            leftover.wait()
        wait_for(reclaimed, timeout=20)
        wait_for(lambda: status(conn, job_id) == "completed", timeout=30)
        row = job(conn, job_id)
        assert row["attempts"][0]["error"].endswith(": process gone"), row["attempts"]
        held_off = re.findall(r"is gone, not yet its processes \(([\d, ]+)\)", rescuer.log())
        assert any(str(leftover.pid) in pids.split(", ") for pids in held_off), rescuer.log()
        rescuer.signal(signal.SIGTERM)
        assert rescuer.wait() == 0, rescuer.log()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_a_job_reclaimed_from_under_a_live_supervisor_is_not_written_twice(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=1.5, insights=1)
    sup = supervisors.start(db_url, write_config(tmp_path))
    wait_for(sup.runner_pids)
    wait_for(lambda: status(conn, job_id) == "processing")
    with conn.cursor() as cur:  # what another supervisor's reclaim does
        cur.execute(
            "UPDATE processing_jobs SET status = 'pending', worker_id = NULL, retry_count = 1, "
            "run_at = now() + interval '1 hour' WHERE id = %s",
            (job_id,),
        )
    wait_for(lambda: "killing its runner" in sup.log(), timeout=10)
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"]) == ("pending", 1)
    assert scalar(conn, "SELECT count(*) FROM insights WHERE job_id = %s", job_id) == 0


def test_a_database_restart_mid_run_loses_nothing(tmp_path: Path, supervisors: Supervisors) -> None:
    # This test restarts the server, so it uses an embedded PostgreSQL of its own.
    env = {"JOBSUP_HOME": str(tmp_path / "home")}
    assert jobsup("db", "init", env=env).returncode == 0
    url = jobsup("db", "url", env=env).stdout.strip()
    try:
        conn = connect(url)
        ids = [add_job(conn, "sleep", seconds=0.7) for _ in range(8)]
        conn.close()
        config = write_config(tmp_path, concurrency=2)
        sup = supervisors.start(None, config, "--until-empty", env=env)
        wait_for(lambda: len(sup.runner_pids()) == 2, timeout=30)
        assert jobsup("db", "stop", "--force", env=env).returncode == 0
        time.sleep(2.0)  # runners finish while the database is down
        assert jobsup("db", "start", env=env).returncode == 0  # starts it again
        assert sup.wait(120) == 0, sup.log()
        assert "database connection lost" in sup.log()
        assert "database connection re-established" in sup.log()
        conn = connect(url)
        assert rows(conn, "SELECT status, count(*) FROM processing_jobs GROUP BY 1") == [
            ("completed", 8)
        ]
        assert (
            scalar(conn, "SELECT count(*) FROM processing_jobs WHERE id = ANY(%s::uuid[])", ids)
            == 8
        )
        conn.close()
    finally:
        jobsup("db", "stop", "--force", env=env)


def test_start_refuses_an_outdated_database(empty_db_url: str, tmp_path: Path) -> None:
    seed_database(empty_db_url)
    config = str(write_config(tmp_path))
    result = jobsup("start", "-c", config, "--max-jobs", "1", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert "run `jobsup db migrate`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_start_with_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    result = jobsup("start", "-c", config, env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "jobsup: cannot connect to postgresql://u:***@127.0.0.1:1/x: connection to server at "
        '"127.0.0.1", port 1 failed: Connection refused'
    ]


def test_no_runner_survives_its_supervisor(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    add_job(conn, "sleep", seconds=60)
    sup = supervisors.start(db_url, write_config(tmp_path))
    runner = wait_for(sup.runner_pids)[0]
    os.kill(sup.pid, signal.SIGKILL)
    wait_for(lambda: not alive(runner), timeout=10)
    assert not psutil.pid_exists(runner) or psutil.Process(runner).status() == psutil.STATUS_ZOMBIE


def test_a_job_held_in_the_database_but_not_running_is_given_back(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path, interval=300))
    worker_id = sup.wait_registered(conn)
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed")
    with conn.cursor() as cur:  # what a claim looks like when its answer never arrived
        cur.execute(
            "INSERT INTO processing_jobs (job_type, status, worker_id, started_at) "
            "VALUES ('diag.noop', 'processing', %s, now()) RETURNING id::text",
            (worker_id,),
        )
        (lost,) = cur.fetchone()  # type: ignore[misc]
    wait_for(lambda: status(conn, lost) == "completed", timeout=30)
    assert job(conn, lost)["retry_count"] == 0
    assert "claim lost): back to pending" in sup.log()
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        (
            '[job_types.report]\nhandler = "reports.monthly:build"\n',
            "[job_types.report] handler 'reports.monthly:build': no module named "
            "'reports.monthly' on this Python's path",
        ),
        (
            '[supervisor]\npreload = ["reports.monthly"]\n',
            "[supervisor] preload: no module named 'reports.monthly' on this Python's path",
        ),
    ],
)
def test_start_refuses_a_module_that_does_not_exist(
    db_url: str, tmp_path: Path, toml: str, problem: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = jobsup("start", "-c", str(config), env={"DATABASE_URL": db_url})
    assert result.returncode == 2
    assert result.stderr.strip() == f"jobsup: {config}: {problem}"
