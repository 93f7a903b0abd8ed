"""The fork server: the process that forks the runners, its death, and what it preloads."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection
from tests.fixtures.processes import Supervisors, add_job, alive, job, title, wait_for, write_config

BROKEN_AT_IMPORT = 'raise RuntimeError("broken at import")\n\n\ndef run(job):\n    return []\n'


def test_runners_are_children_of_the_fork_server_which_ignores_stray_signals(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    ids = [add_job(conn, "sleep", seconds=1.5) for _ in range(2)]
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    runners = wait_for(lambda: len(sup.runner_pids()) == 2 and sup.runner_pids())
    (server,) = psutil.Process(sup.pid).children()
    assert title(server.pid) == f"jobsup: fork server of {sup.pid}"
    assert {psutil.Process(pid).ppid() for pid in runners} == {server.pid}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # e.g. to the whole group
        server.send_signal(signum)
    assert sup.wait() == 0, sup.log()
    assert [job(conn, i)["status"] for i in ids] == ["completed", "completed"]
    assert not alive(server.pid)


def test_a_fork_server_killed_mid_job_costs_an_attempt_and_another_takes_over(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "sleep", seconds=2)
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    runner = wait_for(sup.runner_pids)[0]
    server = psutil.Process(runner).ppid()
    psutil.Process(server).kill()  # its runners die with it (PDEATHSIG)
    assert sup.wait() == 0, sup.log()
    row = job(conn, job_id)
    assert row["status"] == "completed" and row["retry_count"] == 1
    assert row["attempts"][0]["error"] == "runner killed by SIGKILL"
    assert f"the fork server (pid {server}) killed by SIGKILL" in sup.log()


def test_a_spec_of_megabytes_reaches_its_runner(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    job_id = add_job(conn, "noop", padding="x" * (4 << 20))
    sup = supervisors.start(db_url, write_config(tmp_path), "--until-empty")
    assert sup.wait() == 0, sup.log()
    assert job(conn, job_id)["status"] == "completed"


def test_a_preloaded_module_that_fails_to_import_fails_its_jobs_not_the_server(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    # Its handler is defined below the line that fails (start reads that it is there).
    (tmp_path / "brittle_handlers.py").write_text(BROKEN_AT_IMPORT)
    config = write_config(
        tmp_path,
        max_retries=0,
        supervisor_extra='preload = ["brittle_handlers"]',
        extra='[job_types."app.brittle"]\nhandler = "brittle_handlers:run"\n',
    )
    brittle = enqueue(conn, job_type="app.brittle")
    fine = add_job(conn, "noop")
    sup = supervisors.start(db_url, config, "--until-empty", env={"PYTHONPATH": str(tmp_path)})
    assert sup.wait() == 4, sup.log()  # a batch with a failed job
    assert job(conn, brittle)["error_message"].startswith("RuntimeError: broken at import")
    assert job(conn, fine)["status"] == "completed"
    assert "cannot preload brittle_handlers: broken at import" in sup.log()


def test_a_handlers_loguru_lines_are_logged_with_the_job_id_at_the_supervisors_level(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    (tmp_path / "chatty_handlers.py").write_text(
        "from loguru import logger\n\n\n"
        "def run(job):\n"
        '    logger.info("read {} rows", 12)\n'
        '    logger.debug("a detail")\n'
    )
    config = write_config(
        tmp_path,
        supervisor_extra='preload = ["chatty_handlers"]',
        extra='[job_types."app.chatty"]\nhandler = "chatty_handlers:run"\n',
    )
    job_id = enqueue(conn, job_type="app.chatty")
    env = {"PYTHONPATH": str(tmp_path)}
    sup = supervisors.start(db_url, config, "--until-empty", "--log-level", "INFO", env=env)
    assert sup.wait() == 0, sup.log()
    assert f"[job {job_id}] | INFO: read 12 rows" in sup.log()
    assert "a detail" not in sup.log()


def test_when_no_runner_can_be_started_the_job_waits_in_pending(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    (tmp_path / "fatal_module.py").write_text("import os\nos._exit(3)\n")  # kills the server
    config = write_config(tmp_path, supervisor_extra='preload = ["fatal_module"]')
    job_id = add_job(conn, "noop")
    sup = supervisors.start(db_url, config, env={"PYTHONPATH": str(tmp_path)})
    wait_for(lambda: "cannot start a runner: the fork server (pid" in sup.log())
    wait_for(lambda: "exited with code 3: the next runner starts another" in sup.log())
    wait_for(lambda: job(conn, job_id)["status"] == "pending")
    row = job(conn, job_id)
    assert row["retry_count"] == 0 and row["worker_id"] is None
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()
    assert sup.log().count("cannot start a runner") == 1  # then it claims less: 5 s apart


def test_a_fork_server_that_stops_answering_is_replaced(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    sup = supervisors.start(db_url, write_config(tmp_path))
    server = wait_for(lambda: psutil.Process(sup.pid).children())[0]
    wait_for(lambda: title(server.pid) == f"jobsup: fork server of {sup.pid}")
    server.suspend()  # SIGSTOP: requests go unanswered
    job_id = add_job(conn, "noop")
    wait_for(lambda: job(conn, job_id)["status"] == "completed", timeout=60)  # after 10 s
    assert f"the fork server (pid {server.pid}) did not answer in 10 s: killing it" in sup.log()
    assert job(conn, job_id)["retry_count"] == 0
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()


SUPERVISOR_GONE = """
import selectors, time
from runner.job import Job, RunnerSpec
from runner.parent import ForkServer

server = ForkServer(selectors.DefaultSelector())
server.start()
spec = RunnerSpec(Job("j1", "diag.noop"), "runner.diag:noop", parent_pid=0)
server.request(spec)
server.request(spec)
time.sleep(1.0)  # their answers and exits wait, unread
server._sock.close()  # as a dying supervisor's does: with data unread, the server sees a reset
print(server._process.wait(10))
"""


def test_a_fork_server_whose_supervisor_dies_with_events_unread_exits_quietly() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SUPERVISOR_GONE], capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert (done.stdout.strip(), done.stderr) == ("0", ""), done


DIES_AFTER_FORK = """
import os, time
_fork = os.fork

def fork():  # the fork server dies after a fork, before it tells the supervisor the pid
    pid = _fork()
    if pid:
        time.sleep(0.5)
        os._exit(1)
    return pid

os.fork = fork
"""


def test_a_runner_whose_fork_server_dies_before_naming_it_never_runs_its_handler(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    (tmp_path / "dies_after_fork.py").write_text(DIES_AFTER_FORK)
    record = tmp_path / "executions.jsonl"
    job_id = enqueue(conn, job_type="diag.chaos", metadata={"record": str(record)})
    config = write_config(
        tmp_path,
        supervisor_extra='preload = ["dies_after_fork"]',
        extra='[job_types."diag.chaos"]\nhandler = "runner.diag:chaos"\n',
    )
    sup = supervisors.start(db_url, config, env={"PYTHONPATH": str(tmp_path)})
    wait_for(lambda: "cannot start a runner" in sup.log(), timeout=30)
    time.sleep(1.0)  # what a runner that went on would have done by now
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0, sup.log()
    assert not record.exists() or "start" not in record.read_text(), record.read_text()
    row = job(conn, job_id)
    assert (row["status"], row["retry_count"], row["attempts"]) == ("pending", 0, [])
