"""Rate limits and fair share with real supervisors and real runners."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supervisor.client.enqueue import enqueue_many
from supervisor.db.connect import Connection
from tests.fixtures.flow import most_in_a_window
from tests.fixtures.processes import Supervisors, rows, scalar, write_config

pytestmark = pytest.mark.slow

RATE, SECONDS = 10, 8.0  # the 10/second; 30 s in scripts/bench_flow.py


def test_a_rate_limit_holds_across_four_supervisors_and_is_used_to_the_full(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """4 supervisors x 8 slots, rate_limit = "10/second": no 1-second window of the jobs'
    start times (the database's) holds more than 10, and over 8 s they start at least 95 %
    of 10 a second. The poll interval is 30 s: only the window's reopening wakes them."""
    config = write_config(tmp_path, concurrency=8, interval=30.0,
                          type_extra={"noop": f'rate_limit = "{RATE}/second"\n'})  # fmt: skip
    for _ in range(4):
        supervisors.start(db_url, config).wait_registered(conn)
    enqueue_many(conn, [{"job_type": "diag.noop"} for _ in range(int(RATE * (SECONDS + 4)))])
    deadline = time.monotonic() + SECONDS + 30
    while scalar(conn, "SELECT count(*) FROM processing_jobs WHERE started_at IS NOT NULL "
                       "AND started_at >= (SELECT min(started_at) FROM processing_jobs) "
                       "+ make_interval(secs => %s)", SECONDS) == 0:  # fmt: skip
        assert time.monotonic() < deadline, "the jobs did not start for 8 s"
        time.sleep(0.2)
    starts = [s for (s,) in rows(conn, "SELECT extract(epoch FROM started_at)::float8 "
                                       "FROM processing_jobs WHERE started_at IS NOT NULL "
                                       "ORDER BY 1")]  # fmt: skip
    assert most_in_a_window(starts, 1.0) <= RATE
    within = [s for s in starts if s < starts[0] + SECONDS]
    assert len(within) >= 0.95 * RATE * SECONDS, f"{len(within)} started in {SECONDS:g} s"
    workers = scalar(conn, "SELECT count(DISTINCT worker_id) FROM processing_jobs "
                           "WHERE started_at IS NOT NULL")  # fmt: skip
    assert workers >= 2  # the limit held across supervisors, not within one


def test_fair_keys_with_real_supervisors(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """One supervisor with one slot (so the start order is the claim order): 1 key with
    1,000 jobs enqueued first and 9 keys with 10 each; every key's first job is among the
    first 10 started."""
    config = write_config(tmp_path, concurrency=1, interval=0.5)
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "big"} for _ in range(1000)])
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": f"k{k}"} for k in range(9)
                        for _ in range(10)])  # fmt: skip
    supervisors.start(db_url, config).wait_registered(conn)
    deadline = time.monotonic() + 60
    while scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'completed'") < 20:
        assert time.monotonic() < deadline, "20 jobs did not complete in 60 s"
        time.sleep(0.1)
    first = rows(conn, "SELECT fair_key FROM processing_jobs WHERE started_at IS NOT NULL "
                       "ORDER BY started_at LIMIT 10")  # fmt: skip
    assert sorted(k for (k,) in first) == sorted(["big", *(f"k{k}" for k in range(9))])


def test_a_keyed_job_behind_a_busy_unkeyed_queue_starts_within_seconds(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """A supervisor busy with unkeyed jobs sends the plain claim, which never takes a keyed
    job, but a fair one at least once a second: a keyed job of higher priority enqueued
    while 300 unkeyed ones wait starts long before they are done (several seconds on one
    slot)."""
    config = write_config(tmp_path, concurrency=1, interval=30.0)
    enqueue_many(conn, [{"job_type": "diag.noop"} for _ in range(300)])
    supervisors.start(db_url, config).wait_registered(conn)
    time.sleep(1.5)  # claiming unkeyed jobs, no keyed one seen
    keyed = enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "late", "priority": 5}])[0]
    enqueued = time.monotonic()
    while scalar(conn, "SELECT started_at FROM processing_jobs WHERE id = %s", keyed) is None:
        assert time.monotonic() < enqueued + 30, "the keyed job did not start"
        time.sleep(0.05)
    waited = time.monotonic() - enqueued
    left = scalar(conn, "SELECT count(*) FROM processing_jobs WHERE status = 'pending'")
    assert waited < 5.0 and left > 0, f"started after {waited:.1f} s, {left} unkeyed left"
