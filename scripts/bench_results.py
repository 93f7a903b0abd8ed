"""The Python API's costs against a real PostgreSQL: enqueue vs enqueue_many, how soon
wait() returns after a job ends, and what the jobsup_finished trigger adds to a write-back.

    .venv/bin/python scripts/bench_results.py          # an embedded PostgreSQL of its own
    JOBSUP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python scripts/bench_results.py      # a database created on that server

Every figure comes with the one it is compared with, measured in the same run (the two
interleaved, best of --runs).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

from benchlib.common import percentile, scratch_database

from supervisor.api import enqueue, enqueue_many, wait
from supervisor.db.connect import Connection, connect, transaction


def reset(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights, files CASCADE")


def one_by_one(conn: Connection, jobs: int) -> None:
    with transaction(conn):
        for n in range(jobs):
            enqueue(conn, f"/data/{n}.csv", description="bench", metadata={"n": n})


def in_one_statement(conn: Connection, jobs: int) -> None:
    with transaction(conn):
        enqueue_many(conn, [{"file_path": f"/data/{n}.csv", "description": "bench",
                             "metadata": {"n": n}} for n in range(jobs)])  # fmt: skip


def best(conn: Connection, runs: int, work: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        reset(conn)
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def wake_latency(url: str, samples: int, poll: float) -> list[float]:
    """Milliseconds from the commit that ends a job to wait() returning, `samples` times."""
    waiter, ender = connect(url), connect(url)
    latencies = []
    for _ in range(samples):
        with transaction(waiter):
            job_id = enqueue(waiter, job_type="bench")
        committed: list[float] = []

        def end(job_id: str = job_id, committed: list[float] = committed) -> None:
            time.sleep(0.02)
            with ender.cursor() as cur:
                cur.execute("UPDATE processing_jobs SET status = 'completed' WHERE id = %s",
                            (job_id,))  # fmt: skip
            committed.append(time.perf_counter())

        thread = threading.Thread(target=end)
        thread.start()
        wait(waiter, job_id, timeout=30, poll=poll)
        returned = time.perf_counter()
        thread.join()
        latencies.append((returned - committed[0]) * 1000)
    waiter.close()
    ender.close()
    return latencies


def write_backs(conn: Connection, jobs: int, batch: int) -> float:
    """Seconds to complete `jobs` processing jobs, `batch` per transaction (as a write-back)."""
    reset(conn)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, status) "
            "SELECT 'bench', 'processing' FROM generate_series(1, %s)",
            (jobs,),
        )
        cur.execute("SELECT id::text FROM processing_jobs")
        ids = [job_id for (job_id,) in cur.fetchall()]
    began = time.perf_counter()
    for start in range(0, jobs, batch):
        with transaction(conn), conn.cursor() as cur:
            cur.execute("UPDATE processing_jobs SET status = 'completed', completed_at = now() "
                        "WHERE id = ANY(%s::uuid[])", (ids[start : start + batch],))  # fmt: skip
    return time.perf_counter() - began


def trigger(conn: Connection, enabled: bool) -> None:
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE processing_jobs {'ENABLE' if enabled else 'DISABLE'} "
                    "TRIGGER jobsup_notify_finished")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch_database() as url:
        conn = connect(url)
        many = best(conn, args.runs, lambda: in_one_statement(conn, args.jobs))
        single = best(conn, args.runs, lambda: one_by_one(conn, args.jobs))
        print(f"enqueue {args.jobs} jobs with their files: enqueue_many {many:.2f} s, "
              f"enqueue one by one {single:.2f} s ({single / many:.1f}x)")  # fmt: skip
        reset(conn)
        for poll in (2.0, 0.5):
            ms = wake_latency(url, args.samples, poll)
            print(f"wait() after the commit that ends the job, poll {poll:g} s: "
                  f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms")  # fmt: skip
        trigger(conn, False)
        ms = wake_latency(url, max(10, args.samples // 10), 0.5)
        print(f"  the same without the trigger (poll only, 0.5 s): "
              f"p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms")  # fmt: skip
        timings: dict[bool, list[float]] = {True: [], False: []}
        for run in range(args.runs * 2):  # interleaved, each first in turn
            for enabled in (run % 2 == 0, run % 2 == 1):
                trigger(conn, enabled)
                timings[enabled].append(write_backs(conn, args.jobs // 2, 4))
        trigger(conn, True)
        on, off = min(timings[True]), min(timings[False])
        print(f"write-back of {args.jobs // 2} jobs, 4 a transaction: {on:.2f} s with the "
              f"jobsup_finished trigger, {off:.2f} s without ({on / off:.2f}x)")  # fmt: skip
        conn.close()


if __name__ == "__main__":
    main()
