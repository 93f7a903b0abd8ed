"""The pool's side of progress and steps against a fake fork server and a fake clock: what
the loop hands the database thread (progress at most once a second a job, the last one
when the runner ends; every step), the answers the runners get, and what is written again
when a request fails. No PostgreSQL, no runner forked."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runner import protocol
from tests.fixtures.pool_rig import Rig, job
from tests.flow.frames import progress_frame

pytestmark = pytest.mark.unit


@pytest.fixture
def rig() -> Iterator[Rig]:
    from tests.fixtures.fakes import no_children

    with no_children():
        rig = Rig()
        yield rig
        rig.spawner.close_all()
        rig.selector.close()


def send(rig: Rig, job_id: str, data: bytes) -> None:
    os.write(rig.spawner.writers[job_id][0], data)
    assert rig.reap() == []


def answer(rig: Rig, job_id: str) -> dict[str, object] | None:
    fd = rig.spawner.writers[job_id][0]
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return None
    return protocol.decode_frame(data[protocol.HEADER.size :])


def test_progress_is_handed_over_once_a_second_and_the_last_at_the_end(rig: Rig) -> None:
    rig.run(job(1), 4001)
    send(rig, "job-1", progress_frame(1, 10, "a"))
    assert rig.pool.updates_due(rig.clock())
    (row,) = rig.pool.updates(rig.clock()).progress
    assert row == {"id": "job-1", "lease": 101, "progress": {"done": 1, "total": 10, "note": "a"}}
    send(rig, "job-1", progress_frame(2, 10) + progress_frame(3, 10))
    assert not rig.pool.updates_due(rig.clock())  # within the second: it waits
    assert rig.pool.progress_deadline() == rig.clock() + 1.0
    rig.clock.advance(1.0)
    assert [r["progress"]["done"] for r in rig.pool.updates(rig.clock()).progress] == [3]
    send(rig, "job-1", progress_frame(4, 10))
    rig.spawner.finish("job-1", 4001, protocol.success([]))
    (outcome,) = rig.reap()
    assert outcome.status == "completed"
    assert [r["progress"]["done"] for r in rig.pool.updates(rig.clock()).progress] == [4]


def test_a_step_is_answered_stored_or_refused(rig: Rig) -> None:
    rig.run(job(1), 4001)
    rig.run(job(2), 4002)
    send(rig, "job-1", protocol.message("step", {"name": "s", "result": [1]}))
    send(rig, "job-2", protocol.message("step", {"name": "t", "result": None}))
    updates = rig.pool.updates(rig.clock())
    assert [(s.job_id, s.lease, s.name, s.result) for s in updates.steps] == [
        ("job-1", 101, "s", [1]), ("job-2", 102, "t", None)
    ]  # fmt: skip
    rig.pool.written(updates, {("job-1", 101, "s"): None, ("job-2", 102, "t"): "fenced"})
    assert answer(rig, "job-1") == {"step": "s", "stored": True}
    assert answer(rig, "job-2") == {"step": "t", "stored": False, "error": "fenced"}
    assert not rig.pool.updates(rig.clock())


def test_what_a_failed_request_carried_is_handed_over_again(rig: Rig) -> None:
    rig.run(job(1), 4001)
    send(rig, "job-1", progress_frame(5, 10) + protocol.message("step", {"name": "s", "result": 1}))
    updates = rig.pool.updates(rig.clock())
    rig.pool.written(updates, None)  # the database did not answer
    assert answer(rig, "job-1") is None  # the handler still waits
    again = rig.pool.updates(rig.clock() + 1.0)
    assert [s.name for s in again.steps] == ["s"]
    assert [r["progress"]["done"] for r in again.progress] == [5]
