"""Jobs that wait for other jobs, against a real PostgreSQL: a blocked job is pending but never
claimed; every path that ends a parent (the fenced write-back, cancel, reclaim, a DELETE)
unblocks its children exactly once, and every path that reopens one (retry, the seed's
reset SQL) blocks them again."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from supervisor.api import enqueue, enqueue_many
from supervisor.client.edges import UnknownParent
from supervisor.db.connect import Connection, connect, transaction
from supervisor.runners.outcome import Kind, Outcome
from supervisor.store import statements as store
from tests.fixtures.processes import rows, scalar

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"
TYPE = "diag.noop"


def _job(conn: Connection, **kw: Any) -> str:
    with transaction(conn):
        return enqueue(conn, job_type=TYPE, **kw)


def _claim(conn: Connection, worker: str = A, limit: int = 50) -> dict[str, int]:
    """The ids claimed, with their leases."""
    return {j.id: j.lease for j in store.claim(conn, worker, limit, [TYPE], ())}  # type: ignore[union-attr]


def _end(conn: Connection, claims: dict[str, int], status: str = "completed",
         worker: str = A, error: str | None = None) -> set[str]:  # fmt: skip
    kind = Kind.COMPLETED if status == "completed" else Kind.PERMANENT
    outcomes = [Outcome(job_id, lease, kind, status, 0, error=error)
                for job_id, lease in claims.items()]  # fmt: skip
    return store.finish(conn, worker, outcomes)


def _state(conn: Connection, job_id: str) -> tuple[str, int]:
    return rows(conn, "SELECT status, parents_left FROM processing_jobs WHERE id = %s", job_id)[0]


def test_a_child_waits_pending_until_its_parents_have_ended(conn: Connection) -> None:
    first, second = _job(conn), _job(conn)
    child = _job(conn, after=[first, second])
    assert _state(conn, child) == ("pending", 2)
    claimed = _claim(conn)
    assert set(claimed) == {first, second}  # not the child
    assert _end(conn, {first: claimed[first]}) == {first}
    assert _state(conn, child) == ("pending", 1)
    assert _claim(conn) == {}
    _end(conn, {second: claimed[second]})
    assert _state(conn, child) == ("pending", 0)
    assert set(_claim(conn)) == {child}


def test_a_parent_already_ended_counts_as_ended(conn: Connection) -> None:
    parent = _job(conn)
    _end(conn, _claim(conn))
    child = _job(conn, after=[parent])
    assert _state(conn, child) == ("pending", 0)
    assert set(_claim(conn)) == {child}


def test_unknown_parents_and_cycles_are_refused_and_nothing_is_inserted(conn: Connection) -> None:
    parent = _job(conn)
    missing = "00000000-0000-4000-8000-0000000000ff"
    with transaction(conn), pytest.raises(UnknownParent, match=f"after: no job has id {missing}: nothing enqueued"):  # fmt: skip
        enqueue_many(conn, [{"job_type": TYPE}, {"job_type": TYPE, "after": [0, missing, parent]}])
    with transaction(conn), pytest.raises(ValueError, match="after: cycle job 0 → job 2 → job 1 → job 0: nothing enqueued"):  # fmt: skip
        enqueue_many(conn, [{"job_type": TYPE, "after": [2]}, {"job_type": TYPE, "after": [0]},
                            {"job_type": TYPE, "after": [1]}])  # fmt: skip
    with transaction(conn), pytest.raises(ValueError, match="job 0: after: a job cannot wait for itself"):  # fmt: skip
        enqueue_many(conn, [{"job_type": TYPE, "after": [0]}])
    with pytest.raises(TypeError, match="enqueue: after: 0 is an index"):
        enqueue(conn, job_type=TYPE, after=[0])
    with pytest.raises(ValueError, match="on_parent_failure must be 'fail' or 'run'"):
        enqueue(conn, job_type=TYPE, after=[parent], on_parent_failure="skip")
    assert scalar(conn, "SELECT count(*) FROM processing_jobs") == 1
    assert scalar(conn, "SELECT count(*) FROM jobsup_edges") == 0


def test_a_chain_in_one_list_runs_link_by_link(conn: Connection) -> None:
    with transaction(conn):
        ids = enqueue_many(conn, [{"job_type": TYPE}, {"job_type": TYPE, "after": [0]},
                                  {"job_type": TYPE, "after": [1]}])  # fmt: skip
    for n, job_id in enumerate(ids):
        claimed = _claim(conn)
        assert set(claimed) == {job_id}, f"link {n}"
        _end(conn, claimed)
    assert _claim(conn) == {}


def test_a_fenced_late_write_unblocks_nothing(conn: Connection) -> None:
    parent = _job(conn)
    child = _job(conn, after=[parent])
    old = _claim(conn)
    with conn.cursor() as cur:  # the seed's emergency reset, then another claim
        cur.execute("UPDATE processing_jobs SET status = 'pending', started_at = NULL "
                    "WHERE status = 'processing'")  # fmt: skip
    new = _claim(conn, worker=B)
    assert _end(conn, old) == set()  # the late result of the first claim
    assert _state(conn, child) == ("pending", 1)
    assert _state(conn, parent)[0] == "processing"
    assert _end(conn, new, worker=B) == {parent}
    assert _state(conn, child) == ("pending", 0)


def test_the_last_two_parents_ending_at_once_unblock_the_child_exactly_once(
    db_url: str, conn: Connection
) -> None:
    """Two supervisors write the last two parents in two transactions at the same moment:
    the second waits for the first's lock on the child and takes one off what it wrote."""
    for _ in range(20):
        first, second = _job(conn), _job(conn)
        child = _job(conn, after=[first, second])
        claims = [dict([c]) for c in _claim(conn).items()]
        start = threading.Barrier(2)

        def write(claim: dict[str, int], worker: str, start: threading.Barrier = start) -> None:
            c = connect(db_url)
            with c.cursor() as cur:
                cur.execute("UPDATE processing_jobs SET worker_id = %s WHERE id = %s",
                            (worker, next(iter(claim))))  # fmt: skip
            start.wait()
            assert _end(c, claim, worker=worker) == set(claim)
            c.close()

        threads = [threading.Thread(target=write, args=(claims[0], A)),
                   threading.Thread(target=write, args=(claims[1], B))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert _state(conn, child) == ("pending", 0)
        assert set(_claim(conn)) == {child}
        _end(conn, {child: scalar(conn, "SELECT lease FROM processing_jobs WHERE id = %s", child)})


def test_a_failed_parent_fails_its_children_down_the_line_unless_they_run_anyway(
    conn: Connection,
) -> None:
    parent = _job(conn)
    child = _job(conn, after=[parent])
    grandchild = _job(conn, after=[child])
    runs = _job(conn, after=[parent], on_parent_failure="run")
    edge_runs = _job(conn, after=[{"job": parent, "on_parent_failure": "run"}])
    _end(conn, _claim(conn), "failed", error="ValueError: bad row 7\nTraceback …")
    short = parent[:8]
    assert rows(conn, "SELECT status, error_message FROM processing_jobs WHERE id = %s", child) == [
        ("failed", f"parent {short} failed: ValueError: bad row 7")]  # fmt: skip
    assert rows(conn, "SELECT status, error_message FROM processing_jobs WHERE id = %s", grandchild) == [
        ("failed", f"parent {child[:8]} failed: parent {short} failed: ValueError: bad row 7")]  # fmt: skip
    assert set(_claim(conn)) == {runs, edge_runs}


def test_cancel_of_a_parent_fails_or_frees_its_children(conn: Connection, db_url: str) -> None:
    from tests.fixtures.commands import jobsup

    parent = _job(conn)
    child = _job(conn, after=[parent])
    runs = _job(conn, after=[parent], on_parent_failure="run")
    done = jobsup("jobs", "cancel", parent, env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    (status, error), = rows(conn, "SELECT status, error_message FROM processing_jobs "
                           "WHERE id = %s", child)  # fmt: skip
    assert status == "failed" and error.startswith(f"parent {parent[:8]} was cancelled")
    assert _state(conn, runs) == ("pending", 0)


def test_a_parent_retried_by_hand_blocks_again_the_children_that_had_not_run(
    conn: Connection, db_url: str
) -> None:
    from tests.fixtures.commands import jobsup

    parent = _job(conn)
    child = _job(conn, after=[parent])
    runs = _job(conn, after=[parent], on_parent_failure="run")
    _end(conn, _claim(conn), "failed", error="boom")
    assert _state(conn, child)[0] == "failed" and _state(conn, runs) == ("pending", 0)
    done = jobsup("jobs", "retry", parent, env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert _state(conn, parent) == ("pending", 0)
    assert _state(conn, child) == ("pending", 1)  # failed because of it: waits for it again
    assert _state(conn, runs) == ("pending", 1)
    assert set(_claim(conn)) == {parent}


def test_the_seeds_reset_sql_leaves_children_neither_free_nor_stuck(conn: Connection) -> None:
    """The seed's "clear failed jobs for retry" puts the parent and the child it failed back
    to pending in one statement: the child waits for the parent, then runs."""
    parent = _job(conn)
    child = _job(conn, after=[parent])
    _end(conn, _claim(conn), "failed", error="boom")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET status = 'pending', retry_count = 0, "
                    "error_message = NULL WHERE status = 'failed'")  # fmt: skip
    assert _state(conn, child) == ("pending", 1)
    claimed = _claim(conn)
    assert set(claimed) == {parent}
    _end(conn, claimed)
    assert set(_claim(conn)) == {child}


def test_reclaim_that_gives_up_fails_the_children(conn: Connection, db_url: str) -> None:
    from tests.fixtures.commands import jobsup

    parent = _job(conn)
    child = _job(conn, after=[parent])
    _claim(conn)
    with conn.cursor() as cur:  # left processing by the original cron, its attempts spent
        cur.execute("UPDATE processing_jobs SET worker_id = NULL, retry_count = 3, "
                    "started_at = localtimestamp - interval '2 hours' WHERE id = %s",
                    (parent,))  # fmt: skip
    done = jobsup("jobs", "reclaim", "--older-than", "1h", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert _state(conn, parent)[0] == "failed"
    assert _state(conn, child)[0] == "failed"


def test_prune_and_delete_keep_the_counts(conn: Connection, db_url: str) -> None:
    from tests.fixtures.commands import jobsup

    parent = _job(conn)
    _end(conn, _claim(conn))
    child = _job(conn, after=[parent])
    pending_parent = _job(conn)
    other = _job(conn, after=[pending_parent, child])
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET completed_at = localtimestamp - interval '40 days' "
                    "WHERE id = %s", (parent,))  # fmt: skip
    done = jobsup("jobs", "prune", "--older-than", "30d", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert scalar(conn, "SELECT count(*) FROM processing_jobs WHERE id = %s", parent) == 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_edges WHERE parent = %s", parent) == 0
    assert _state(conn, child) == ("pending", 0)
    with conn.cursor() as cur:  # a pending parent deleted by hand: its child stops waiting for it
        cur.execute("DELETE FROM processing_jobs WHERE id = %s", (pending_parent,))
    assert _state(conn, other) == ("pending", 1)


def test_a_truncate_takes_the_edges_and_batches_with_the_jobs(conn: Connection) -> None:
    from supervisor.api import enqueue_batch

    with transaction(conn):
        enqueue_batch(conn, [{"job_type": TYPE}], then={"job_type": TYPE})
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs CASCADE")
    assert scalar(conn, "SELECT count(*) FROM jobsup_edges") == 0
    assert scalar(conn, "SELECT count(*) FROM jobsup_batches") == 0
