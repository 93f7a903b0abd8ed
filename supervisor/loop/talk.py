"""The loop's one conversation with the database thread: one request at a time, the next
one chosen in order, and its answer handed back to whoever asked.

The order: a connect attempt when there is no connection (as the backoff allows); the
outcomes a stopped supervisor kept on disk (Keeper: before any heartbeat, whose reclaim
would take their jobs); the outcomes waiting (not while the database refuses writes: the
heartbeat finds out when it takes them again) and the claim due (Claims), unless a heartbeat
is due, which goes first (after a freeze, learn what is still ours before claiming more);
the heartbeat (Heartbeat); an ownership check a control notification asked for. A request
past its deadline has its connection cut, so that the thread gives up on it
(`Database.overdue`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from supervisor.loop.claims import Brought, Claims
from supervisor.loop.database import Database, Done, Request
from supervisor.loop.heartbeat import Heard, Heartbeat
from supervisor.loop.kept_outcomes import Keeper
from supervisor.loop.session import Session
from supervisor.loop.write_refusal import WriteRefusal
from supervisor.runners.messages import Updates
from supervisor.store import upkeep
from supervisor.store import write_and_claim as turn


class Asked(enum.Enum):
    """Who asked the request in flight: its answer goes back there."""

    CLAIMS = "write and claim"
    BEAT = "heartbeat"
    OWNERSHIP = "ownership check"
    KEPT = "kept results"


class Talk:
    def __init__(self, db: Database, session: Session, claims: Claims, heartbeat: Heartbeat,
                 keeper: Keeper, refusal: WriteRefusal) -> None:  # fmt: skip
        self.db = db
        self.session = session
        self.claims = claims
        self.heartbeat = heartbeat
        self.keeper = keeper
        self.refusal = refusal
        self.asked: Asked | None = None  # who asked the request in flight

    def next(self, now: float, claim: Callable[[float], turn.Ask | None],
             beat: Callable[[float], upkeep.Beat], held: Callable[[], dict[str, int]],
             reported: Callable[[float], Updates | None] = lambda now: None) -> None:  # fmt: skip
        """Give the thread its next request, if it has none: `claim` says what to claim now
        (None: nothing), `beat` what a heartbeat asks, `held` the claims the runners hold,
        `reported` what the runners reported that is to be written now (progress, steps:
        with the outcomes, before a heartbeat: a handler may wait for its step)."""
        late = self.db.overdue(now)
        if late is not None:
            logger.warning("the database did not answer ({}) in time: dropping the connection",
                           late.name)  # fmt: skip
        if not self.db.idle:
            return
        request = self._choose(now, claim, beat, held, reported)
        if request is not None:
            self.db.submit(request, now)

    def _choose(self, now: float, claim: Callable[[float], turn.Ask | None],
                beat: Callable[[float], upkeep.Beat], held: Callable[[], dict[str, int]],
                reported: Callable[[float], Updates | None]) -> Request[Any] | None:  # fmt: skip
        self.asked = None
        if not self.session.connected:
            return self.session.request(now)
        if self.keeper.due(now):  # before any heartbeat: its reclaim would take those jobs
            self.asked = Asked.KEPT
            return self.keeper.request()
        ask = claim(now) if now < self.heartbeat.next_at else None
        updates = reported(now)
        if self.writes_wait() or ask is not None or updates:
            self.asked = Asked.CLAIMS
            return self.claims.request(ask, time.monotonic(), updates)
        if now >= self.heartbeat.next_at:
            self.asked = Asked.BEAT
            return self.heartbeat.request(now, beat(now))
        if self.heartbeat.check_owned:
            claims = held()
            if claims:
                self.asked = Asked.OWNERSHIP
                return self.heartbeat.ownership_request(claims)
            self.heartbeat.check_owned = False
        return None

    def writes_wait(self) -> bool:
        """Outcomes to write now (while the database refuses writes, the heartbeat finds out
        when it takes them again)."""
        return bool(self.claims.unwritten) and not self.refusal.active

    def answered(self, done: Done[Any], now: float) -> Brought | Heard | None:
        """The answer to the request in flight, as whoever asked reads it: the jobs to start
        (Claims), or the runners to kill (Heartbeat); None: the Keeper took it (kept
        results)."""
        asked, self.asked = self.asked, None
        if asked is Asked.CLAIMS:
            return self.claims.answered(done, now)
        if asked is Asked.KEPT:
            self.keeper.answered(done, now)
            return None
        if asked is Asked.BEAT:
            return self.heartbeat.answered(done)
        return self.heartbeat.owned(done)
