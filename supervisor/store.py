"""The supervisor's database operations; the SQL itself is in `sql/queries.sql`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import Json

from supervisor import __version__
from supervisor.db import Connection
from supervisor.queries import SQL
from supervisor.worker import Identity


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    job_type: str
    business_description: str | None
    metadata: dict[str, Any]
    retry_count: int
    file_path: str | None
    has_file: bool
    priority: int = 0

    @property
    def attempt(self) -> int:
        return self.retry_count + 1


@dataclass(frozen=True)
class Outcome:
    """What to write for one finished attempt."""

    job_id: str
    status: str  # completed | failed | pending
    retry_count: int
    error: str | None = None
    keep_error: bool = False  # an interrupted attempt leaves the last error as it was
    delay: float = 0.0  # seconds until a 'pending' job may run again
    attempt: dict[str, Any] | None = None  # appended to processing_jobs.attempts
    insights: Sequence[dict[str, Any]] = field(default_factory=list)


def _types(job_types: Sequence[str] | None) -> dict[str, Any]:
    return {"all_types": job_types is None, "job_types": list(job_types or [])}


def claim(
    conn: Connection, worker_id: str, limit: int, job_types: Sequence[str] | None
) -> list[ClaimedJob]:
    """Up to `limit` jobs, now 'processing' and owned by `worker_id` (None: any job type)."""
    with conn.cursor() as cur:
        cur.execute(SQL["claim"], {"limit": limit, "worker_id": worker_id, **_types(job_types)})
        return [ClaimedJob(*row) for row in cur.fetchall()]


def next_due(conn: Connection, job_types: Sequence[str] | None) -> float | None:
    """Seconds until the earliest pending job falls due (<= 0: now; None: nothing pending)."""
    with conn.cursor() as cur:
        cur.execute(SQL["next_due"], _types(job_types))
        row = cur.fetchone()
    return None if row is None or row[0] is None else float(row[0].total_seconds())


def runnable_within(conn: Connection, seconds: float, job_types: Sequence[str] | None) -> bool:
    with conn.cursor() as cur:
        cur.execute(SQL["runnable_within"], {"seconds": seconds, **_types(job_types)})
        row = cur.fetchone()
    return bool(row and row[0])


def finish(conn: Connection, worker_id: str, outcomes: Sequence[Outcome]) -> set[str]:
    """Write `outcomes`, with the insights of completed jobs, in one statement.

    Only jobs this supervisor still owns are written; the ids written are returned.
    """
    insights = [(o.job_id, i) for o in outcomes if o.status == "completed" for i in o.insights]
    params = {
        "worker_id": worker_id,
        "ids": [o.job_id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "retry_counts": [o.retry_count for o in outcomes],
        "errors": [o.error for o in outcomes],
        "keep_errors": [o.keep_error for o in outcomes],
        "delays": [o.delay for o in outcomes],
        "attempts": [json.dumps(o.attempt) if o.attempt else None for o in outcomes],
        "insight_jobs": [job_id for job_id, _ in insights],
        "insight_types": [i["insight_type"] for _, i in insights],
        "insight_contents": [json.dumps(i["content"]) for _, i in insights],
        "insight_scores": [i["confidence_score"] for _, i in insights],
    }
    with conn.cursor() as cur:
        cur.execute(SQL["finish"], params)
        return {job_id for (job_id,) in cur.fetchall()}


def owned(conn: Connection, worker_id: str, job_ids: Sequence[str]) -> dict[str, str | None]:
    """For each of `job_ids` no longer this supervisor's to run: its status (None: deleted)."""
    with conn.cursor() as cur:
        cur.execute(SQL["owned"], {"worker_id": worker_id, "ids": list(job_ids)})
        rows = {job_id: (status, ours) for job_id, status, ours in cur.fetchall()}
    lost: dict[str, str | None] = {}
    for job_id in job_ids:
        status, ours = rows.get(job_id, (None, False))
        if not ours:
            lost[job_id] = status
    return lost


def set_runner_pids(conn: Connection, worker_id: str, pids: dict[str, int]) -> None:
    with conn.cursor() as cur:
        cur.execute(
            SQL["set_runner_pids"],
            {"worker_id": worker_id, "ids": list(pids), "pids": list(pids.values())},
        )


def release_unrun(conn: Connection, worker_id: str, known: Sequence[str]) -> list[str]:
    """Give back the jobs `worker_id` holds but does not know of (`known`: those it does)."""
    with conn.cursor() as cur:
        cur.execute(SQL["release_unrun"], {"worker_id": worker_id, "known": list(known)})
        return [job_id for (job_id,) in cur.fetchall()]


def register(
    conn: Connection, me: Identity, slots: int, job_types: Sequence[str] | None, config: str | None
) -> None:
    params = {
        **me.as_params(),
        "slots": slots,
        "job_types": list(job_types) if job_types is not None else None,
        "config_path": config,
        "version": __version__,
    }
    with conn.cursor() as cur:
        cur.execute(SQL["register"], params)


def heartbeat(
    conn: Connection, me: Identity, state: str, slots: int, runners: list[dict[str, Any]]
) -> bool:
    """Refresh this supervisor's row; False when the row is gone (register again)."""
    with conn.cursor() as cur:
        cur.execute(
            SQL["heartbeat"],
            {
                "id": me.id,
                "state": state,
                "slots": slots,
                "running": len(runners),
                "runners": Json(runners),
            },
        )
        return cur.fetchone() is not None


def deregister(conn: Connection, me: Identity) -> None:
    with conn.cursor() as cur:
        cur.execute(SQL["deregister"], {"id": me.id})


@dataclass(frozen=True)
class Reclaimed:
    dead_workers: list[tuple[str, str, int]]  # id, host, pid
    jobs: list[tuple[str, str, str, str]]  # id, new status, error_message, job type


def reclaim(
    conn: Connection, me: Identity, stale_after: float, orphan_after: float, max_retries: int
) -> Reclaimed:
    """Declare dead the supervisors that are, and take back the jobs they held."""
    with conn.cursor() as cur:
        cur.execute(SQL["same_host_workers"], {"host_key": me.host_key, "id": me.id})
        gone = [wid for wid, pid, started in cur.fetchall() if not me.sibling_alive(pid, started)]
        cur.execute(SQL["mark_dead"], {"stale_after": stale_after, "gone": gone})
        dead = [(wid, host, pid) for wid, host, pid in cur.fetchall()]
        cur.execute(SQL["reclaim"], {"orphan_after": orphan_after, "max_retries": max_retries})
        jobs = [(jid, status, error, job_type) for jid, status, error, job_type in cur.fetchall()]
        cur.execute(SQL["forget_workers"])
    return Reclaimed(dead, jobs)
