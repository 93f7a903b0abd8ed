"""The claim's cost with scheduling in it: plain, with a cap, with a paused type, at two
queue sizes, planned at each call and prepared (as the supervisor runs it), as ratios
measured in the same run.

    .venv/bin/python scripts/bench_claim.py                      # 10 000 and 1 000 000 pending
    .venv/bin/python scripts/bench_claim.py --small 1000 --large 100000

Each claim (limit 4) runs in a transaction rolled back afterwards, so every run sees the
same queue. On a scratch database: $JOBSUP_BENCH_DATABASE_URL's server, else embedded.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from benchlib.common import scratch_database

from supervisor.db.connect import Connection, connect
from supervisor.store import statements as store

PENDING = """
INSERT INTO processing_jobs (job_type, business_description, priority)
SELECT CASE WHEN n %% 10 = 0 THEN 'capped' ELSE 'plain' END, 'bench', n %% 3
FROM generate_series(1, %(count)s) AS n
"""
RUNNING = """
INSERT INTO processing_jobs (job_type, status, worker_id, started_at)
SELECT 'capped', 'processing', gen_random_uuid(), now() FROM generate_series(1, 8)
"""
# A supervisor that has seen no keyed job (fair_key) lately sends the plain claim
# (fair=False); "fair" is the claim it sends while keyed jobs are about (claim_fair), here
# with none pending: what fair share costs an ordinary queue once a second.
VARIANTS: dict[str, dict[str, object]] = {
    "plain": {"fair": False},
    "capped (room left)": {"capped": {"capped": 100}, "fair": False},
    "capped (full)": {"capped": {"capped": 8}, "fair": False},
    "a type paused": {"fair": False},
    "fair (claim_fair)": {"fair": True},
}
WARM_UP = 20
SERVED = ["capped", "plain"]  # the types the bench's supervisor serves


def claim_once(conn: Connection, name: str, worker: str) -> float:
    """Seconds for one claim of 4 in variant `name`, rolled back (with its pause, if any)."""
    with conn.cursor() as cur:
        if name == "a type paused":
            cur.execute("INSERT INTO jobsup_paused (job_type) VALUES ('nothing-queued')")
    start = time.perf_counter()
    got = store.claim(conn, worker, 4, SERVED, **VARIANTS[name])  # type: ignore[arg-type]
    took = time.perf_counter() - start
    conn.rollback()
    assert len(got) == 4, got  # nosec B101  # the bench measures a full claim
    return took


def measure(url: str, count: int, runs: int) -> dict[tuple[str, bool], float]:
    """Median seconds per variant, planned and prepared (True), each on a connection of its
    own, all taking turns so that drift hits them alike."""
    planned, prepared = connect(url), connect(url)
    with planned.cursor() as cur:
        cur.execute("SET statement_timeout = 0")
        cur.execute("TRUNCATE processing_jobs CASCADE")
        # a NOTIFY per inserted row would dominate the set-up
        cur.execute("ALTER TABLE processing_jobs DISABLE TRIGGER jobsup_notify_pending")
        cur.execute(PENDING, {"count": count})
        cur.execute("ALTER TABLE processing_jobs ENABLE TRIGGER jobsup_notify_pending")
        cur.execute(RUNNING)
        cur.execute("VACUUM ANALYZE processing_jobs")
    store.prepare(prepared)  # on the filled table: generic plans, as a supervisor's would be
    worker = str(uuid.uuid4())
    ways = {False: planned, True: prepared}
    times: dict[tuple[str, bool], list[float]] = {(n, w): [] for n in VARIANTS for w in ways}
    for c in ways.values():
        c.autocommit = False
    for run in range(WARM_UP + runs):
        for name, way in times:
            took = claim_once(ways[way], name, worker)
            if run >= WARM_UP:
                times[name, way].append(took)
    for c in ways.values():
        c.close()
    return {key: statistics.median(found) for key, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with scratch_database() as url:
        small = measure(url, args.small, args.runs)
        large = measure(url, args.large, args.runs)
    base = small["plain", False]
    print(f"claim of 4, median of {args.runs}; ratios to the plain claim planned at each call "
          f"at {args.small} pending")  # fmt: skip
    print(f"{'variant':30} {args.small:>12} {args.large:>12}  large/small")
    for name, way in small:
        label = f"{name}{', prepared' if way else ''}"
        print(f"{label:30} {small[name, way] / base:12.2f} {large[name, way] / base:12.2f}"
              f"  {large[name, way] / small[name, way]:10.2f}")  # fmt: skip
    print(f"(plain claim planned at each call, at {args.small}: {base * 1000:.2f} ms; prepared: "
          f"{small['plain', True] * 1000:.2f} ms on this machine)")  # fmt: skip


if __name__ == "__main__":
    main()
