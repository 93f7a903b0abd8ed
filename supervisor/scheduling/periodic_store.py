"""Periodic slots in the database: each enqueued exactly once, whoever serves the schedule.

The SQL is in `sql/scheduling.sql`; which slots are due is `scheduling/periodic.py`'s.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from supervisor.db.connect import Connection
from supervisor.db.queries import load
from supervisor.scheduling import periodic
from supervisor.scheduling.periodic import Schedule

SQL = load("scheduling.sql")


@dataclass(frozen=True)
class Enqueued:
    name: str
    slot: datetime
    job_id: str


def enqueue_due(
    conn: Connection, watched: Sequence[tuple[Schedule, datetime]], now: datetime | None = None
) -> list[Enqueued]:
    """Enqueue the due slots of the `watched` schedules (each with the time this supervisor
    began watching it); the jobs this call created (none for a slot a peer took first)."""
    if not watched:
        return []
    now = now or database_now(conn)
    last = last_slots(conn, [s.name for s, _ in watched])
    enqueued = []
    for schedule, since in watched:
        for slot in periodic.due(schedule, last.get(schedule.name), since, now):
            job_id = enqueue_slot(conn, schedule, slot)
            if job_id is not None:
                enqueued.append(Enqueued(schedule.name, slot, job_id))
    return enqueued


def last_slots(conn: Connection, names: Sequence[str]) -> dict[str, datetime]:
    with conn.cursor() as cur:
        cur.execute(SQL["last_slots"], {"names": list(names)})
        return {name: slot for name, slot in cur.fetchall()}


def enqueue_slot(conn: Connection, schedule: Schedule, slot: datetime) -> str | None:
    """The id of the job for `slot` if this call enqueued it; None if it was already taken."""
    params = {
        "name": schedule.name,
        "slot": slot,
        "job_id": str(uuid.uuid4()),
        "file": schedule.file,
        "description": schedule.description,
        "job_type": schedule.job_type,
        "priority": schedule.priority,
        "metadata": json.dumps(dict(schedule.metadata)),
        "key": schedule.key(slot),
    }
    with conn.cursor() as cur:
        cur.execute(SQL["enqueue_slot"], params)
        row = cur.fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class Recorded:
    """A schedule's row: its last slot and that slot's job."""

    name: str
    last_slot: datetime
    last_job_id: str | None
    enqueued_at: datetime
    last_status: str | None  # None: the job is gone (pruned)


def recorded(conn: Connection) -> dict[str, Recorded]:
    with conn.cursor() as cur:
        cur.execute(SQL["schedules"])
        return {row[0]: Recorded(*row) for row in cur.fetchall()}


def database_now(conn: Connection) -> datetime:
    """The database's clock: a slot falls due by it, whatever the host's clock says (and
    the heartbeat measures the host's offset from it)."""
    with conn.cursor() as cur:
        cur.execute(SQL["database_now"])
        row = cur.fetchone()
    assert row is not None  # nosec B101  # a SELECT without FROM returns a row
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]
