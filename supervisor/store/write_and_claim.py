"""One round trip of the loop to the database: write the outcomes that waited, then claim
what the free slots can take. A request for the database thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg2

from supervisor.config.flow import RateLimit
from supervisor.db.connect import Connection
from supervisor.errors import describe, refuses_writes
from supervisor.runners.jobrow import ClaimedJob, Unusable
from supervisor.runners.messages import Answers, Updates
from supervisor.runners.outcome import Outcome
from supervisor.store import statements as store
from supervisor.store import writeback
from supervisor.store.writeback import Written


@dataclass(frozen=True)
class Ask:
    """A claim: up to `limit` jobs of `job_types` (those served), none of `busy`."""

    limit: int
    job_types: Sequence[str]
    busy: Sequence[str]
    until_empty: bool  # when nothing is claimed, also ask whether anything falls due soon
    horizon: float  # that soon (seconds)
    capped: Mapping[str, int] = field(default_factory=dict)  # job type: max_running
    rates: Mapping[str, RateLimit] = field(default_factory=dict)  # job type: rate_limit
    fair: bool = True  # the claim with keyed jobs (claim_fair); False: unkeyed only


@dataclass
class Turn:
    written: Written = field(default_factory=lambda: Written(set()))
    claimed: list[ClaimedJob | Unusable] | None = None  # None: no claim asked, or refused
    next_due: float | None = None  # seconds until the next pending job falls due
    anything_soon: bool = True  # with until_empty: a job falls due within the horizon
    keyed: bool = False  # keyed jobs (fair_key) were claimed or are pending
    error: str | None = None  # the claim the database refused
    # Each step's result sent (StepResult.key): None once stored, else why it is not.
    steps: Answers = field(default_factory=dict)


def run(
    conn: Connection,
    worker_id: str,
    outcomes: Sequence[Outcome],
    ask: Ask | None,
    updates: Updates | None = None,
) -> Turn:
    """Write `updates` (progress, steps: before the outcomes that end their jobs) and
    `outcomes`, then claim as `ask` says. A lost connection raises; a claim the database
    refuses is reported in `error`, after the outcomes were written."""
    turn = Turn()
    if updates:
        turn.steps = _write_updates(conn, worker_id, updates)
    if outcomes:
        turn.written = writeback.write(conn, worker_id, outcomes)
    if ask is None:
        return turn
    try:
        taken = store.claim_taking(conn, worker_id, ask.limit, ask.job_types, ask.busy,
                                   ask.capped, ask.rates, ask.fair)  # fmt: skip
        turn.claimed, turn.keyed = taken.jobs, taken.keyed
    except psycopg2.Error as e:
        # Else say what was written: a claim is no loss.
        if (conn.closed or refuses_writes(e)) and not outcomes:
            raise
        turn.error = f"claim failed: {describe(e)}"
        return turn
    if len(turn.claimed) < ask.limit:  # the claimed jobs are ours now, whatever comes next
        try:
            turn.next_due, keyed = store.due(conn, ask.job_types, ask.busy, ask.capped,
                                             ask.rates)  # fmt: skip
            turn.keyed = turn.keyed or keyed
            if ask.until_empty and not turn.claimed:
                turn.anything_soon = store.runnable_within(conn, ask.horizon, ask.job_types)
        except psycopg2.Error as e:
            turn.error = f"looking for the next due job failed: {describe(e)}"
    return turn


def _write_updates(conn: Connection, worker_id: str, updates: Updates) -> Answers:
    """Write `updates` together; when the database refuses (a result it cannot store as
    jsonb), each step alone, so that one bad result fails only its own step."""
    try:
        return store.step_errors(store.write_updates(conn, worker_id, updates), updates.steps)
    except psycopg2.Error:
        if conn.closed:
            raise
    answers: Answers = {}
    for step in updates.steps:
        try:
            stored = store.write_updates(conn, worker_id, Updates(steps=[step]))
            answers |= store.step_errors(stored, [step])
        except psycopg2.Error as e:
            if conn.closed:
                raise
            answers[step.key] = f"the database refused it: {describe(e)}"
    return answers
