"""Batches: jobs enqueued together, and a job to run once they have all ended.

    from supervisor.api import enqueue_batch

    with conn:
        batch = enqueue_batch(conn, jobs=[{"file_path": p} for p in uploads],
                              then={"job_type": "analysis.report"})

The `then` job waits for every job of the batch with `on_parent_failure = "run"`: it runs
once they have all ended, however each ended, and gets them in `Job.parents` (ids,
statuses, insights). `wait(conn, batch.id)` waits for the whole batch and returns the
then-job's result; `wait_all(conn, [batch.id])` every job's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supervisor.client import appconn
from supervisor.client.enqueue import NewJob, check_many, insert_checked
from supervisor.db.queries import load

SQL = load("api.sql")


@dataclass(frozen=True)
class Batch:
    id: str
    job_ids: list[str]  # the batch's jobs, in the order given
    then_id: str | None  # the job run once they have all ended (None: none given)


def enqueue_batch(
    conn: Any,
    jobs: Iterable[NewJob | Mapping[str, Any]],
    then: NewJob | Mapping[str, Any] | None = None,
) -> Batch:
    """A new batch of `jobs` (as `enqueue_many` takes them) and its `then` job (as one
    more; its `after` and `on_parent_failure` are the batch's), in the caller's
    transaction: all of them, or none."""
    listed = [dict(job) for job in jobs]
    if not listed:
        raise ValueError("enqueue_batch: a batch needs at least one job")
    if then is not None:
        if "after" in then or "on_parent_failure" in then:
            raise ValueError("enqueue_batch: then: its parents are the batch's jobs "
                             "(no after, no on_parent_failure)")  # fmt: skip
        listed.append({**then, "after": list(range(len(listed))), "on_parent_failure": "run"})
    checked = check_many(listed)
    batch_id = str(uuid.uuid4())
    for job in checked:
        job["batch_id"] = batch_id
    found = insert_checked(conn, checked)
    ids = [e.job_id for e in found]
    then_id = ids.pop() if then is not None else None
    with conn.cursor() as cur:
        cur.execute(SQL["insert_batch"], {"id": batch_id, "then_id": then_id})
    return Batch(batch_id, ids, then_id)


def jobs_of(conn: Any, ids: list[str]) -> dict[str, list[str]]:
    """For each of `ids` that is a batch: its jobs, then its then-job last."""
    found: dict[str, list[str]] = {}
    with conn.cursor() as cur:
        cur.execute(SQL["batch_jobs"], {"ids": ids})
        for row in appconn.fetch(cur):
            found.setdefault(row["batch_id"], []).append(row["job_id"])
    return found


def then_of(conn: Any, batch_id: str) -> tuple[bool, str | None]:
    """Whether `batch_id` is a batch, and its then-job (None: none)."""
    with conn.cursor() as cur:
        cur.execute(SQL["batch_then"], {"id": batch_id})
        rows = appconn.fetch(cur)
    return (True, rows[0]["then_id"]) if rows else (False, None)
