"""`jobsup status` and `jobsup stop`: the supervisor of this state directory (its pidfile),
and what the database says about it and the queue."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg2

from supervisor.config import Config
from supervisor.db import schema
from supervisor.db.connect import Connection, close_quietly, connect, mask_url
from supervisor.errors import DatabaseError, JobsupError, describe
from supervisor.identity import host_key
from supervisor.ops import embedded, job_admin, pidfile, report

POLL = 0.1
STOP_MARGIN = 15.0  # seconds `stop` waits beyond drain_timeout + kill_timeout by default


CLI = "jobsup-cli"  # the application_name of a command's connections


@contextmanager
def running_database(cfg: Config, application_name: str = CLI) -> Iterator[Connection | None]:
    """A connection, or None when the database is the embedded one and it is not running
    (`status` must not start a server as a side effect)."""
    url = cfg.database.url or embedded.running_url(cfg.state_dir)
    if not url:
        yield None
        return
    conn = connect(url, statement_timeout=cfg.database.statement_timeout,
                   connect_timeout=cfg.database.connect_timeout,
                   application_name=application_name, pooler=cfg.database.pooler)  # fmt: skip
    try:
        yield conn
    finally:
        close_quietly(conn)


@dataclass
class Status:
    pidfile: Path
    pid: int | None  # the live supervisor of this state directory
    stale_pid: int | None = None  # named by a pidfile whose process is gone (now removed)
    worker: dict[str, Any] | None = None  # its jobsup_workers row
    queue: dict[str, Any] | None = None
    database: str = ""  # why there is no queue, when there is none

    @property
    def running(self) -> bool:
        return self.pid is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running, "pid": self.pid, "pidfile": str(self.pidfile),
            "stale_pid": self.stale_pid, "worker": self.worker, "queue": self.queue,
            "database": self.database or None,
        }  # fmt: skip


def status(cfg: Config, application_name: str = CLI) -> Status:
    path = pidfile.path(cfg.state_dir)
    found = Status(path, pidfile.running(path), stale_pid=pidfile.remove_stale(path))
    try:
        with running_database(cfg, application_name) as conn:
            if conn is None:
                found.database = embedded.absent(cfg.state_dir)
                return found
            try:
                found.queue = report.queue(conn).as_dict()
                if found.pid is not None:
                    found.worker = report.worker_of_pid(conn, host_key(), found.pid)
            except schema.MISSING as e:
                schema.explain(conn, e)
                raise
    except DatabaseError as e:
        found.database = str(e)
    except psycopg2.Error as e:
        found.database = f"database: {describe(e)} (`jobsup db check` says what is missing)"
    return found


@dataclass
class Stopped:
    pid: int
    seconds: float
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> status after the stop
    # Why its jobs were not counted (this command's database is not the supervisor's).
    uncounted: str = ""

    def count(self, *statuses: str) -> int | None:
        if self.uncounted:
            return None
        return sum(1 for s in self.jobs.values() if s in statuses)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid, "seconds": round(self.seconds, 1), "jobs": self.jobs,
            "finished": self.count("completed", "failed", "cancelled"),
            "returned": self.count("pending"), "uncounted": self.uncounted or None,
        }  # fmt: skip


def stop(
    cfg: Config, now: bool, timeout: float | None, application_name: str = CLI
) -> Stopped | None:
    """Signal the supervisor of this state directory and wait for it to exit.

    None when none runs. The jobs it held when signalled are looked up again afterwards:
    finished during the drain, or returned to pending.
    """
    path = pidfile.path(cfg.state_dir)
    pid = pidfile.running(path)
    if pid is None:
        pidfile.remove_stale(path)
        return None
    uncounted = _elsewhere(cfg, path)
    held = [] if uncounted else _held_jobs(cfg, pid, application_name)
    sup = cfg.supervisor
    wait = timeout if timeout is not None else sup.kill_timeout + STOP_MARGIN
    if timeout is None and not now:
        wait += sup.drain_timeout
    began = time.monotonic()
    try:
        os.kill(pid, signal.SIGQUIT if now else signal.SIGTERM)
    except ProcessLookupError:
        pass  # it exited on its own meanwhile
    except PermissionError:
        raise JobsupError(
            f"cannot signal supervisor pid {pid}: permission denied "
            "(run `jobsup stop` as the user that started it)"
        ) from None
    if not _wait_exit(pid, began + wait):
        raise JobsupError(
            f"supervisor pid {pid} still runs after {wait:g} s: "
            + ("see its log" if now else "`jobsup stop --now` stops it at once")
        )
    jobs = _statuses(cfg, held, application_name)
    return Stopped(pid, time.monotonic() - began, jobs, uncounted)


def _elsewhere(cfg: Config, path: Path) -> str:
    """Why this command cannot count the jobs of the supervisor `path` names ("" when it
    can): the database that supervisor noted it uses is not this command's."""
    theirs = pidfile.database(path)
    url = cfg.database.url or embedded.running_url(cfg.state_dir)
    mine = mask_url(url) if url else None
    if theirs is not None and theirs == mine:
        return ""
    uses = f"it uses {theirs}" if theirs else f"it noted no database in {path.parent}"
    here = f"this command {mine}" if mine else "this command none"
    return f"{uses}, {here} (run `jobsup stop` with the supervisor's DATABASE_URL to count them)"


def _wait_exit(pid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(POLL)
    return False


def _held_jobs(cfg: Config, pid: int, application_name: str) -> list[str]:
    try:
        with running_database(cfg, application_name) as conn:
            worker = report.worker_of_pid(conn, host_key(), pid) if conn else None
            return report.held_jobs(conn, worker["id"]) if conn and worker else []
    except (DatabaseError, psycopg2.Error):
        return []  # stopping it matters more than counting its jobs


def _statuses(cfg: Config, job_ids: list[str], application_name: str) -> dict[str, str]:
    if not job_ids:
        return {}
    try:
        with running_database(cfg, application_name) as conn:
            return job_admin.statuses(conn, job_ids) if conn else {}
    except (DatabaseError, psycopg2.Error):
        return {}


def database_users(cfg: Config) -> list[str]:
    """`host pid N` of every live supervisor registered in the database (all of them on this
    host for the embedded one, which listens on a local socket only): a row not stopped
    whose process is alive here, or, elsewhere, whose heartbeat is fresh."""
    try:
        with running_database(cfg) as conn:
            workers = report.workers(conn, cfg.supervisor.stale_after) if conn else []
    except (DatabaseError, psycopg2.Error):
        return []  # no schema yet, or no server: nobody uses it
    here = socket.gethostname()
    return [
        f"{w['host']} pid {w['pid']}"
        for w in workers
        if w["recorded_state"] in ("running", "draining")
        and (psutil.pid_exists(w["pid"]) if w["host"] == here else w["state"] != "dead")
    ]
