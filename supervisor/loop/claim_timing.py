"""When to claim next: the one place that decides it.

At once when a claim is wanted (a NOTIFY, a freed slot, a claim that took all it asked
for, a reconnect); otherwise at the next poll (`interval`), when the earliest pending job
falls due, or when a retry falls due. Every time is the caller's monotonic `now`, so the
rules are tested on a fake clock. After a runner could not be started (no processes or
memory left), not before `REFUSED_DELAY` has passed.
"""

from __future__ import annotations

from collections.abc import Iterable

from supervisor.runners.outcome import Kind, Outcome

REFUSED_DELAY = 5.0  # seconds to claim nothing after a refused runner start


class ClaimTiming:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.wanted = True
        self.next_poll = 0.0
        self.next_due: float | None = None  # monotonic: a pending job falls due
        self.not_before = 0.0  # monotonic: claims wait after a refused start
        self.wants = 0  # how many want()s so far: a claim notes it when sent

    def want(self) -> None:
        self.wanted = True
        self.wants += 1

    def due(self, now: float) -> bool:
        """Whether to claim now (given free slots and a connection)."""
        if now < self.not_before:
            return False
        falls_due = self.next_due is not None and now >= self.next_due
        return self.wanted or now >= self.next_poll or falls_due

    def deadline(self) -> float:
        """The monotonic time of the next claim, for the loop's wait."""
        if self.wanted:
            return self.not_before
        times = [self.next_poll] if self.next_due is None else [self.next_poll, self.next_due]
        return max(self.not_before, min(times))

    def claimed(self, now: float, asked: int, got: int, next_due_in: float | None,
                wants_then: int | None = None) -> None:  # fmt: skip
        """A claim asked for `asked` jobs and got `got`; `next_due_in`: seconds until the
        next pending job falls due, when the claim came short (None: nothing pending). A
        want() since the claim was sent (`wants_then`: `wants` then) still stands: what it
        was for (a runner reaped meanwhile, a notification) the claim may not have seen."""
        wanted_since = wants_then is not None and self.wants > wants_then
        self.wanted = got >= asked or wanted_since  # there may be more
        self.next_poll = now + self.interval
        if got < asked:
            self.next_due = None if next_due_in is None else now + max(0.0, next_due_in)

    def failed(self, now: float, retry_in: float = 1.0) -> None:
        """The database refused the claim: try again shortly."""
        self.wanted = False
        self.next_poll = now + retry_in

    def refused(self, now: float) -> None:
        """A runner could not be started: claim nothing for a while."""
        self.wanted = False
        self.not_before = now + REFUSED_DELAY
        self.next_poll = max(self.next_poll, self.not_before)

    def retry_due(self, at: float) -> None:
        """A failed attempt's retry falls due at `at` (monotonic)."""
        self.next_due = at if self.next_due is None else min(self.next_due, at)

    def concluded(self, now: float, outcomes: Iterable[Outcome]) -> None:
        """What attempts just concluded (`Pool.reap`) say about the next claim."""
        for outcome in outcomes:
            if outcome.kind is Kind.NOT_STARTED:  # short of processes or memory: claim less
                self.refused(now)
            elif outcome.status is None:  # a job taken from its runner may be ours again
                self.want()
            elif outcome.status == "pending" and outcome.kind in (Kind.RETRYABLE, Kind.SNOOZED):
                self.retry_due(now + outcome.delay)


FAIR_HOLD = 60.0  # seconds the claim keeps taking keyed jobs after it last saw one
FAIR_PROBE = 1.0  # at least one claim with keyed jobs this often, to see new ones


class FairMode:
    """Whether the next claim takes keyed jobs (fair_key) too (`claim_fair`) or only unkeyed
    ones (the plain claim: its plan lacks the keyed rounds, which cost an ordinary claim a
    quarter more). Fair while keyed jobs were seen within FAIR_HOLD seconds (claimed, or
    reported pending by the next-due query a claim that came short asks), and at least once
    every FAIR_PROBE seconds, so keyed jobs behind a queue of unkeyed ones are found."""

    def __init__(self) -> None:
        self.until = 0.0  # monotonic: fair until then
        self.next_probe = 0.0  # monotonic: the next fair claim at the latest

    def fair(self, now: float) -> bool:
        """Whether the claim sent now is to be the fair one (noted as sent)."""
        if now < self.until or now >= self.next_probe:
            self.next_probe = now + FAIR_PROBE
            return True
        return False

    def seen(self, now: float, keyed: bool) -> None:
        """What a claim's answer said: keyed jobs were claimed or are pending."""
        if keyed:
            self.until = now + FAIR_HOLD
