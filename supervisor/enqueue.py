"""Enqueue a job: the one function applications call, on a connection they own.

    from supervisor.enqueue import enqueue

    with conn:                      # the caller's transaction
        job_id = enqueue(conn, "/data/uploads/sales.csv", description="Why are sales down?")

Nothing is committed here: the job becomes visible (and wakes the supervisors) when the
caller commits. With `unique_key=`, a job not yet finished under the same key is returned
instead of a new one (the key is free again once that job has ended).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supervisor.db import Connection
from supervisor.errors import DatabaseError

INSERT_FILE = """
INSERT INTO files (file_path, original_name) VALUES (%(path)s, %(name)s) RETURNING id
"""

INSERT_JOB = """
INSERT INTO processing_jobs
    (file_id, business_description, job_type, priority, metadata, run_at)
VALUES
    (%(file_id)s, %(description)s, %(job_type)s, %(priority)s, %(metadata)s,
     coalesce(%(run_at)s, now()) + make_interval(secs => %(delay)s))
RETURNING id
"""

# The unfinished job holding the key, or a new one (with its file) when there is none. Two
# callers at once: ON CONFLICT waits for the other's insert; the one that finds neither a
# job nor room (the other's job committed after this statement began) asks again.
# Index: jobsup_jobs_unique (unique_key) WHERE unique_key IS NOT NULL AND status unfinished.
INSERT_UNIQUE_JOB = """
WITH existing AS (
    SELECT id FROM processing_jobs
    WHERE unique_key = %(unique_key)s AND status IN ('pending', 'processing')
), file AS (
    INSERT INTO files (file_path, original_name)
    SELECT %(path)s::text, %(name)s WHERE %(path)s::text IS NOT NULL
                                      AND NOT EXISTS (SELECT 1 FROM existing)
    RETURNING id
), created AS (
    INSERT INTO processing_jobs
        (file_id, business_description, job_type, priority, metadata, run_at, unique_key)
    SELECT (SELECT id FROM file), %(description)s, %(job_type)s, %(priority)s, %(metadata)s,
           coalesce(%(run_at)s, now()) + make_interval(secs => %(delay)s), %(unique_key)s
    WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
    DO NOTHING
    RETURNING id
)
SELECT id, true FROM created UNION ALL SELECT id, false FROM existing
"""
UNIQUE_TRIES = 5


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    created: bool  # False: an unfinished job held the unique key; `job_id` is that job's


def enqueue(
    conn: Connection,
    file_path: str | None = None,
    *,
    description: str | None = None,
    job_type: str = "analysis",
    priority: int = 0,
    metadata: Mapping[str, Any] | None = None,
    run_at: datetime | None = None,
    delay: float = 0.0,
    original_name: str | None = None,
    unique_key: str | None = None,
) -> str:
    """The id of a new pending job, with its file registered in `files` when one is given;
    with `unique_key`, the id of the unfinished job holding that key if there is one.

    `run_at` (timezone-aware, or local time) and `delay` (seconds) postpone the first run;
    higher `priority` runs first.
    """
    return enqueue_job(conn, file_path, description=description, job_type=job_type,
                       priority=priority, metadata=metadata, run_at=run_at, delay=delay,
                       original_name=original_name, unique_key=unique_key).job_id  # fmt: skip


def enqueue_job(
    conn: Connection,
    file_path: str | None = None,
    *,
    description: str | None = None,
    job_type: str = "analysis",
    priority: int = 0,
    metadata: Mapping[str, Any] | None = None,
    run_at: datetime | None = None,
    delay: float = 0.0,
    original_name: str | None = None,
    unique_key: str | None = None,
) -> Enqueued:
    """As `enqueue`, saying also whether the job is a new one."""
    params = {
        "path": file_path,
        "name": original_name,
        "description": description,
        "job_type": job_type,
        "priority": priority,
        "metadata": json.dumps(dict(metadata)) if metadata is not None else None,
        "run_at": _aware(run_at),
        "delay": delay,
        "unique_key": unique_key,
    }
    if unique_key is not None:
        return _enqueue_unique(conn, params)
    with conn.cursor() as cur:
        file_id = None
        if file_path is not None:
            cur.execute(INSERT_FILE, params)
            (file_id,) = _one(cur)
        cur.execute(INSERT_JOB, {**params, "file_id": file_id})
        (job_id,) = _one(cur)
    return Enqueued(str(job_id), True)


def _enqueue_unique(conn: Connection, params: dict[str, Any]) -> Enqueued:
    with conn.cursor() as cur:
        for _ in range(UNIQUE_TRIES):
            cur.execute(INSERT_UNIQUE_JOB, params)
            row = cur.fetchone()
            if row is not None:
                return Enqueued(str(row[0]), bool(row[1]))
    raise DatabaseError(
        f"unique key {params['unique_key']!r}: its job kept changing while enqueuing; try again"
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.astimezone()  # a naive time is the local time of the caller


def _one(cur: Any) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None, "INSERT … RETURNING returned no row"  # nosec B101  # a bug if not
    return tuple(row)
