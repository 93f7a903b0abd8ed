"""The claim's statements against a real PostgreSQL: what they take, when the next job falls
due, and that they stay on their indexes however many rows lie around the runnable ones."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from supervisor.db.connect import Connection, connect
from supervisor.db.queries import SQL
from supervisor.store import statements as store

WORKER = "00000000-0000-4000-8000-000000000001"


@pytest.fixture(params=["planned each time", "prepared"])
def conn(request: pytest.FixtureRequest, conn: Connection) -> Iterator[Connection]:
    """Each test both ways: plain statements (any connection), and prepared as on the
    supervisor's connection (planned at each call while the table is small, once for any
    parameters when it is big enough: `store.plan_for_size`)."""
    if request.param == "prepared":
        store.prepare(conn)
    yield conn


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
    assert store.next_due(conn, []) is None
    _add(conn, "other")  # pending, but not of a type served
    assert store.next_due(conn, ["diag.noop"]) is None
    _add(conn, "diag.noop", run_at="now() + interval '1 hour'")
    assert 3500 < (store.next_due(conn, ["diag.noop"]) or 0) <= 3600


def _claim(conn: Connection, types: list[str], limit: int = 10,
           busy: tuple[str, ...] = ()) -> list[tuple[str, int]]:  # fmt: skip
    """The (type, priority) of each job claimed, highest priority first (the statement's
    RETURNING has no order of its own)."""
    jobs = store.claim(conn, WORKER, limit, types, busy)
    taken = [(j.job_type, j.priority) for j in jobs]  # type: ignore[union-attr]
    return sorted(taken, key=lambda t: -t[1])


def test_the_claim_takes_served_types_by_priority_then_age(conn: Connection) -> None:
    _add(conn, "b", priority=1, run_at="now() - interval '1 minute'")
    _add(conn, "a", priority=5, run_at="now() - interval '2 seconds'")
    _add(conn, "a", priority=5, run_at="now() - interval '1 hour'")
    _add(conn, "a", priority=9, run_at="now() + interval '1 hour'")  # not yet
    _add(conn, "c", priority=7)  # not served
    with conn.cursor() as cur:
        cur.execute("INSERT INTO processing_jobs (job_type, priority) VALUES (NULL, 3)")
    with conn.cursor() as cur:
        cur.execute("SELECT id::text FROM processing_jobs WHERE job_type = 'b'")
        (busy,) = cur.fetchone()  # type: ignore[misc]
    assert _claim(conn, ["a", "b", "analysis"], limit=2) == [("a", 5), ("a", 5)]
    assert _claim(conn, ["a", "b", "analysis"], busy=(busy,)) == [("analysis", 3)]
    assert _claim(conn, []) == []  # serving nothing takes nothing
    assert _claim(conn, ["c", "b", "a", "analysis"]) == [("c", 7), ("b", 1)]
    assert _claim(conn, ["c", "b", "a", "analysis"]) == []


def test_the_claim_reads_only_what_it_takes_beside_many_other_rows(conn: Connection) -> None:
    """Pending jobs of a type not served, and jobs of higher priority due tomorrow, come
    first in priority order: the claim, the next wake-up and --until-empty's look-ahead
    read none of them (the plan's row counts, here at 20,000 of each; at 1,000,000 in
    scripts/bench.py's depth figures)."""
    _add(conn, "other", 20_000, run_at="now() - interval '1 day'")
    _add(conn, "served", 20_000, priority=10, run_at="now() + interval '1 day'")
    _add(conn, "served", 10)
    with conn.cursor() as cur:
        cur.execute("ANALYZE processing_jobs")
    store.plan_for_size(conn)  # as a heartbeat does: big enough now for generic plans
    assert store.plans(conn) in ("plain", "generic")
    params = {"limit": 4, "worker_id": WORKER, "busy": [], "job_types": ["served"],
              "seconds": 60.0, "cap_lock": 1, "cap_types": [], "cap_limits": [], "rate_types": [], "rate_counts": [], "rate_periods": []}  # no cap (tests/scheduling/test_scheduling_db.py)  # fmt: skip
    prepared = store.plans(conn) != "plain"
    for name in ("claim", "next_due", "runnable_within"):
        sql = store.PREPARED[name].execute if prepared else SQL[name]
        read = _rows_read(conn, sql, params, prepared)
        assert read < 50, f"{name} read {read} rows"
    assert len(_claim(conn, ["served"], limit=4)) == 4
    assert store.next_due(conn, ["served"]) == 0.0


def test_plans_follow_the_tables_size_even_after_a_truncate_left_stale_statistics(
    db_url: str,
) -> None:
    """Generic plans are made only for a table big enough for its estimates to tell the
    indexes apart: after a TRUNCATE (its statistics still those of the rows it held), the
    statements are planned at each call, and generic plans are made anew once the queue
    has filled again. Each way, each statement reads only what it takes or writes."""
    conn = connect(db_url)
    with conn.cursor() as cur:  # no ANALYZE by autovacuum during the test: no new plans
        cur.execute("ALTER TABLE processing_jobs SET (autovacuum_enabled = false)")
    _add(conn, "served", 5000)
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE processing_jobs")
    store.prepare(conn)
    assert store.plans(conn) == "generic"
    params = {"limit": 4, "worker_id": WORKER, "busy": [], "job_types": ["served"],
              "seconds": 60.0, "cap_lock": 1, "cap_types": [],
              "cap_limits": [], "outcomes": "[]", "insights": "[]",
              "rate_types": [], "rate_counts": [], "rate_periods": []}  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET status = 'completed'")
        cur.execute("TRUNCATE processing_jobs CASCADE")
        cur.execute("VACUUM ANALYZE processing_jobs")
    store.plan_for_size(conn)
    assert store.plans(conn) == "each call"
    for name in ("claim", "next_due", "runnable_within", "finish"):  # as on an idle queue
        _rows_read(conn, store.PREPARED[name].execute, params, prepared=True)
    _add(conn, "other", 20_000, run_at="now() - interval '1 day'")
    _add(conn, "served", 20_000, priority=10, run_at="now() + interval '1 day'")
    _add(conn, "served", 10)
    for way in ("each call", "generic"):
        if way == "generic":
            store.plan_for_size(conn)  # the next heartbeat
        assert store.plans(conn) == way
        serving = (["served"], ["served", "absent"])  # a type served with nothing pending
        for name, served in itertools.product(("claim", "next_due", "runnable_within"), serving):
            statement = store.PREPARED[name].execute
            read = _rows_read(conn, statement, {**params, "job_types": served},
                              prepared=True)  # fmt: skip
            assert read < 50, f"{name} ({way}, serving {served}) read {read} rows"
        claimed = store.claim(conn, WORKER, 4, ["served"])
        outcomes = [{"id": j.id, "lease": j.lease, "status": "completed", "retry_count": 0,
                     "keep_error": False, "delay": 0} for j in claimed]  # fmt: skip
        read = _rows_read(conn, store.PREPARED["finish"].execute,
                          {**params, "outcomes": json.dumps(outcomes)}, prepared=True)  # fmt: skip
        assert read < 50, f"finish ({way}) read {read} rows"
    conn.close()


def test_the_claim_reads_none_of_a_million_blocked_jobs(db_url: str) -> None:
    """Jobs waiting for their parents (parents_left > 0) are pending but outside the
    claim's index (migration 0010): beside 1,000,000 of them, of the type served and of
    higher priority, the claim, the next wake-up and --until-empty's look-ahead read what
    they take, planned each time and prepared."""
    conn = connect(db_url)
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = 0")  # a million rows on a loaded machine
        cur.execute("INSERT INTO processing_jobs (job_type, priority, parents_left) "
                    "SELECT 'served', 10, 1 FROM generate_series(1, 1000000)")  # fmt: skip
        cur.execute("VACUUM ANALYZE processing_jobs")
    _add(conn, "served", 10)
    params = {"limit": 4, "worker_id": WORKER, "busy": [], "job_types": ["served"],
              "seconds": 60.0, "cap_lock": 1, "cap_types": [], "cap_limits": [], "rate_types": [], "rate_counts": [], "rate_periods": []}  # fmt: skip
    for name in ("claim", "next_due", "runnable_within"):
        read = _rows_read(conn, SQL[name], params)
        assert read < 50, f"{name} read {read} rows (planned each time)"
    store.prepare(conn)
    assert store.plans(conn) == "generic"
    for name in ("claim", "next_due", "runnable_within"):
        read = _rows_read(conn, store.PREPARED[name].execute, params, prepared=True)
        assert read < 50, f"{name} read {read} rows (prepared)"
    claimed = store.claim(conn, WORKER, 20, ["served"])
    assert [j.priority for j in claimed] == [0] * 10  # type: ignore[union-attr]
    conn.close()


def _rows_read(conn: Connection, sql: str, params: dict[str, object],
               prepared: bool = False) -> int:  # fmt: skip
    """Rows the plan's scans returned or filtered out, over all their loops."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        if prepared:
            cur.execute(store.INDEXED)  # as the supervisor runs them
        cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cur.fetchone()  # type: ignore[misc]
        cur.execute("ROLLBACK")

    def walk(node: dict[str, Any]) -> int:
        own = 0
        if "Scan" in node["Node Type"] and node["Node Type"] != "CTE Scan":
            loops = node.get("Actual Loops", 1)
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_prepared_statements_dropped_behind_our_back_give_way_to_planned_ones(
    conn: Connection,
) -> None:
    """DISCARD ALL (or a pooler in transaction mode) removes them: the claim goes on."""
    store.prepare(conn)
    _add(conn, "served", 2)
    with conn.cursor() as cur:
        cur.execute("DISCARD ALL")
    assert len(_claim(conn, ["served"], limit=1)) == 1
    assert store.plans(conn) == "plain"
    assert len(_claim(conn, ["served"], limit=1)) == 1
