"""The claim's statements against a real PostgreSQL: what they take, when the next job falls
due, and that they stay on their indexes however many rows lie around the runnable ones."""

from __future__ import annotations

from supervisor import store
from supervisor.db import Connection

WORKER = "00000000-0000-4000-8000-000000000001"


def _add(conn: Connection, job_type: str, count: int = 1, *, priority: int = 0,
         run_at: str = "now()") -> None:  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, priority, run_at) "
            f"SELECT %s, %s, {run_at} FROM generate_series(1, %s)",  # nosec B608  # test constants
            (job_type, priority, count),
        )


def test_an_empty_queue_has_nothing_due(conn: Connection) -> None:
    assert store.next_due(conn, ["diag.noop"]) is None
    assert store.next_due(conn, None) is None
    _add(conn, "other")  # pending, but not of a type served
    assert store.next_due(conn, ["diag.noop"]) is None
    _add(conn, "diag.noop", run_at="now() + interval '1 hour'")
    assert 3500 < (store.next_due(conn, ["diag.noop"]) or 0) <= 3600
