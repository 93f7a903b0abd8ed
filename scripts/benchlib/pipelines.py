"""The `pipelines` scenario's queues: a fan-out/fan-in, a chain, and as many independent jobs.

Each is filled as `enqueue_many` would leave it (edges in jobsup_edges, each child's count
of unfinished parents), in one statement, so that the figures are the supervisor's:
claiming, running, and unblocking each child in the write-back that ends its parent.
"""

from __future__ import annotations

from supervisor.db.connect import Connection

from .fill import SERVED


def fan_in(conn: Connection, count: int) -> None:
    """`count` jobs: `count - 1` independent ones, and one that waits for all of them."""
    with conn.cursor() as cur:
        cur.execute(
            "WITH parents AS (INSERT INTO processing_jobs (job_type) "
            "SELECT %(type)s FROM generate_series(1, %(n)s) RETURNING id), "
            "child AS (INSERT INTO processing_jobs (job_type, parents_left) "
            "VALUES (%(type)s, %(n)s) RETURNING id) "
            "INSERT INTO jobsup_edges (parent, child, on_parent_failure) "
            "SELECT parents.id, child.id, 'run' FROM parents, child",
            {"type": SERVED, "n": count - 1},
        )


def chain(conn: Connection, count: int) -> None:
    """`count` jobs, each waiting for the one before."""
    with conn.cursor() as cur:
        cur.execute(
            "WITH links AS (SELECT n, gen_random_uuid() AS id FROM generate_series(1, %(n)s) n), "
            "jobs AS (INSERT INTO processing_jobs (id, job_type, parents_left) "
            "SELECT id, %(type)s, CASE WHEN n = 1 THEN 0 ELSE 1 END FROM links) "
            "INSERT INTO jobsup_edges (parent, child) "
            "SELECT a.id, b.id FROM links a JOIN links b ON b.n = a.n + 1",
            {"type": SERVED, "n": count},
        )
