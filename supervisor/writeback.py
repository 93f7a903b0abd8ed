"""Writing outcomes: in one statement when it can, one by one when the database refuses."""

from __future__ import annotations

import dataclasses

import psycopg2
from loguru import logger

from supervisor import store
from supervisor.db import describe
from supervisor.logs import job_logger
from supervisor.session import Session, Unavailable
from supervisor.store import Outcome


def write(session: Session, worker_id: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Write `outcomes`; the ones left to write later (the database is unavailable)."""
    try:
        written = session.call(store.finish, worker_id, outcomes)
        later: list[Outcome] = []
    except Unavailable:
        return outcomes
    except psycopg2.Error as e:
        logger.error("writing {} results failed: {}; one by one", len(outcomes), describe(e))
        written, later = _one_by_one(session, worker_id, outcomes)
    pending = {o.job_id for o in later}
    for outcome in outcomes:
        if outcome.job_id not in written and outcome.job_id not in pending:
            job_logger(outcome.job_id).warning("result discarded: the job is no longer ours")
    return later


def _one_by_one(
    session: Session, worker_id: str, outcomes: list[Outcome]
) -> tuple[set[str], list[Outcome]]:
    """Each outcome alone; one the database refuses (bad insights) fails its job instead."""
    written: set[str] = set()
    later: list[Outcome] = []
    for outcome in outcomes:
        try:
            written |= session.call(store.finish, worker_id, [outcome])
            continue
        except Unavailable:
            later.append(outcome)
            continue
        except psycopg2.Error as e:
            message = f"could not store the result: {describe(e)}"
        job_logger(outcome.job_id).error("failed: {}", message)
        failure = Outcome(outcome.job_id, "failed", outcome.retry_count, message)
        later.append(dataclasses.replace(failure, attempt=outcome.attempt))
    return written, later
