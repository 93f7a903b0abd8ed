"""Deleting finished jobs, with their insights, in small batches: `jobsup jobs prune` by
hand, and the retention policy (`[retention]`) from the supervisors' upkeep, one at a time.

`files` rows are left alone, as `jobs prune` always did: a file may be named by other jobs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from psycopg2.extensions import cursor as Cursor

from supervisor.db import queries
from supervisor.db.connect import Connection, transaction

SQL = queries.load("admin.sql")

# pg_try_advisory_xact_lock key of the retention policy's batches ("prun"): its own key
# beside the migration lock's and the caps' (config.model.CAP_LOCK).
RETENTION_LOCK = 0x7072756E


@dataclass
class Batch:
    jobs: int = 0
    insights: int = 0


def delete_batch(cur: Cursor, statuses: Sequence[str], older_than: float, batch: int) -> Batch:
    """Delete up to `batch` jobs of `statuses` that ended over `older_than` seconds ago, oldest
    first, skipping rows someone else is writing, with their insights (in the caller's
    transaction)."""
    params = {"statuses": list(statuses), "older_than": older_than, "batch": batch}
    cur.execute(SQL["prune_batch"], params)
    ids = [str(job_id) for (job_id,) in cur.fetchall()]
    if not ids:
        return Batch()
    cur.execute(SQL["prune_insights"], {"ids": ids})
    insights = cur.rowcount
    cur.execute(SQL["prune_jobs"], {"ids": ids})
    return Batch(cur.rowcount, insights)


@dataclass
class Retained:
    """What one turn of the retention policy did."""

    jobs: dict[str, int] = field(default_factory=dict)  # status: jobs deleted
    insights: int = 0
    batches: int = 0
    busy: bool = False  # another supervisor was pruning: nothing done
    more: bool = False  # the time budget ran out with jobs left to prune

    @property
    def deleted(self) -> int:
        return sum(self.jobs.values())


def apply(conn: Connection, ages: Mapping[str, float], batch: int, budget: float) -> Retained:
    """Prune by the retention policy (`ages`: status: seconds kept after its end) for at most
    about `budget` seconds: one transaction per batch, each under the retention lock, so
    that one supervisor prunes at a time and a claim waits one batch at most."""
    done = Retained()
    deadline = time.monotonic() + budget
    for status, older_than in ages.items():
        while True:
            if time.monotonic() >= deadline:
                done.more = True
                return done
            with transaction(conn), conn.cursor() as cur:
                cur.execute(SQL["retention_lock"], {"key": RETENTION_LOCK})
                row = cur.fetchone()
                if row is None or not row[0]:
                    done.busy = True
                    return done
                deleted = delete_batch(cur, [status], older_than, batch)
            if not deleted.jobs:
                break
            done.batches += 1
            done.jobs[status] = done.jobs.get(status, 0) + deleted.jobs
            done.insights += deleted.insights
            if deleted.jobs < batch:
                break
    return done
