"""Write and claim, as the loop sees it: the outcomes waiting to be written, the claim it
asks for, and what that brought back (the jobs to start).

Both go in one request for the database thread (store/write_and_claim.py); this side keeps
what was sent, so that a failed request gives its outcomes back to be written later.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from loguru import logger

from supervisor import logs
from supervisor.config.flow import RateLimit
from supervisor.errors import refuses_writes
from supervisor.logs import job_logger
from supervisor.loop.claim_timing import ClaimTiming, FairMode
from supervisor.loop.database import Database, Done, Request, Unavailable
from supervisor.metrics import METRICS
from supervisor.runners.jobrow import ClaimedJob, Unusable
from supervisor.runners.messages import Answers, Updates
from supervisor.runners.outcome import Outcome
from supervisor.store import write_and_claim as turn
from supervisor.store.writeback import Written


@dataclass(frozen=True)
class Sent:
    """A write-and-claim request in flight: what it carries."""

    outcomes: list[Outcome]
    ask: turn.Ask | None
    at: float  # monotonic
    wants: int  # the claim timing's wants when it was sent
    updates: Updates = field(default_factory=Updates)  # progress and steps' results


@dataclass(frozen=True)
class Brought:
    """What a write-and-claim request brought back, for the loop to act on."""

    jobs: list[ClaimedJob | Unusable] = field(default_factory=list)  # to start
    wrote: bool = False  # outcomes were written
    claimed: bool = False  # a claim went through (maybe empty)
    empty: bool = False  # --until-empty: nothing claimed and nothing falls due soon
    updates: Updates = field(default_factory=Updates)  # what was sent of them
    # Each step sent (StepResult.key): None once stored, else why not; None: not written.
    steps: Answers | None = None


class Claims:
    def __init__(self, worker_id: str, timing: ClaimTiming) -> None:
        self.worker_id = worker_id
        self.timing = timing
        self.fair = FairMode()
        self.unwritten: list[Outcome] = []  # concluded, not yet stored
        self.sent: Sent | None = None

    def concluded(self, now: float, outcomes: list[Outcome]) -> None:
        self.unwritten += outcomes
        self.timing.concluded(now, outcomes)

    def ask(
        self,
        now: float,
        free: int,
        busy: Sequence[str],
        job_types: Sequence[str],
        check_empty: bool,
        horizon: float,
        capped: Mapping[str, int],
        rates: Mapping[str, RateLimit] | None = None,
    ) -> turn.Ask | None:
        """The claim to ask for now, if one is due and there is room."""
        if free <= 0 or not self.timing.due(now):
            return None
        return turn.Ask(free, job_types, list(busy), check_empty, horizon, dict(capped),
                        dict(rates or {}), self.fair.fair(now))  # fmt: skip

    def request(
        self, ask: turn.Ask | None, now: float, updates: Updates | None = None
    ) -> Request[turn.Turn]:
        """Write what waits (`updates`: what running jobs reported), and claim as `ask` says."""
        batch, self.unwritten = self.unwritten, []
        updates = updates or Updates()
        self.sent = Sent(batch, ask, now, self.timing.wants, updates)
        action = partial(turn.run, worker_id=self.worker_id, outcomes=batch, ask=ask,
                         updates=updates)  # fmt: skip
        name = "claim" if not batch else "write-back" if ask is None else "write-back and claim"
        return Request(name, action)

    def answered(self, done: Done[turn.Turn], now: float) -> Brought:
        """What the request brought: the jobs to start, and whether it wrote or claimed."""
        sent, self.sent = self.sent, None
        assert sent is not None  # nosec B101  # a bug: an answer to nothing asked
        if not done.ok:
            self.unwritten = sent.outcomes + self.unwritten  # written later
            if refuses_writes(done.error):  # the loop says it, once a minute
                self.timing.failed(now)
            elif not isinstance(done.error, Unavailable):
                logger.opt(exception=done.error).error("{} failed", done.request.name)
                self.timing.failed(now)
            return Brought(updates=sent.updates)
        result = done.result()
        report_written(sent.outcomes, result.written)
        wrote = bool(sent.outcomes)
        if sent.ask is None:
            return Brought(wrote=wrote, updates=sent.updates, steps=result.steps)
        if result.claimed is None:
            logger.error(result.error or "claim failed")
            self.timing.failed(now)
            return Brought(wrote=wrote, updates=sent.updates, steps=result.steps)
        if result.error:
            logger.error(result.error)
        self.fair.seen(now, result.keyed)
        METRICS.claim_took(now - sent.at)
        logs.event("claim").debug("claimed {} of {} asked", len(result.claimed), sent.ask.limit)
        for job in result.claimed:
            METRICS.claimed((job.job if isinstance(job, Unusable) else job).job_type)
        self.timing.claimed(now, sent.ask.limit, len(result.claimed), result.next_due, sent.wants)
        empty = sent.ask.until_empty and not result.claimed and not result.anything_soon
        return Brought(result.claimed, wrote, claimed=True, empty=empty, updates=sent.updates,
                       steps=result.steps)  # fmt: skip

    def write_last(self, db: Database, deadline: float, updates: Updates | None = None) -> None:
        """At the stop: write what waits (with `updates`: the last progress and steps of the
        jobs ended, before their outcomes), while the database answers and time is left (what
        is left is kept for the next start: loop/kept_outcomes.py)."""
        while (self.unwritten or updates) and time.monotonic() < deadline:
            batch, self.unwritten = self.unwritten, []
            action = partial(turn.run, worker_id=self.worker_id, outcomes=batch, ask=None,
                             updates=updates)  # fmt: skip
            updates = None  # sent once: a progress or a step is worth no retry at the stop
            try:
                written = db.call("write", action, max(0.1, deadline - time.monotonic()))
            except Unavailable:
                self.unwritten = batch + self.unwritten
                time.sleep(0.2)
                continue
            except Exception as e:
                logger.error("writing the last results failed: {}", e)
                self.unwritten = batch + self.unwritten
                break
            assert written is not None  # nosec B101  # turn.run returns a Turn
            report_written(batch, written.written)


def report_written(batch: list[Outcome], written: Written) -> None:
    for outcome in batch:
        log = job_logger(outcome.job_id)
        if outcome.job_id in written.refused:
            log.error("failed: {}", written.refused[outcome.job_id])
        elif outcome.job_id not in written.ids:
            log.warning("result not written: the job is no longer under this claim "
                        "(reset, reclaimed or cancelled meanwhile)")  # fmt: skip
    if batch:
        logs.event("write-back").debug("wrote {} results ({} stored)", len(batch), len(written.ids))
