"""The dashboard's actions on one job: the functions `jobsup jobs retry | cancel | reclaim`
call, with the lines they print. `client` is the address the request came from: a cancel
records it, as `jobs cancel` records who ran it."""

from __future__ import annotations

import socket
from collections.abc import Callable

from supervisor.config import Config
from supervisor.db.connect import Connection
from supervisor.ops import job_admin


def retry(conn: Connection, cfg: Config, job_id: str, client: str) -> str:
    return job_admin.retry(conn, [job_id])[0].describe("retried")


def cancel(conn: Connection, cfg: Config, job_id: str, client: str) -> str:
    why = f"cancelled from the dashboard (jobsup web on {socket.gethostname()}, by {client})"
    return job_admin.cancel(conn, [job_id], why)[0].describe("cancelled")


def reclaim(conn: Connection, cfg: Config, job_id: str, client: str) -> str:
    """`jobs reclaim`: every stuck job, this one among them if its supervisor is dead."""
    sup = cfg.supervisor
    found = job_admin.reclaim(conn, sup.stale_after, sup.orphan_after, cfg.retry.max_retries)
    mine = [c for c in found.jobs if c.id == job_id]
    if mine:
        text = f"reclaimed {job_id}: now {mine[0].now} ({mine[0].note})"
    else:
        text = (
            f"not reclaimed {job_id}: it is not processing, or its supervisor is alive "
            f"(a job with no owner is reclaimed after {sup.orphan_after:g} s)"
        )
    others = len(found.jobs) - len(mine)
    return text + (f"; {others} other stuck jobs reclaimed too" if others else "")


Action = Callable[[Connection, Config, str, str], str]  # the line a person reads

ACTIONS: dict[str, Action] = {
    "retry": retry,
    "cancel": cancel,
    "reclaim": reclaim,
}
