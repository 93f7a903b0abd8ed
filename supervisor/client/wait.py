"""Waiting for jobs to finish, and what they found: `wait()` and `jobsup jobs wait`.

A job is finished in `completed`, `failed` or `cancelled` (a retry is `pending` again: not
finished). The trigger of migration 0007 sends `NOTIFY jobsup_finished, '<job id>'` when a
job reaches one of them, from whatever ends it (the write-back, reclaim, `jobs cancel`, an
UPDATE by hand), as the transaction commits. A waiter LISTENs, then reads the jobs, then
sleeps until a notification names one of its jobs, re-reading them every `poll` seconds in
case a notification cannot arrive (behind a transaction-pooling proxy). With `on_progress`,
it re-reads every PROGRESS_POLL seconds (progress is written at most once a second, without
a notification) and calls it with each new value it sees, the last one included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervisor.client import appconn, batch
from supervisor.db.queries import load
from supervisor.errors import JobsupError

SQL = load("api.sql")
CHANNEL = "jobsup_finished"
FINAL = ("completed", "failed", "cancelled")
POLL = 2.0  # seconds between reads when no notification comes
PROGRESS_POLL = 0.5  # the same with on_progress


@dataclass(frozen=True)
class Progress:
    """How far a job is, as its handler last reported (`job.progress`)."""

    job_id: str
    done: float
    total: float | None
    note: str
    at: str | None  # when it was stored (ISO 8601)

    @property
    def fraction(self) -> float | None:
        """done / total in [0, 1]; None when the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


@dataclass(frozen=True)
class JobResult:
    """A finished job: its final status, its last error, and its insights as written."""

    id: str
    status: str  # completed | failed | cancelled
    error: str | None
    insights: list[dict[str, Any]] = field(default_factory=list)
    retry_count: int = 0
    completed_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"


class WaitTimeout(JobsupError, TimeoutError):
    """The jobs were not all finished when the timeout ran out. `pending` maps each
    unfinished job to its status then; `finished` holds the results of the others."""

    exit_code = 3

    def __init__(self, timeout: float, pending: dict[str, str], finished: list[JobResult]):
        shown = ", ".join(f"{job_id} ({status})" for job_id, status in pending.items())
        super().__init__(f"not finished after {timeout:g} s: {shown}")
        self.timeout, self.pending, self.finished = timeout, pending, finished


class UnknownJob(JobsupError, LookupError):
    """A job id names no job (never enqueued, or pruned)."""


OnProgress = Callable[[Progress], Any]


def wait(
    conn: Any,
    job_id: str,
    timeout: float | None = None,
    *,
    poll: float = POLL,
    on_progress: OnProgress | None = None,
) -> JobResult:
    """The job's final status, error and insights, once it has finished.

    `conn` is the application's connection (psycopg2 or psycopg 3), outside a transaction
    (commit the enqueue first); it LISTENs on jobsup_finished while it waits. WaitTimeout
    (a TimeoutError) after `timeout` seconds (None: no limit); UnknownJob when no job has
    that id. A batch id (`enqueue_batch`) waits for all the batch's jobs and its then-job,
    and returns the then-job's result. `on_progress` is called with each new `Progress`
    the job (or the batch's jobs) reports.
    """
    _outside_a_transaction(conn)
    with appconn.listening(conn, CHANNEL):  # autocommit: the look-up opens no transaction
        is_batch, then_id = batch.then_of(conn, _uuid(job_id))
        if is_batch and then_id is None:
            raise JobsupError(f"batch {job_id} has no then-job: wait_all(conn, [{job_id!r}]) "
                              "gives each of its jobs' results")  # fmt: skip
        return wait_all(conn, [job_id], timeout, poll=poll, on_progress=on_progress)[-1]


def wait_all(
    conn: Any,
    job_ids: Iterable[str],
    timeout: float | None = None,
    *,
    poll: float = POLL,
    on_progress: OnProgress | None = None,
) -> list[JobResult]:
    """The results of `job_ids`, in their order, once all of them have finished (see wait);
    a batch id stands for its jobs, then its then-job."""
    ids = [_uuid(job_id) for job_id in job_ids]
    if on_progress is not None:
        poll = min(poll, PROGRESS_POLL)
    seen: dict[str, Any] = {}  # the progress last handed to on_progress, by job
    _outside_a_transaction(conn)
    deadline = None if timeout is None else time.monotonic() + timeout
    found: dict[str, JobResult] = {}
    with appconn.listening(conn, CHANNEL):  # first: no ending can fall between read and LISTEN
        batches = batch.jobs_of(conn, ids)
        ids = [member for i in ids for member in batches.get(i, [i])]
        statuses = _read(conn, ids, found, first=True, report=_reporter(on_progress, seen))
        while len(found) < len(set(ids)):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeout(timeout or 0.0, statuses, [found[i] for i in ids if i in found])
            _sleep(conn, set(ids) - set(found), poll if left is None else min(poll, left))
            statuses = _read(conn, ids, found, report=_reporter(on_progress, seen))
    return [found[job_id] for job_id in ids]


def _reporter(on_progress: OnProgress | None, seen: dict[str, Any]) -> Callable[[str, Any], None]:
    """What hands each new progress value to `on_progress` (nothing without one)."""

    def report(job_id: str, progress: Any) -> None:
        if on_progress is None or not isinstance(progress, dict) or seen.get(job_id) == progress:
            return
        seen[job_id] = progress
        done, total = progress.get("done"), progress.get("total")
        on_progress(Progress(job_id, done if isinstance(done, int | float) else 0.0,
                             total if isinstance(total, int | float) else None,
                             str(progress.get("note") or ""), progress.get("at")))  # fmt: skip

    return report


def _outside_a_transaction(conn: Any) -> None:
    if appconn.in_transaction(conn):
        raise JobsupError(
            "wait() needs a connection outside a transaction: commit (or roll back) first; "
            "a job enqueued in an open transaction is not visible to any supervisor"
        )


def _read(
    conn: Any,
    ids: Sequence[str],
    found: dict[str, JobResult],
    first: bool = False,
    report: Callable[[str, Any], None] = lambda job_id, progress: None,
) -> dict[str, str]:
    """Add the jobs of `ids` now finished to `found`; the status of the others."""
    todo = sorted(set(ids) - set(found))
    with conn.cursor() as cur:
        cur.execute(SQL["finished"], {"ids": todo})
        rows = {row["id"]: row for row in appconn.fetch(cur)}
    for job_id, row in rows.items():
        report(job_id, row.get("progress"))
    if first and len(rows) < len(todo):
        missing = next(job_id for job_id in ids if job_id not in rows)
        raise UnknownJob(f"no job {missing}: `jobsup jobs list` shows the ids")
    done = [row for row in rows.values() if row["status"] in FINAL]
    insights = _insights(conn, [row["id"] for row in done if row["status"] == "completed"])
    for row in done:
        found[row["id"]] = JobResult(
            id=row["id"], status=row["status"], error=row["error_message"],
            insights=insights.get(row["id"], []), retry_count=row["retry_count"],
            completed_at=row["completed_at"],
        )  # fmt: skip
    return {job_id: row["status"] for job_id, row in rows.items() if job_id not in found}


def _insights(conn: Any, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not ids:
        return {}
    by_job: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor() as cur:
        cur.execute(SQL["insights"], {"ids": ids})
        for row in appconn.fetch(cur):
            by_job.setdefault(row.pop("job_id"), []).append(row)
    return by_job


def _sleep(conn: Any, waiting: set[str], seconds: float) -> None:
    """Until a notification names a job of `waiting`, or `seconds` have passed."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if waiting.intersection(appconn.notifications(conn, CHANNEL, left)):
            return


def _uuid(job_id: str) -> str:
    try:
        return str(uuid.UUID(str(job_id)))
    except ValueError:
        raise ValueError(f"{job_id!r} is not a job id (a UUID)") from None
