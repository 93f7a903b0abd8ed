"""Enqueue a job: the one function applications call, on a connection they own.

    from supervisor.enqueue import enqueue

    with conn:                      # the caller's transaction
        job_id = enqueue(conn, "/data/uploads/sales.csv", description="Why are sales down?")

Nothing is committed here: the job becomes visible (and wakes the supervisors) when the
caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from supervisor.db import Connection

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
) -> str:
    """The id of a new pending job, with its file registered in `files` when one is given.

    `run_at` (timezone-aware, or local time) and `delay` (seconds) postpone the first run;
    higher `priority` runs first.
    """
    with conn.cursor() as cur:
        file_id = None
        if file_path is not None:
            cur.execute(INSERT_FILE, {"path": file_path, "name": original_name})
            (file_id,) = _one(cur)
        cur.execute(
            INSERT_JOB,
            {
                "file_id": file_id,
                "description": description,
                "job_type": job_type,
                "priority": priority,
                "metadata": json.dumps(dict(metadata)) if metadata is not None else None,
                "run_at": _aware(run_at),
                "delay": delay,
            },
        )
        (job_id,) = _one(cur)
    return str(job_id)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.astimezone()  # a naive time is the local time of the caller


def _one(cur: Any) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None, "INSERT … RETURNING returned no row"  # nosec B101  # a bug if not
    return tuple(row)
