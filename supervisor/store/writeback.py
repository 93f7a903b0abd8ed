"""Writing outcomes: in one statement when it can, one by one when the database refuses.

Runs on the database thread (`loop/database.py`): it only talks to the database;
what to log about it is the loop's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg2

from supervisor.db.connect import Connection
from supervisor.errors import describe, refuses_writes
from supervisor.runners.outcome import Outcome
from supervisor.store import statements as store


@dataclass(frozen=True)
class Written:
    ids: set[str]  # the jobs whose outcome is now stored
    refused: dict[str, str] = field(default_factory=dict)  # job id: why it failed instead


def write(conn: Connection, worker_id: str, outcomes: Sequence[Outcome]) -> Written:
    """Write `outcomes`; a psycopg2.Error only when the connection is lost."""
    try:
        return Written(store.finish(conn, worker_id, outcomes))
    except psycopg2.Error as e:
        if conn.closed or refuses_writes(e):  # one by one would be refused as well
            raise
    return _one_by_one(conn, worker_id, outcomes)


def _one_by_one(conn: Connection, worker_id: str, outcomes: Sequence[Outcome]) -> Written:
    """Each outcome alone; one the database refuses (bad insights) fails its job instead."""
    written: set[str] = set()
    refused: dict[str, str] = {}
    for outcome in outcomes:
        try:
            written |= store.finish(conn, worker_id, [outcome])
            continue
        except psycopg2.Error as e:
            if conn.closed:
                raise
            message = f"could not store the result: {describe(e)}"
        failure = dataclasses.replace(outcome, status="failed", error=message, keep_error=False,
                                      delay=0.0, insights=[])  # fmt: skip
        written |= store.finish(conn, worker_id, [failure])
        refused[outcome.job_id] = message
    return Written(written, refused)
