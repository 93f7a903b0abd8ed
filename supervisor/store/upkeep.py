"""A heartbeat's work against the database, as one request for the database thread: renew
this supervisor's row, reclaim what dead peers held, find which of its own claims no
longer hold their jobs, enqueue the periodic slots that fell due, fold the history rollup's
deltas, and prune finished jobs by the retention policy when that is due."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg2

from supervisor.config.model import RetentionConfig
from supervisor.db.connect import Connection
from supervisor.errors import describe, refuses_writes
from supervisor.identity import Identity
from supervisor.scheduling import pauses, periodic_store
from supervisor.scheduling.periodic import Schedule
from supervisor.store import history, retention
from supervisor.store import statements as store

T = TypeVar("T")


@dataclass(frozen=True)
class Beat:
    """What the loop knows when it asks for a heartbeat."""

    state: str
    slots: int
    job_types: Sequence[str]  # the types served: registered, and the only ones reclaimed
    config_name: str
    figures: list[dict[str, Any]]  # per runner, for `jobsup ps`
    claims: Mapping[str, int]  # job id: lease, of every runner it runs
    known: Mapping[str, int]  # those and the claims whose outcome waits to be written
    pids: Mapping[tuple[str, int], int]  # (job id, lease): runner pid
    watched: float  # seconds connected without a break: who may judge a peer's silence
    stale_after: float
    orphan_after: float
    max_retries: int
    count_queue: bool  # also count the queue (for the metrics)
    type_retries: Mapping[str, int] = field(default_factory=dict)  # a type's own max_retries
    periodic: Sequence[tuple[Schedule, datetime]] = ()  # schedules, and since when watched
    retention: RetentionConfig | None = None  # prune by it now (None: not due)


@dataclass
class Found:
    renewed: bool = False  # the heartbeat was written: the lease holds
    registered_again: bool = False  # the row was gone (declared dead meanwhile)
    reclaimed: store.Reclaimed | None = None
    lost: dict[str, str | None] = field(default_factory=dict)  # job id: its status now
    released: list[str] = field(default_factory=list)  # held, never run here: given back
    queue: store.Queue | None = None
    enqueued: list[periodic_store.Enqueued] = field(default_factory=list)  # periodic slots
    paused: list[pauses.Paused] | None = None  # with the queue: the paused job types
    retained: retention.Retained | None = None  # what the retention policy pruned
    errors: list[str] = field(default_factory=list)  # steps the database refused
    database_now: datetime | None = None  # the database's clock as the beat began
    refused: str | None = None  # the database refuses writes (read-only, disk full): why
    others_write: bool = False  # ...while a peer's heartbeat goes through (not the same one)


def beat(conn: Connection, me: Identity, asked: Beat) -> Found:
    """Each step on its own: one the database refuses is reported, the others still run.
    A lost connection raises (the whole heartbeat is then unavailable)."""
    found = Found()

    def step(what: str, action: Callable[..., T], *args: Any) -> T | None:
        try:
            return action(conn, *args)
        except psycopg2.Error as e:
            if conn.closed:
                raise
            found.errors.append(f"{what} failed: {describe(e)}")
            return None

    found.database_now = step("the database's clock", periodic_store.database_now)
    try:
        alive: bool | None = store.heartbeat(conn, me, asked.state, asked.slots, asked.figures,
                                             asked.job_types)  # fmt: skip
    except psycopg2.Error as e:
        if conn.closed:
            raise
        if refuses_writes(e):
            return _refused(conn, me, asked, found, describe(e))
        found.errors.append(f"heartbeat failed: {describe(e)}")
        alive = None
    found.renewed = alive is not None
    if alive is False:
        found.registered_again = True
        step("register", store.register, me, asked.slots, asked.job_types, asked.config_name)
    found.reclaimed = step("reclaim", store.reclaim, me, asked.stale_after, asked.orphan_after,
                           asked.max_retries, asked.watched, asked.type_retries,
                           asked.job_types)  # fmt: skip
    if asked.claims:
        found.lost = step("ownership check", store.owned, me.id, asked.claims) or {}
    found.released = step("release unrun jobs", store.release_unrun, me.id, asked.known) or []
    if asked.pids:
        step("set runner pids", store.set_runner_pids, me.id, asked.pids)
    if asked.count_queue:
        found.queue = step("queue", store.queue)
        found.paused = step("paused types", pauses.paused)
    if asked.periodic:
        found.enqueued = step("periodic jobs", periodic_store.enqueue_due, asked.periodic) or []
    step("choosing plans", store.plan_for_size)
    step("history rollup", history.fold)
    policy = asked.retention
    if policy is not None:
        found.retained = step("retention", retention.apply, policy.ages(), policy.batch_size,
                              policy.budget)  # fmt: skip
    return found


def _refused(conn: Connection, me: Identity, asked: Beat, found: Found, why: str) -> Found:
    """The heartbeat was refused by a database that refuses writes: only what reads can
    learn. No peer can reclaim through such a database either; one whose heartbeat goes
    through meanwhile reaches another (this one a standby reached by mistake)."""
    found.refused = why
    try:
        found.others_write = store.peers_writing(conn, me.id, asked.stale_after)
        if asked.claims:
            found.lost = store.owned(conn, me.id, asked.claims)
    except psycopg2.Error as e:
        if conn.closed:
            raise
        found.errors.append(f"reading while writes are refused failed: {describe(e)}")
    # A session keeps the read-only default it started with (ALTER DATABASE … RESET does not
    # reach it), and a multi-host URL finds the primary only on connecting: connect again.
    conn.close()
    return found
