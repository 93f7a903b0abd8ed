"""Job administration: list, show, retry, cancel, reclaim and prune (`jobsup jobs …`).

Each function takes a connection and returns plain data; the SQL is in `sql/admin.sql`.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loguru import logger

from supervisor.db import queries
from supervisor.db.connect import Connection, dict_cursor, transaction
from supervisor.errors import JobsupError
from supervisor.identity import Identity
from supervisor.store import retention
from supervisor.store import statements as store

SQL = queries.load("admin.sql")

# `jobs show` prints these first, in this order; any other column follows.
FIELDS = (
    ("job_type", "type"), ("status", "status"), ("priority", "priority"),
    ("retry_count", "retries"), ("business_description", "description"),
    ("metadata", "metadata"), ("created_at", "created"), ("run_at", "run at"),
    ("started_at", "started"), ("completed_at", "completed"), ("updated_at", "updated"),
    ("worker_id", "worker"), ("runner_pid", "runner pid"), ("file_id", "file id"),
)  # fmt: skip
# Shown in sections or rows of their own.
SHOWN_ELSEWHERE = {
    "id", "attempts", "error_message", "file_path", "original_name", "worker_host",
    "worker_pid", "worker_state", "insights_count", "more_files", "more_file_ids",
    "progress", "steps",
}  # fmt: skip
SHORT = 300  # characters of a long field `jobs show` prints without --details

FINISHED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    job_type: str | None = None
    since: float | None = None  # seconds back from now
    limit: int = 50
    text: str | None = None  # in the business description, case-insensitive
    after: tuple[datetime, str] | None = None  # (created_at, id) of the previous page's last
    blocked: bool = False  # only pending jobs waiting for parents (jobsup_edges)


FULL_ID = 36  # characters of a UUID's text


def resolve(conn: Connection, job_ids: Sequence[str]) -> list[str]:
    """`job_ids` with each prefix (`1f64f4c9`, `1f64f4c9-48`) replaced by the one job it
    names; JobsupError in one line when a prefix names none or several."""
    return [job_id if len(job_id) == FULL_ID else _resolve(conn, job_id) for job_id in job_ids]


def _resolve(conn: Connection, prefix: str) -> str:
    digits = prefix.replace("-", "")
    bounds = {"low": digits.ljust(32, "0"), "high": digits.ljust(32, "f")}
    with conn.cursor() as cur:
        cur.execute(SQL["ids_in_range"], bounds)
        found: list[str] = [job_id for (job_id,) in cur.fetchall()]
    if not found:
        raise JobsupError(f"no job id starts with {prefix}: `jobsup jobs list` shows the ids")
    if len(found) > 1:
        more = ", …" if len(found) > 2 else ""
        raise JobsupError(
            f"job id prefix {prefix} is ambiguous: {found[0]}, {found[1]}{more}; "
            "give more of the id"
        )
    return found[0]


def enqueued(conn: Connection, job_id: str) -> dict[str, Any]:
    """The id, type, priority and run_at of a job just enqueued."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["enqueued"], {"id": job_id})
        row = cur.fetchone()
    assert row is not None, job_id  # nosec B101  # inserted in this transaction
    return dict(row)


# A text search reads this many of the newest jobs in order; if they hold no full page, the
# older ones are searched through the trigram index (see search_older in admin.sql).
SEARCH_WINDOW = 5_000


def list_jobs(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """The newest jobs that pass `filters` (after `filters.after`, when it is set).

    Without words to search: one backward read of the created_at index. With words: the
    newest SEARCH_WINDOW jobs so read (common words fill a page there), and for the rest of
    the page, the older matches through the trigram index (rare words, or words and filters
    that seldom match together, which a backward read would pass the whole table for)."""
    params = list_params(filters)
    if not filters.text:
        return _rows(conn, "list_jobs", params)
    _say_if_search_reads_the_table(conn)
    with conn.cursor() as cur:
        cur.execute(SQL["window_end"], {**params, "window": SEARCH_WINDOW})
        end = cur.fetchone()
    if end is None:  # fewer jobs than the window: one read covers them all
        return _rows(conn, "list_jobs", params)
    end_at, end_id = end
    newest = _rows(conn, "list_window", {**params, "window": SEARCH_WINDOW})
    if len(newest) >= filters.limit:
        return newest
    older = {**params, "after_at": end_at, "after_id": end_id, "limit": filters.limit - len(newest)}
    return newest + _rows(conn, "search_older", older)


def _rows(conn: Connection, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with dict_cursor(conn) as cur:
        cur.execute(SQL[statement], params)
        return [dict(row) for row in cur.fetchall()]


def list_params(filters: Filters) -> dict[str, Any]:
    """The parameters of the list_jobs statement for `filters`."""
    after_at, after_id = filters.after or (None, None)
    return {
        "status": filters.status,
        "blocked": filters.blocked,
        "job_type": filters.job_type,
        "since": filters.since,
        "limit": filters.limit,
        "text": f"%{_like_escaped(filters.text)}%" if filters.text else None,
        "after_at": after_at,
        "after_id": after_id,
    }


_searched: list[bool] = []  # whether the trigram index was looked for (once a process)


def _say_if_search_reads_the_table(conn: Connection) -> None:
    """A text search without the trigram index of migration 0014 reads the whole table:
    said once a process, with the fix (pg_trgm could not be created when migrating)."""
    if _searched:
        return
    _searched.append(True)
    with conn.cursor() as cur:
        cur.execute(SQL["search_index"])
        row = cur.fetchone()
    if row is None or not row[0]:
        logger.warning(
            "text search reads the whole table: no trigram index (pg_trgm could not be created "
            "when migrating); as a superuser: CREATE EXTENSION pg_trgm; CREATE INDEX "
            "jobsup_jobs_description_trgm ON processing_jobs USING gin "
            "(business_description gin_trgm_ops)"
        )


def _like_escaped(text: str) -> str:
    """`text` to match literally inside a LIKE pattern (backslash is LIKE's escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def show_job(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """Every column of the job, its file, owner and insight count; None when there is none."""
    with dict_cursor(conn) as cur:
        cur.execute(SQL["show_job"], {"id": job_id})
        row = cur.fetchone()
    if row is None:
        return None
    job: dict[str, Any] = dict(row.pop("job"))
    return job | dict(row)


def job_insights(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    with dict_cursor(conn) as cur:
        cur.execute(SQL["job_insights"], {"id": job_id})
        return [dict(row) for row in cur.fetchall()]


def statuses(conn: Connection, job_ids: Sequence[str]) -> dict[str, str]:
    """The status of each of `job_ids` that exists."""
    with conn.cursor() as cur:
        cur.execute(SQL["statuses"], {"ids": list(job_ids)})
        return dict(cur.fetchall())


@dataclass(frozen=True)
class Change:
    """What one command did to one job."""

    id: str
    was: str | None  # the status before; None: no such job
    now: str | None  # the status after; None: left alone
    note: str = ""

    def describe(self, verb: str) -> str:
        """`retried <id> (was failed)`, or why not: `not retried <id>: it is completed`."""
        if self.now is not None:
            return f"{verb} {self.id} (was {self.was}{'; ' + self.note if self.note else ''})"
        return f"not {verb} {self.id}: {f'it is {self.was}' if self.was else 'no such job'}"


def _unchanged(conn: Connection, job_ids: Sequence[str], done: set[str]) -> list[Change]:
    """A Change for each of `job_ids` not in `done`, saying what it is instead."""
    rest = [job_id for job_id in job_ids if job_id not in done]
    found = statuses(conn, rest) if rest else {}
    return [Change(job_id, found.get(job_id), None) for job_id in dict.fromkeys(rest)]


def retry(
    conn: Connection, job_ids: Sequence[str], all_failed: bool = False, fresh: bool = False
) -> list[Change]:
    """Put failed or cancelled jobs back to pending with a fresh count of attempts; `fresh`
    forgets their durable steps' results too (the next run does every step again)."""
    params = {"ids": list(job_ids), "all_failed": all_failed, "fresh": fresh}
    with transaction(conn), conn.cursor() as cur:
        cur.execute(SQL["retry"], params)
        changed = [Change(job_id, was, "pending") for job_id, was in cur.fetchall()]
    return changed + _unchanged(conn, job_ids, {c.id for c in changed})


def cancel(conn: Connection, job_ids: Sequence[str], why: str | None = None) -> list[Change]:
    """Cancel pending and running jobs; a running one's owner kills its runner. `why` is the
    error message recorded (by default: who ran `jobsup jobs cancel`, where)."""
    why = why or f"cancelled by {getpass.getuser()}@{socket.gethostname()} (jobsup jobs cancel)"
    with transaction(conn), conn.cursor() as cur:
        cur.execute(SQL["cancel"], {"ids": list(job_ids), "why": why})
        changed = [
            Change(job_id, was, "cancelled", _killed(host, pid, runner_pid))
            for job_id, was, host, pid, runner_pid in cur.fetchall()
        ]
    return changed + _unchanged(conn, job_ids, {c.id for c in changed})


def _killed(host: str | None, supervisor_pid: int | None, runner_pid: int | None) -> str:
    """Who kills the runner of a cancelled job ('' for a job no supervisor held)."""
    if host is None:
        return ""
    # The supervisor records a runner's pid with its next heartbeat: a runner that has just
    # started has none yet.
    runner = f"pid {runner_pid}" if runner_pid else "pid not recorded yet"
    return f"runner on {host}, {runner}, is killed by its supervisor, pid {supervisor_pid}"


@dataclass(frozen=True)
class Reclaim:
    dead: list[str]  # "host pid N declared dead: what was observed", per supervisor
    jobs: list[Change]


def reclaim(conn: Connection, stale_after: float, orphan_after: float, max_retries: int) -> Reclaim:
    """Jobs whose supervisor is dead (or that have had no owner for `orphan_after` seconds).

    The same statements a running supervisor uses: a job held by a live supervisor (fresh
    heartbeat, or a live pid on this host) is never touched.
    """
    found = store.reclaim(conn, Identity.new(), stale_after, orphan_after, max_retries)
    return Reclaim(
        dead=[f"{host} pid {pid} declared dead: {why}" for _, host, pid, why in found.dead_workers],
        # (id, new status, error, …): indexed, so a column added to the statement is no break
        jobs=[Change(job[0], "processing", job[1], job[2]) for job in found.jobs],
    )


@dataclass
class Pruned:
    jobs: int = 0
    insights: int = 0
    batches: int = 0


def prune(
    conn: Connection, older_than: float, statuses: Sequence[str], batch: int = 1000
) -> Pruned:
    """Delete finished jobs (and their insights) that ended over `older_than` seconds ago.

    One transaction per batch of `batch` jobs, so no lock is held for long.
    """
    pruned = Pruned()
    while True:
        with transaction(conn), conn.cursor() as cur:
            deleted = retention.delete_batch(cur, statuses, older_than, batch)
        if not deleted.jobs:
            return pruned
        pruned.jobs += deleted.jobs
        pruned.insights += deleted.insights
        pruned.batches += 1
