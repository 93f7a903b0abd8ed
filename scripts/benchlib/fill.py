"""Filling the queue for the benchmark: the jobs to run, and a million rows around them.

A million rows go in at about 200,000 a second with the table's secondary indexes dropped
and rebuilt after (a random-uuid primary key and seven indexes kept up row by row take four
times as long), ids in order (background rows only: their version nibble is 0, so they can
never equal a gen_random_uuid()), and no wake-up trigger (nobody listens yet).
"""

from __future__ import annotations

from typing import Any

from supervisor.db.connect import Connection
from supervisor.store import history

SERVED = "diag.noop"
OTHER = "bench.other"  # a type the benchmark's supervisor does not serve
DONE = "bench.done"  # finished rows left in the table

# Background rows, each kind before the served jobs in the claim index's order (same
# priority, earlier run_at), or of higher priority: the worst place for them to be.
BACKGROUND = {
    "pending": f"SELECT '{SERVED}', 'pending', 0, now(), NULL::timestamptz",
    "completed": f"SELECT '{DONE}', 'completed', 0, now(), now()",
    "other_type": f"SELECT '{OTHER}', 'pending', 0, now(), NULL::timestamptz",
    "scheduled": f"SELECT '{SERVED}', 'pending', 10, now() + interval '1 day', NULL::timestamptz",
}


def reset(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")


def background(conn: Connection, kind: str, rows: int) -> None:
    """`rows` rows of `kind` (a key of BACKGROUND) into an empty table."""
    if rows <= 0:
        return
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'processing_jobs' AND indexname <> 'processing_jobs_pkey'"
        )
        indexes = cur.fetchall()
        cur.execute("ALTER TABLE processing_jobs DISABLE TRIGGER USER")
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        select = BACKGROUND[kind].replace("SELECT ", "SELECT lpad(to_hex(n), 32, '0')::uuid, ", 1)
        cur.execute(
            "INSERT INTO processing_jobs (id, job_type, status, priority, run_at, completed_at) "
            f"{select} FROM generate_series(1, %s) AS n",  # nosec B608  # our own constants
            (rows,),
        )
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("ALTER TABLE processing_jobs ENABLE TRIGGER USER")
    history.rebuild(conn)  # the rollup's triggers were off: counted afresh


def jobs(conn: Connection, count: int, job_type: str = SERVED, metadata: Any = None) -> None:
    """`count` jobs to run, as an application enqueues them (random ids, triggers on)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, metadata) "
            "SELECT %s, %s::jsonb FROM generate_series(1, %s)",
            (job_type, metadata, count),
        )


def settle(conn: Connection) -> None:
    """What autovacuum would have done by the time a queue this size is worked on."""
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE processing_jobs")
        cur.execute("VACUUM ANALYZE insights")
