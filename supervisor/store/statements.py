"""The supervisor's database operations; the SQL itself is in `sql/queries.sql`."""

from __future__ import annotations

import contextlib
import json
import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg2.errors
from loguru import logger
from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json

from supervisor import __version__
from supervisor.config.flow import RateLimit, rate_params
from supervisor.config.model import cap_params
from supervisor.db import queries
from supervisor.db.connect import Connection, dict_cursor
from supervisor.db.queries import SQL, prepared
from supervisor.identity import Identity, leftovers
from supervisor.runners.jobrow import ClaimedJob, Unusable, from_row
from supervisor.runners.messages import Answers, StepResult, Updates
from supervisor.runners.outcome import Outcome

# The statements run for every job. Planning them cost more than running them (the claim:
# 0.7 ms to plan, 0.3 ms to run), so the supervisor's connection prepares them, and once the
# queue table is big enough each is planned once for any parameters (a generic plan).
HOT = ("claim_lock_caps", "claim", "claim_fair", "claim_rated", "next_due", "runnable_within",
       "finish")  # fmt: skip
PREPARED = {name: prepared(name, SQL[name]) for name in HOT}
# A generic plan is made for the table as it is when the plan is made. Made on an empty
# table (after a TRUNCATE, its statistics those of the rows it held), every index looked as
# cheap as the next: beside 40,000 rows later, a claim read 120,050 of them; made at 1, 4 or
# 18 pages, 16 to 24. So generic plans only from this size on, checked at connect and at
# each heartbeat; below it, a plan at each call.
GENERIC_FROM_PAGES = 8  # 64 KB: a few hundred rows
# And while a plan is made, sequential scans are off: every table is read through an index,
# as the statements are written to be (tests/store/test_claim_plans.py checks, both ways).
INDEXED = "SET LOCAL enable_seqscan = off"
# Prepared on: connection -> generic plans (None: not chosen yet).
_generic: weakref.WeakKeyDictionary[Connection, bool | None] = weakref.WeakKeyDictionary()


def prepare(conn: Connection) -> None:
    """Prepare the statements run for every job on `conn` (autocommit), with generic plans
    when the queue table is big enough, else planned at each call (`plan_for_size`)."""
    with conn.cursor() as cur:
        for statement in PREPARED.values():
            # Already there: a server session shared through a pooler, the same text.
            with contextlib.suppress(psycopg2.errors.DuplicatePreparedStatement):
                cur.execute(statement.prepare)
    _generic[conn] = None
    plan_for_size(conn)


def plan_for_size(conn: Connection) -> None:
    """Generic plans once processing_jobs has GENERIC_FROM_PAGES pages, made anew then (a
    generic plan made while it was smaller is dropped); plans at each call below that."""
    if conn not in _generic:
        return
    with conn.cursor() as cur:
        cur.execute("SELECT pg_relation_size('processing_jobs') / "
                    "current_setting('block_size')::int")  # fmt: skip
        (pages,) = cur.fetchone()  # type: ignore[misc]
        generic = pages >= GENERIC_FROM_PAGES
        if generic == _generic[conn]:
            return
        if generic and _generic[conn] is not None:  # drop a generic plan made when small
            for statement in PREPARED.values():
                with contextlib.suppress(psycopg2.errors.InvalidSqlStatementName):
                    cur.execute(f"DEALLOCATE {statement.name}")
                cur.execute(statement.prepare)
        mode = "force_generic_plan" if generic else "force_custom_plan"
        cur.execute(f"SET plan_cache_mode = {mode}")
    _generic[conn] = generic


def plans(conn: Connection) -> str:
    """How the statements run for every job are planned on `conn`: "generic" (prepared,
    planned once), "each call" (prepared), or "plain" (not prepared)."""
    if conn not in _generic:
        return "plain"
    return "generic" if _generic[conn] else "each call"


def _execute(cur: Cursor, names: Sequence[str], params: Mapping[str, Any]) -> None:
    """Run the statements `names` as one string (so one transaction), prepared when the
    connection has them."""
    conn = cur.connection
    if conn in _generic:
        try:
            executes = [PREPARED[name].execute for name in names]
            cur.execute(";\n".join([INDEXED, *executes]), params)
            return
        except psycopg2.errors.InvalidSqlStatementName:
            # Gone behind our back: DISCARD ALL, or a pooler in transaction mode. Plain SQL
            # from now on, on this connection.
            del _generic[conn]
            logger.warning(
                "prepared statements vanished from the database session (a connection "
                "pooler in transaction mode?): planning each statement from now on"
            )
    cur.execute(";\n".join(SQL[name] for name in names), params)


@dataclass(frozen=True)
class Claimed:
    jobs: list[ClaimedJob | Unusable]
    keyed: bool  # a job with a fair_key among them


def claim(
    conn: Connection,
    worker_id: str,
    limit: int,
    job_types: Sequence[str],
    busy: Sequence[str] = (),
    capped: Mapping[str, int] | None = None,
    rates: Mapping[str, RateLimit] | None = None,
    fair: bool = True,
) -> list[ClaimedJob | Unusable]:
    """Up to `limit` jobs of `job_types`, now 'processing' and owned by `worker_id`, none
    of those in `busy` (jobs whose earlier runner has not ended here yet), none of a
    paused type, no more of a type in `capped` (job type: max_running) than its cap
    allows across all supervisors, and no more of a type in `rates` than its rate limit
    leaves in its window now; keyed jobs (fair_key) round-robin across their keys (with
    `fair` False, unkeyed jobs only: see `claim_taking`)."""
    return claim_taking(conn, worker_id, limit, job_types, busy, capped, rates, fair).jobs


def claim_taking(
    conn: Connection,
    worker_id: str,
    limit: int,
    job_types: Sequence[str],
    busy: Sequence[str] = (),
    capped: Mapping[str, int] | None = None,
    rates: Mapping[str, RateLimit] | None = None,
    fair: bool = True,
) -> Claimed:
    """`claim`, saying also whether it took a keyed job. `fair` False sends the plain claim
    (the statement as before fair share, unkeyed jobs only, cheaper by the keyed rounds'
    part of the plan): for a supervisor that has seen no keyed job for a while."""
    params = {"limit": limit, "worker_id": worker_id, "busy": list(busy),
              "job_types": list(job_types), **cap_params(capped),
              **rate_params(rates)}  # fmt: skip
    # One string, one transaction: the locks (when any) are released by its commit. The
    # rate windows are read and written only by `claim_rated` (which is fair too).
    statement = "claim_rated" if rates else "claim_fair" if fair else "claim"
    held = capped or rates
    with conn.cursor() as cur:
        _execute(cur, ("claim_lock_caps", statement) if held else (statement,), params)
        rows = cur.fetchall()
    return Claimed([from_row(row) for row in rows], any(row[-1] for row in rows))


def next_due(
    conn: Connection,
    job_types: Sequence[str],
    busy: Sequence[str] = (),
    capped: Mapping[str, int] | None = None,
    rates: Mapping[str, RateLimit] | None = None,
) -> float | None:
    """Seconds until the earliest pending job of `job_types` not in `busy`, of a type
    neither paused nor capped and full, falls due (0: now; None: none); for a type in
    `rates` whose window is full, no earlier than the window has room again."""
    return due(conn, job_types, busy, capped, rates)[0]


def due(
    conn: Connection,
    job_types: Sequence[str],
    busy: Sequence[str] = (),
    capped: Mapping[str, int] | None = None,
    rates: Mapping[str, RateLimit] | None = None,
) -> tuple[float | None, bool]:
    """`next_due`, and whether keyed jobs (fair_key) of `job_types` are pending."""
    params = {"busy": list(busy), "job_types": list(job_types), **cap_params(capped),
              **rate_params(rates)}  # fmt: skip
    with conn.cursor() as cur:
        _execute(cur, ("next_due",), params)
        row = cur.fetchone()
    if row is None:
        return None, False
    return (None if row[0] is None else float(row[0])), bool(row[1])


def runnable_within(conn: Connection, seconds: float, job_types: Sequence[str]) -> bool:
    with conn.cursor() as cur:
        _execute(cur, ("runnable_within",), {"seconds": seconds, "job_types": list(job_types)})
        row = cur.fetchone()
    return bool(row and row[0])


def finish(conn: Connection, worker_id: str, outcomes: Sequence[Outcome]) -> set[str]:
    """Write `outcomes`, with the insights of completed jobs, in one statement.

    Only the claims that still hold their job are written; the ids written are returned.
    """
    insights = [{"job_id": o.job_id, **i} for o in outcomes if o.status == "completed"
                for i in o.insights]  # fmt: skip
    params = {
        "worker_id": worker_id,
        "outcomes": json.dumps([o.row() for o in outcomes]),
        "insights": json.dumps(insights),
    }
    with conn.cursor() as cur:
        _execute(cur, ("finish",), params)
        return {job_id for (job_id,) in cur.fetchall()}


def write_updates(conn: Connection, worker_id: str, updates: Updates) -> set[tuple[str, int]]:
    """Write what running jobs reported: progress, and steps' results; the claims (job id,
    lease) whose steps were stored (the others no longer hold their job)."""
    with conn.cursor() as cur:
        if updates.progress:
            params = {"worker_id": worker_id, "rows": json.dumps(updates.progress)}
            cur.execute(SQL["progress"], params)
        if not updates.steps:
            return set()
        rows = json.dumps([s.row() for s in updates.steps])
        cur.execute(SQL["steps"], {"worker_id": worker_id, "rows": rows})
        return {(job_id, lease) for job_id, lease in cur.fetchall()}


def step_errors(stored: set[tuple[str, int]], steps: Sequence[StepResult]) -> Answers:
    """Each step (by `StepResult.key`): None when stored, else why not."""
    fenced = "the job is no longer under this claim (reset, reclaimed or cancelled meanwhile)"
    return {s.key: None if (s.job_id, s.lease) in stored else fenced for s in steps}


def owned(conn: Connection, worker_id: str, claims: Mapping[str, int]) -> dict[str, str | None]:
    """For each claim in `claims` (job id: lease) that no longer holds its job: the job's
    status now (None: the row is gone)."""
    params = {"worker_id": worker_id, "ids": list(claims), "leases": list(claims.values())}
    with conn.cursor() as cur:
        cur.execute(SQL["owned"], params)
        return {job_id: status for job_id, status, ours in cur.fetchall() if not ours}


def set_runner_pids(conn: Connection, worker_id: str, pids: Mapping[tuple[str, int], int]) -> None:
    """Record the runner pid of each claim ((job id, lease): pid)."""
    params = {
        "worker_id": worker_id,
        "ids": [job_id for job_id, _ in pids],
        "leases": [lease for _, lease in pids],
        "pids": list(pids.values()),
    }
    with conn.cursor() as cur:
        cur.execute(SQL["set_runner_pids"], params)


def release_unrun(conn: Connection, worker_id: str, known: Mapping[str, int]) -> list[str]:
    """Give back the jobs `worker_id` holds under claims it does not know of (`known`: job
    id: lease of the claims it does)."""
    params = {"worker_id": worker_id, "ids": list(known), "leases": list(known.values())}
    with conn.cursor() as cur:
        cur.execute(SQL["release_unrun"], params)
        return [job_id for (job_id,) in cur.fetchall()]


def register(
    conn: Connection, me: Identity, slots: int, job_types: Sequence[str], config: str | None
) -> None:
    """Register this supervisor with the job types it serves (`jobsup ps`, and what no live
    supervisor serves: `report.unserved`)."""
    params = {
        **me.as_params(),
        "slots": slots,
        "job_types": list(job_types),
        "config_path": config,
        "version": __version__,
    }
    with conn.cursor() as cur:
        cur.execute(SQL["register"], params)


def heartbeat(
    conn: Connection,
    me: Identity,
    state: str,
    slots: int,
    runners: list[dict[str, Any]],
    job_types: Sequence[str],
) -> bool:
    """Refresh this supervisor's row (with the job types it serves now: a SIGHUP may have
    changed them); False when the row is gone (register again)."""
    with conn.cursor() as cur:
        cur.execute(
            SQL["heartbeat"],
            {
                "id": me.id,
                "state": state,
                "slots": slots,
                "job_types": list(job_types),
                "running": len(runners),
                "runners": Json(runners),
            },
        )
        return cur.fetchone() is not None


def peers_writing(conn: Connection, worker_id: str, stale_after: float) -> bool:
    """Whether a peer's heartbeat went through well after this supervisor's last one."""
    with conn.cursor() as cur:
        cur.execute(SQL["peers_writing"], {"id": worker_id, "margin": stale_after / 4})
        row = cur.fetchone()
    return bool(row and row[0])


def deregister(conn: Connection, me: Identity) -> None:
    with conn.cursor() as cur:
        cur.execute(SQL["deregister"], {"id": me.id})


@dataclass(frozen=True)
class Reclaimed:
    dead_workers: list[tuple[str, str, int, str]]  # id, host, pid, what was observed
    jobs: list[tuple[str, str, str, str]]  # id, new status, error_message, job type


def reclaim(
    conn: Connection,
    me: Identity,
    stale_after: float,
    orphan_after: float,
    max_retries: int,
    watched: float = math.inf,
    type_retries: Mapping[str, int] | None = None,
    job_types: Sequence[str] | None = None,
) -> Reclaimed:
    """Declare dead the supervisors that are, and take back the jobs they held of
    `job_types` (a supervisor's: those it serves; None: every type, `jobs reclaim`).

    Silence is judged only by one that has been connected for `watched` >= `stale_after`
    seconds; a gone process on this host at once.
    """
    with conn.cursor() as cur:
        cur.execute(SQL["same_host_workers"], {"host_key": me.host_key, "id": me.id})
        gone = [(wid, pid) for wid, pid, started in cur.fetchall()
                if not me.sibling_alive(pid, started)]  # fmt: skip
        params = {"stale_after": stale_after, "gone": _without_leftovers(cur, gone),
                  "watched": min(watched, 1e12)}  # fmt: skip
        cur.execute(SQL["mark_dead"], params)
        dead = [(wid, host, pid, why) for wid, host, pid, why in cur.fetchall()]
        types = type_retries or {}
        cur.execute(SQL["reclaim"], {"orphan_after": orphan_after, "max_retries": max_retries,
                                     "retry_types": list(types),
                                     "retry_maxes": list(types.values()),
                                     "job_types": None if job_types is None
                                     else list(job_types)})  # fmt: skip
        jobs = [(jid, status, error, job_type) for jid, status, error, job_type in cur.fetchall()]
        cur.execute(SQL["forget_workers"])
    return Reclaimed(dead, jobs)


def _without_leftovers(cur: Cursor, gone: list[tuple[str, int]]) -> list[str]:
    """Of the same-host supervisors whose process is gone, those none of whose runners can
    still run: one with a leftover (see `identity.leftovers`, which SIGKILLs its runners) is
    judged again at the next heartbeat, and silence for stale_after declares it dead anyway."""
    if not gone:
        return []
    cur.execute(SQL["held_jobs"], {"ids": [wid for wid, _ in gone]})
    held: dict[str, list[str]] = {}
    for wid, job_id in cur.fetchall():
        held.setdefault(wid, []).append(job_id)
    settled = []
    for wid, pid in gone:
        if left := leftovers(pid, held.get(wid, [])):
            pids = ", ".join(map(str, left))
            logger.info(f"supervisor pid {pid} is gone, not yet its processes ({pids}): "
                        "it is declared dead once they are")  # fmt: skip
        else:
            settled.append(wid)
    return settled


# The queue's figures for the metrics each heartbeat, and for `jobsup status` (ops/report).
ADMIN_SQL = queries.load("admin.sql")


@dataclass(frozen=True)
class Queue:
    runnable: int  # pending and due
    scheduled: int  # pending, due later (retry backoff, delayed jobs)
    processing: int
    blocked: int  # pending, waiting for parents to end (jobsup_edges)
    oldest_pending: float | None  # seconds the longest-waiting runnable job has waited
    completed_last_hour: int
    failed_last_hour: int
    rate_limits: list[dict[str, Any]] = field(default_factory=list)  # `rate_limits()`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def queue(conn: Connection) -> Queue:
    """The queue now; index-only reads, cheap enough for every heartbeat."""
    with dict_cursor(conn) as cur:
        cur.execute(ADMIN_SQL["queue"])
        row = cur.fetchone()
    assert row is not None  # nosec B101  # an aggregate always returns a row
    return Queue(**row, rate_limits=rate_limits(conn))


def rate_limits(conn: Connection) -> list[dict[str, Any]]:
    """Each rate-limited job type's window now: job_type, max_starts, period (seconds),
    started (within the period), waiting (runnable jobs held back), reopens_in (seconds),
    limit (as configured: "60/minute")."""
    with dict_cursor(conn) as cur:
        cur.execute(ADMIN_SQL["rate_limits"])
        found = [dict(row) for row in cur.fetchall()]
    for window in found:  # "60/minute", as configured
        window["limit"] = str(RateLimit(window["max_starts"], window["period"]))
    return found
