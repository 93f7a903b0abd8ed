"""The database connection's life as the loop sees it: connect, lost, back off, connect
again; and what the database thread posted, turned into notices the loop acts on.

The thread owns the connection itself (loop/database.py); a session only knows whether
there is one, since when, and when to try again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from supervisor import logs
from supervisor.db.connect import Backoff
from supervisor.loop.database import Done, Event, Lost, Request, Unavailable
from supervisor.metrics import METRICS


@dataclass(frozen=True)
class Connected:
    """A new connection: registered by `on_connect`, as good as a heartbeat."""

    at: float  # monotonic


@dataclass(frozen=True)
class Pending:
    """A job of `job_type` became runnable (NOTIFY jobsup_pending; "*": any type)."""

    job_type: str


@dataclass(frozen=True)
class CheckOwned:
    """Someone changed this supervisor's jobs (NOTIFY jobsup_control): check which it holds."""


Notice = Done[Any] | Connected | Pending | CheckOwned


class Session:
    def __init__(self, worker_id: str, stale_after: float = 60.0) -> None:
        self.worker_id = worker_id
        self.number = 0  # the connection last seen; 0: none yet
        self.since: float | None = None  # monotonic; None: not connected
        # After an outage, peers judge silence once connected for stale_after: retry well
        # within it, or a live supervisor still backing off is declared dead.
        self.backoff = Backoff(base=0.5, maximum=min(30.0, stale_after / 4))
        self.retry_at = 0.0

    @property
    def connected(self) -> bool:
        return self.since is not None

    def watched(self, now: float) -> float:
        """Seconds connected without a break: who may judge a peer's silence."""
        return now - (self.since or now)

    def request(self, now: float) -> Request[None] | None:
        """A connect attempt, when the backoff allows one."""
        return Request("connect", None) if now >= self.retry_at else None

    def notices(self, events: Iterable[Event], now: float) -> list[Notice]:
        """What the thread posted, as the loop acts on it; the connection's news is taken
        here (a Done that found a new connection also gives a Connected before it)."""
        notices: list[Notice] = []
        for event in events:
            if isinstance(event, Done):
                if isinstance(event.error, Unavailable):
                    self.lost(str(event.error), now)
                elif event.connection and event.connection != self.number:
                    notices.append(self.connected_to(event.connection, now))
                if event.request.action is not None:  # a bare connect has nothing more
                    notices.append(event)
            elif isinstance(event, Lost):
                self.lost(event.reason, now)
            elif event.channel == "jobsup_control" and event.payload == self.worker_id:
                logs.event("notify").debug("control notification: checking which jobs are ours")
                notices.append(CheckOwned())
            elif event.channel == "jobsup_pending":
                notices.append(Pending(event.payload))
        return notices

    def connected_to(self, number: int, now: float) -> Connected:
        if self.number and self.since is None:  # not a reconnection asked for (loop/upkeep)
            METRICS.reconnected()
            logger.success("database connection re-established")
        self.number = number
        self.since = now
        self.backoff.reset()
        return Connected(now)

    def lost(self, why: str, now: float) -> None:
        """No connection: `why` is how it was lost, or why it could not be made."""
        delay = self.backoff.next_delay()
        self.retry_at = now + delay
        was = "database connection lost: " if self.connected else ""
        self.since = None
        logger.warning("{}{}; retrying in {:.1f} s", was, why, delay)
