"""Rate limits and fair share in the claim, against a real PostgreSQL: what a claim takes
and when the next one is due (real supervisors: tests/loop/test_flow_supervisors.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from supervisor.client.enqueue import enqueue, enqueue_many
from supervisor.config.flow import RateLimit
from supervisor.db.connect import Connection, connect
from supervisor.store import statements as store
from tests.fixtures.flow import NOOP, WORKER, most_in_a_window


def _keys_of(conn: Connection, ids: list[str]) -> list[str | None]:
    with conn.cursor() as cur:
        cur.execute("SELECT fair_key FROM processing_jobs WHERE id = ANY(%s::uuid[])", (ids,))
        return [key for (key,) in cur.fetchall()]


def test_one_key_with_a_thousand_jobs_does_not_hold_back_nine_others(conn: Connection) -> None:
    """1 key with 1,000 jobs enqueued first, then 9 keys with 10 each: every key's first
    job is among the first 10 claimed (one claim at a time, as a busy fleet claims), and the
    next ten claims take each key's second job."""
    big = [{"job_type": "diag.noop", "fair_key": "big"} for _ in range(1000)]
    enqueue_many(conn, big)
    small = [{"job_type": "diag.noop", "fair_key": f"small-{k}"} for k in range(9)
             for _ in range(10)]  # fmt: skip
    enqueue_many(conn, small)
    first = [job.id for _ in range(10) for job in store.claim(conn, WORKER, 1, NOOP)]
    assert sorted(_keys_of(conn, first)) == sorted(["big"] + [f"small-{k}" for k in range(9)])
    second = [job.id for job in store.claim(conn, WORKER, 10, NOOP)]
    assert Counter(_keys_of(conn, second)) == Counter(["big"] + [f"small-{k}" for k in range(9)])


def test_a_key_arriving_later_is_served_in_the_next_round(conn: Connection) -> None:
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "big"} for _ in range(50)])
    for _ in range(5):
        store.claim(conn, WORKER, 1, NOOP)
    late = enqueue(conn, job_type="diag.noop", fair_key="late")
    taken = [job.id for job in store.claim(conn, WORKER, 2, NOOP)]
    assert late in taken


def test_unkeyed_jobs_keep_their_order_and_come_before_keyed_ones(conn: Connection) -> None:
    plain = [enqueue(conn, job_type="diag.noop") for _ in range(3)]
    assert [j.id for j in store.claim(conn, WORKER, 1, NOOP)] == [plain[0]]  # oldest first
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "a"} for _ in range(5)])
    enqueue_many(conn, [{"job_type": "diag.noop", "fair_key": "b"} for _ in range(5)])
    plain.append(enqueue(conn, job_type="diag.noop"))  # enqueued after the keyed ones
    # the unkeyed jobs first, as without keys; the keyed ones share what they leave
    taken = [j.id for j in store.claim(conn, WORKER, 5, NOOP)]
    assert set(plain[1:]) <= set(taken)
    assert Counter(_keys_of(conn, taken)) == Counter([None, None, None, "a", "b"])
    # a higher priority still comes first, keyed or not
    urgent = enqueue(conn, job_type="diag.noop", priority=5, fair_key="a")
    assert [j.id for j in store.claim(conn, WORKER, 1, NOOP)] == [urgent]


def test_keyed_jobs_due_later_wait_and_are_seen_as_due(conn: Connection) -> None:
    later = enqueue(conn, job_type="diag.noop", fair_key="a", delay=3600)
    assert store.claim(conn, WORKER, 5, NOOP) == []
    assert 3500 < (store.next_due(conn, NOOP) or 0) <= 3600
    assert store.runnable_within(conn, 7200, NOOP)
    assert not store.runnable_within(conn, 60, NOOP)
    now = enqueue(conn, job_type="diag.noop", fair_key="a")
    assert [j.id for j in store.claim(conn, WORKER, 5, NOOP)] == [now]
    assert later not in [j.id for j in store.claim(conn, WORKER, 5, NOOP)]


RATE = {"diag.noop": RateLimit(3, 1.0)}


def test_a_rate_limit_holds_jobs_back_until_its_window_has_room(conn: Connection) -> None:
    for _ in range(8):
        enqueue(conn, job_type="diag.noop")
    other = enqueue(conn, job_type="diag.sleep")
    first = store.claim(conn, WORKER, 10, ["diag.noop", "diag.sleep"], rates=RATE)
    assert sorted(j.job_type for j in first) == ["diag.noop"] * 3 + ["diag.sleep"]
    assert other in [j.id for j in first]
    assert store.claim(conn, WORKER, 10, NOOP, rates=RATE) == []  # held back, still pending
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM processing_jobs WHERE status = 'pending' "
                    "AND run_at <= now()")  # fmt: skip
        assert cur.fetchone() == (5,)
    wait = store.next_due(conn, NOOP, rates=RATE)
    assert wait is not None and 0.8 < wait <= 1.01, wait
    assert store.next_due(conn, NOOP) == 0.0  # without the limit they would be due now
    time.sleep(wait)
    assert len(store.claim(conn, WORKER, 10, NOOP, rates=RATE)) == 3
    with conn.cursor() as cur:
        cur.execute("SELECT max_starts, period, array_length(starts, 1) FROM jobsup_rate_windows")
        assert cur.fetchall() == [(3, 1.0, 1)]  # the first claim's entry has been dropped


def test_many_claimers_never_exceed_a_rate_in_any_window(db_url: str, conn: Connection) -> None:
    """Four claimers in threads, each with its own connection, claiming in a tight loop for
    2.5 s under 20/second: no 1-second window of started_at holds more than 20."""
    rate = {"diag.noop": RateLimit(20, 1.0)}
    enqueue_many(conn, [{"job_type": "diag.noop"} for _ in range(200)])
    stop = time.monotonic() + 2.5

    def claimer() -> None:
        c = connect(db_url)
        worker = str(uuid.uuid4())
        try:
            while time.monotonic() < stop:
                store.claim(c, worker, 4, NOOP, rates=rate)
        finally:
            c.close()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with conn.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM started_at)::float8 FROM processing_jobs "
                    "WHERE status = 'processing' ORDER BY 1")  # fmt: skip
        starts = [s for (s,) in cur.fetchall()]
    assert len(starts) >= 40
    assert most_in_a_window(starts, 1.0) <= 20


@pytest.mark.unit
def test_most_in_a_window_counts_closed_windows() -> None:
    assert most_in_a_window([], 1.0) == 0
    assert most_in_a_window([0.0, 0.5, 1.0, 1.6], 1.0) == 3
    assert most_in_a_window([0.0, 1.01, 2.02], 1.0) == 1


def test_the_plain_claim_leaves_keyed_jobs_and_next_due_tells_of_them(conn: Connection) -> None:
    """A supervisor that has seen no keyed job sends the plain claim: it takes unkeyed jobs
    only, and when it comes short the next-due query says keyed jobs wait (then the fair
    claim is sent: tests/loop/test_claim_timing.py)."""
    keyed = enqueue(conn, job_type="diag.noop", fair_key="a")
    assert store.due(conn, NOOP) == (0.0, True)
    plain = enqueue(conn, job_type="diag.noop")
    taken = store.claim_taking(conn, WORKER, 5, NOOP, fair=False)
    assert [j.id for j in taken.jobs] == [plain] and not taken.keyed
    taken = store.claim_taking(conn, WORKER, 5, NOOP)
    assert [j.id for j in taken.jobs] == [keyed] and taken.keyed
    assert store.due(conn, NOOP) == (None, False)
