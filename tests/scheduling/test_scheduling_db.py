"""Unique keys, periodic slots, paused types and caps where the database enforces them: the
statements themselves, from several connections at once (no supervisor process)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from supervisor.client.enqueue import enqueue, enqueue_many, enqueue_or_find
from supervisor.db.connect import Connection, connect, transaction
from supervisor.db.queries import SQL
from supervisor.scheduling import pauses, periodic_store
from supervisor.scheduling.periodic import Schedule
from supervisor.store import statements as store
from tests.fixtures.processes import rows, scalar

WORKER = str(uuid.uuid4())
DIAG = ["diag.noop", "diag.sleep"]  # the types the claims here serve


def finish(conn: Connection, job_id: str, status: str = "completed") -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE processing_jobs SET status = %s, lease = NULL, completed_at = now() "
            "WHERE id = %s",
            (status, job_id),
        )


def test_a_second_enqueue_with_the_key_returns_the_unfinished_job(conn: Connection) -> None:
    first = enqueue(conn, "/data/a.csv", unique_key="upload:a")
    again = enqueue_or_find(conn, file_path="/data/a.csv", unique_key="upload:a")
    assert (again.job_id, again.created) == (first, False)
    assert scalar(conn, "SELECT count(*) FROM files") == 1  # no second file row either
    claimed = store.claim(conn, WORKER, 1, ["analysis"])
    assert [j.id for j in claimed] == [first]  # processing: still unfinished
    assert enqueue(conn, "/data/a.csv", unique_key="upload:a") == first
    finish(conn, first)
    after = enqueue_or_find(conn, file_path="/data/a.csv", unique_key="upload:a")
    assert after.created and after.job_id != first  # the key is free once its job ended
    assert enqueue(conn, "/data/b.csv", unique_key="upload:b") not in (first, after.job_id)
    assert enqueue(conn, "/data/c.csv") != enqueue(conn, "/data/c.csv")  # no key: no deduplication
    # in one enqueue_many: a key held, a key twice, a new key
    ids = enqueue_many(
        conn,
        [
            {"file_path": "/x", "unique_key": "upload:a"},
            {"file_path": "/x", "unique_key": "upload:c"},
            {"file_path": "/x", "unique_key": "upload:c"},
            {"file_path": "/x", "unique_key": "upload:a"},
        ],
    )
    assert ids[0] == ids[3] == after.job_id and ids[1] == ids[2] != ids[0]


def test_concurrent_enqueues_of_one_key_make_one_job(db_url: str) -> None:
    ids: list[str] = []

    def submit() -> None:
        c = connect(db_url)
        try:
            with transaction(c):
                ids.append(enqueue(c, "/data/same.csv", unique_key="same"))
                time.sleep(0.05)  # hold the insert uncommitted while the others try
        finally:
            c.close()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 6 and len(set(ids)) == 1


def test_each_slot_is_enqueued_once_even_after_its_job_ended(db_url: str, conn: Connection) -> None:
    schedule = Schedule("tick", every=60, job_type="diag.noop", metadata={"k": 1})
    slot = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    peers = [connect(db_url) for _ in range(4)]
    try:
        results: list[str | None] = []
        threads = [
            threading.Thread(
                target=lambda c=c: results.append(periodic_store.enqueue_slot(c, schedule, slot))
            )
            for c in peers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = [r for r in results if r]
        assert len(made) == 1
        (job_id,) = made
        assert rows(conn, "SELECT unique_key, job_type, metadata FROM processing_jobs") == [
            ("periodic:tick:2026-12-01T12:00:00Z", "diag.noop", {"k": 1})
        ]
        finish(conn, job_id)  # the key is free again, the slot is not
        assert periodic_store.enqueue_slot(peers[0], schedule, slot) is None
        assert periodic_store.enqueue_slot(peers[0], schedule, slot - timedelta(minutes=1)) is None
        assert periodic_store.enqueue_slot(peers[1], schedule, slot + timedelta(minutes=1))
        recorded = periodic_store.recorded(conn)["tick"]
        assert recorded.last_slot == slot + timedelta(minutes=1)
        assert recorded.last_status == "pending"
    finally:
        for c in peers:
            c.close()


def test_backfill_enqueues_the_missed_slots_oldest_first(conn: Connection) -> None:
    schedule = Schedule("ten", every=600, backfill=2, file="/data/f.csv")
    since = datetime(2026, 12, 1, 12, 5, tzinfo=UTC)
    made = periodic_store.enqueue_due(conn, [(schedule, since)], since)
    assert [periodic_store.periodic.iso(m.slot) for m in made] == [
        "2026-12-01T11:50:00Z", "2026-12-01T12:00:00Z"
    ]  # fmt: skip
    assert periodic_store.enqueue_due(conn, [(schedule, since)], since) == []
    paths = rows(conn, "SELECT f.file_path FROM processing_jobs j JOIN files f ON f.id = j.file_id")
    assert paths == [("/data/f.csv",), ("/data/f.csv",)]


def test_claim_leaves_paused_types_pending(conn: Connection) -> None:
    a = enqueue(conn, job_type="diag.noop")
    b = enqueue(conn, job_type="diag.sleep")
    assert pauses.pause(conn, ["diag.noop"]) == ["diag.noop"]
    assert pauses.pause(conn, ["diag.noop"]) == []  # already
    assert [j.id for j in store.claim(conn, WORKER, 5, DIAG)] == [b]
    assert store.next_due(conn, DIAG) is None  # a paused job never falls due
    assert pauses.pause(conn, [pauses.ALL]) == ["*"]
    c = enqueue(conn, job_type="diag.sleep")
    assert store.claim(conn, WORKER, 5, DIAG) == []
    assert pauses.resume(conn, [], everything=True) == ["*", "diag.noop"]
    assert sorted(j.id for j in store.claim(conn, WORKER, 5, DIAG)) == sorted([a, c])


def test_a_cap_takes_no_more_than_its_room_and_leaves_other_types(conn: Connection) -> None:
    capped = [enqueue(conn, job_type="diag.sleep", priority=9) for _ in range(4)]
    other = enqueue(conn, job_type="diag.noop")
    first = store.claim(conn, WORKER, 3, DIAG, capped={"diag.sleep": 2})
    assert len([j for j in first if j.job_type == "diag.sleep"]) == 2
    # full: the next claim skips the capped type (and does not see it as due)
    second = store.claim(conn, WORKER, 3, DIAG, capped={"diag.sleep": 2})
    assert [j.id for j in first + second if j.job_type == "diag.noop"] == [other]
    assert store.next_due(conn, DIAG, capped={"diag.sleep": 2}) is None
    assert store.next_due(conn, DIAG) == 0.0  # uncapped, they would be due
    finish(conn, first[0].id)
    third = store.claim(conn, WORKER, 3, DIAG, capped={"diag.sleep": 2})
    assert len(third) == 1 and third[0].id in capped


def test_two_supervisors_claiming_at_once_never_exceed_a_cap(db_url: str, conn: Connection) -> None:
    for _ in range(200):
        enqueue(conn, job_type="diag.sleep")
    stop = time.monotonic() + 3.0
    seen: list[int] = []
    claimed: list[str] = []

    def supervisor() -> None:
        c = connect(db_url)
        worker = str(uuid.uuid4())
        try:
            while time.monotonic() < stop:
                for job in store.claim(c, worker, 4, DIAG, capped={"diag.sleep": 1}):
                    claimed.append(job.id)
                    time.sleep(0.002)
                    finish(c, job.id)
        finally:
            c.close()

    def sampler() -> None:
        c = connect(db_url)
        try:
            while time.monotonic() < stop:
                seen.append(
                    scalar(c, "SELECT count(*) FROM processing_jobs WHERE status = 'processing'")
                )
        finally:
            c.close()

    threads = [threading.Thread(target=f) for f in (supervisor, supervisor, sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) > 20 and len(set(claimed)) == len(claimed)
    assert max(seen) == 1, f"{seen.count(2)} samples saw two running"


@pytest.mark.parametrize(("capped", "paused"), [(False, False), (False, True), (True, True)])
def test_claim_walks_the_claim_index_with_caps_and_pauses(
    conn: Connection, capped: bool, paused: bool
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO processing_jobs (job_type, business_description) "
            "SELECT CASE WHEN n % 10 = 0 THEN 'diag.sleep' ELSE 'diag.noop' END, 'x' "
            "FROM generate_series(1, 20000) AS n"
        )
        cur.execute("ANALYZE processing_jobs")
    if paused:
        pauses.pause(conn, ["diag.noop"])
    params = {"limit": 4, "worker_id": WORKER, "busy": [], "job_types": DIAG,
              "cap_lock": 1, "cap_types": ["diag.sleep"] if capped else [],
              "cap_limits": [1] if capped else [],
              "rate_types": [], "rate_counts": [], "rate_periods": []}  # fmt: skip
    with conn.cursor() as cur:
        explained = cur.mogrify(SQL["claim"], params).decode()
        cur.execute(f"EXPLAIN {explained}")
        plan = "\n".join(line for (line,) in cur.fetchall())
    assert "jobsup_jobs_claim_type" in plan
    assert "Seq Scan on processing_jobs" not in plan
