"""The claim stays cheap with rate limits and fair keys: beside 1,000,000 pending keyed jobs
over 10,000 keys (and a rate window with entries), the claim, the next wake-up and the
--until-empty look-ahead each read under 100 rows of tables, planned each time and prepared
(EXPLAIN ANALYZE, as tests/store/test_claim_plans.py). The rate window's entries are one
row's array (at most one entry per claim within the period), counted apart."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from supervisor.config.flow import RateLimit, rate_params
from supervisor.db.connect import Connection
from supervisor.db.queries import SQL
from supervisor.store import statements as store

pytestmark = pytest.mark.slow

WORKER = "00000000-0000-4000-8000-000000000001"
JOBS, KEYS = 1_000_000, 10_000
RATES = {"served": RateLimit(1000, 1.0)}


def _fill(conn: Connection) -> None:
    """1,000,000 runnable keyed jobs, 100 per key, in the rounds the enqueue trigger gives a
    key's jobs (given here, so the trigger is not run a million times); 10,000 of another
    type; unkeyed jobs of the served type due tomorrow; a rate window with 50 entries."""
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = 0")  # building a million rows takes a while
        cur.execute("ALTER TABLE processing_jobs SET (autovacuum_enabled = false)")
        cur.execute(
            "INSERT INTO processing_jobs (job_type, fair_key, fair_seq, run_at) "
            "SELECT 'served', 'customer-' || (n %% %(keys)s), n / %(keys)s + 1, "
            "       now() - interval '1 minute' "
            "FROM generate_series(0, %(jobs)s - 1) AS n",
            {"keys": KEYS, "jobs": JOBS},
        )
        cur.execute("INSERT INTO processing_jobs (job_type, fair_key) "
                    "SELECT 'other', 'k' || n FROM generate_series(1, 10000) AS n")  # fmt: skip
        cur.execute("INSERT INTO processing_jobs (job_type, run_at) "
                    "SELECT 'served', now() + interval '1 day' "
                    "FROM generate_series(1, 10000)")  # fmt: skip
        cur.execute(
            "INSERT INTO jobsup_rate_windows (job_type, max_starts, period, starts, counts) "
            "SELECT 'served', 1000, 1.0, array_agg(clock_timestamp() - n * interval '10 ms'), "
            "       array_agg(1) FROM generate_series(1, 50) AS n"
        )
        cur.execute("VACUUM ANALYZE processing_jobs")
        cur.execute("RESET statement_timeout")


def test_the_claim_with_rates_and_fair_keys_reads_under_100_rows_beside_a_million(
    conn: Connection,
) -> None:
    _fill(conn)
    params = {"limit": 8, "worker_id": WORKER, "busy": [], "job_types": ["served"],
              "seconds": 60.0, "cap_lock": 1, "cap_types": [], "cap_limits": [],
              **rate_params(RATES)}  # fmt: skip
    for way in ("each call", "generic"):
        if way == "generic":
            store.prepare(conn)
            assert store.plans(conn) == "generic"
        for name in ("claim", "claim_fair", "claim_rated", "next_due", "runnable_within"):
            sql = SQL[name] if way == "each call" else store.PREPARED[name].execute
            read = _table_rows_read(conn, sql, params, prepared=way == "generic")
            assert read < 100, f"{name} ({way}) read {read} rows"
    jobs = store.claim(conn, WORKER, 8, ["served"], rates=RATES)
    with conn.cursor() as cur:
        cur.execute("SELECT fair_key FROM processing_jobs WHERE id = ANY(%s::uuid[])",
                    ([j.id for j in jobs],))  # fmt: skip
        keys = Counter(k for (k,) in cur.fetchall())
    assert len(jobs) == 8 and max(keys.values()) == 1  # eight keys, one job each


def _table_rows_read(conn: Connection, sql: str, params: dict[str, object],
                     prepared: bool) -> int:  # fmt: skip
    """Rows of tables the plan's scans returned or filtered out, over all their loops (not
    the entries of arrays unnested: the parameters, the rate window's starts)."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        if prepared:
            cur.execute(store.INDEXED)  # as the supervisor runs them
        cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cur.fetchone()  # type: ignore[misc]
        cur.execute("ROLLBACK")

    def walk(node: dict[str, Any]) -> int:
        own = 0
        if "Relation Name" in node and "Scan" in node["Node Type"]:
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node.get(
                "Actual Loops", 1
            )
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])
