"""Real supervisors for the tests: `jobsup start` as a subprocess, and ways to wait on it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import Connection, connect
from tests.conftest import JOBSUP

T = TypeVar("T")

DIAG_TYPES = ("noop", "sleep", "fail", "crash", "allocate", "spawn", "print", "whoami", "files")

# Short timers so the tests see heartbeats, reclaims and retries in seconds.
TEST_CONFIG = """
[supervisor]
concurrency = {concurrency}
interval = {interval}
heartbeat_interval = 0.5
stale_after = 3.0
drain_timeout = {drain_timeout}
kill_timeout = 2.0
listen = {listen}
{supervisor_extra}
[retry]
max_retries = {max_retries}
backoff_base = 0.2
backoff_max = 0.5
{retry_extra}
[runner]
allow_root = true  # the tests run as root in CI
{runner_extra}
[logging]
level = "DEBUG"
{extra}
"""


def write_config(
    directory: Path,
    *,
    concurrency: int = 2,
    interval: float = 30.0,
    drain_timeout: float = 10.0,
    listen: bool = True,
    max_retries: int = 3,
    extra: str = "",
    supervisor_extra: str = "",
    retry_extra: str = "",
    runner_extra: str = "",
    type_extra: dict[str, str] | None = None,
) -> Path:
    """A config with short timers and every diag handler; `extra` is appended, the
    `*_extra` go in [supervisor], [retry] and [runner], `type_extra` adds lines to a job type's table
    (by its short name)."""
    types = "\n".join(
        f'[job_types."diag.{name}"]\nhandler = "runner.diag:{name}"\n'
        + (type_extra or {}).get(name, "")
        for name in DIAG_TYPES
    )
    text = TEST_CONFIG.format(
        concurrency=concurrency,
        interval=interval,
        drain_timeout=drain_timeout,
        listen=str(listen).lower(),
        max_retries=max_retries,
        extra=extra,
        supervisor_extra=supervisor_extra,
        retry_extra=retry_extra,
        runner_extra=runner_extra,
    )
    path = directory / f"jobsup-{time.monotonic_ns()}.toml"
    path.write_text(text + "\n" + types + "\n")
    return path


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """The first truthy value of `predicate()`, polling until `timeout` (then AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


class SupervisorProcess:
    """`jobsup start` in a subprocess, its output in a file."""

    def __init__(
        self, db_url: str | None, config: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        environment = {**os.environ, **(env or {})}
        if db_url:
            environment["DATABASE_URL"] = db_url
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [JOBSUP, "start", "-c", str(config), *args],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a SIGINT to the test run does not reach it
            )
        self.pid = self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_registered(self, conn: Connection, timeout: float = 30.0) -> str:
        """The supervisor's worker id, once it is up."""

        def registered() -> str | None:
            assert self.proc.poll() is None, f"supervisor exited early:\n{self.log()}"
            return scalar(
                conn,
                "SELECT id::text FROM jobsup_workers WHERE pid = %s AND state = 'running'",
                self.pid,
            )

        return wait_for(registered, timeout)

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"supervisor did not exit in {timeout} s:\n{self.log()}") from None

    def runner_pids(self) -> list[int]:
        """The supervisor's runners (children of its fork server), by their titles."""
        pids = []
        try:
            for process in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if " ".join(process.cmdline()).startswith("jobsup: runner "):
                        pids.append(process.pid)
        except psutil.NoSuchProcess:
            pass
        return pids

    def stop(self) -> None:
        """Make sure nothing is left running (a test that failed half-way)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Supervisors(list[SupervisorProcess]):
    """The supervisors a test started (the `supervisors` fixture): stopped at teardown."""

    def start(
        self, db_url: str | None, config: Path, *args: str, env: dict[str, str] | None = None
    ) -> SupervisorProcess:
        process = SupervisorProcess(db_url, config, *args, env=env)
        self.append(process)
        return process

    def stop_all(self) -> None:
        for process in self:
            process.stop()


def scalar(conn: Connection, sql: str, *params: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return None if row is None else row[0]


def rows(conn: Connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def add_job(conn: Connection, kind: str, file_path: str | None = None, **metadata: Any) -> str:
    job_type = kind if "." in kind or kind == "analysis" else f"diag.{kind}"
    return enqueue(conn, file_path, job_type=job_type, metadata=metadata)


def job(conn: Connection, job_id: str) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT status, retry_count, error_message, attempts, worker_id::text, "
            "completed_at, started_at, run_at FROM processing_jobs WHERE id = %s",
            (job_id,),
        )
        row = cur.fetchone()
        assert row is not None, job_id
        names = [d.name for d in cur.description]
    return dict(zip(names, row, strict=True))


def status(conn: Connection, job_id: str) -> str:
    return str(scalar(conn, "SELECT status FROM processing_jobs WHERE id = %s", job_id))


def connection(url: str) -> Connection:
    return connect(url)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def title(pid: int) -> str:
    """The process title (setproctitle leaves the old argv slots empty)."""
    return " ".join(part for part in psutil.Process(pid).cmdline() if part)
