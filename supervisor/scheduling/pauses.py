"""Paused job types (`jobsup pause` / `jobsup resume`): kept in the database, so a pause
holds on every host and across restarts. The claim leaves paused types alone
(`claim` in sql/queries.sql); their running jobs finish. '*' stands for every type."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supervisor.db.connect import Connection
from supervisor.scheduling.periodic_store import SQL

ALL = "*"


@dataclass(frozen=True)
class Paused:
    job_type: str  # '*': all types
    paused_at: datetime
    paused_by: str | None


def pause(conn: Connection, job_types: Sequence[str]) -> list[str]:
    """Pause `job_types` (['*']: all); the ones that were not paused already."""
    with conn.cursor() as cur:
        cur.execute(SQL["pause"], {"types": list(job_types), "by": _who()})
        return [t for (t,) in cur.fetchall()]


def resume(conn: Connection, job_types: Sequence[str], everything: bool = False) -> list[str]:
    """Resume `job_types` (everything: every pause, '*' included); the ones that were paused.
    Supervisors serving them are woken at once."""
    with conn.cursor() as cur:
        cur.execute(SQL["resume"], {"types": list(job_types), "all": everything})
        return [t for t, _ in cur.fetchall()]


def paused(conn: Connection) -> list[Paused]:
    with conn.cursor() as cur:
        cur.execute(SQL["paused"])
        return [Paused(*row) for row in cur.fetchall()]


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"
