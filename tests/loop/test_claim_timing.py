"""When to claim next (`ClaimTiming`), on a fake clock: no PostgreSQL, no runner."""

from __future__ import annotations

import pytest

from supervisor.loop.claim_timing import FAIR_HOLD, REFUSED_DELAY, ClaimTiming, FairMode
from supervisor.runners.outcome import Kind, Outcome

pytestmark = pytest.mark.unit

T0 = 1000.0


def outcome(kind: Kind, status: str | None, delay: float = 0.0) -> Outcome:
    return Outcome("j1", 1, kind, status, 0, delay=delay)


def test_claims_at_once_at_start_then_at_the_poll_interval() -> None:
    timing = ClaimTiming(interval=5.0)
    assert timing.due(T0) and timing.deadline() == 0.0
    timing.claimed(T0, asked=4, got=0, next_due_in=None)  # nothing pending
    assert not timing.due(T0 + 4.9)
    assert timing.deadline() == T0 + 5.0
    assert timing.due(T0 + 5.0)


def test_a_full_claim_asks_again_at_once() -> None:
    timing = ClaimTiming(interval=5.0)
    timing.claimed(T0, asked=4, got=4, next_due_in=None)  # there may be more
    assert timing.due(T0) and timing.deadline() == 0.0


def test_a_notification_wakes_the_claim_before_the_poll() -> None:
    timing = ClaimTiming(interval=5.0)
    timing.claimed(T0, asked=2, got=1, next_due_in=None)
    assert not timing.due(T0 + 1)
    timing.want()
    assert timing.due(T0 + 1)


def test_a_job_due_before_the_poll_is_claimed_when_due() -> None:
    timing = ClaimTiming(interval=30.0)
    timing.claimed(T0, asked=2, got=0, next_due_in=2.5)
    assert timing.deadline() == T0 + 2.5
    assert not timing.due(T0 + 2.4) and timing.due(T0 + 2.5)


def test_a_job_due_after_the_poll_waits_for_the_poll() -> None:
    timing = ClaimTiming(interval=5.0)
    timing.claimed(T0, asked=2, got=0, next_due_in=60.0)
    assert timing.deadline() == T0 + 5.0


def test_an_overdue_job_counts_as_due_now() -> None:
    timing = ClaimTiming(interval=5.0)
    timing.claimed(T0, asked=2, got=0, next_due_in=-3.0)  # clocks disagree: not in the past
    assert timing.deadline() == T0 and timing.due(T0)


def test_a_refused_start_holds_every_claim_back_even_a_wanted_one() -> None:
    timing = ClaimTiming(interval=1.0)
    timing.refused(T0)
    timing.want()
    assert not timing.due(T0 + REFUSED_DELAY - 0.1)
    assert timing.deadline() == T0 + REFUSED_DELAY
    assert timing.due(T0 + REFUSED_DELAY)


def test_a_failed_claim_is_tried_again_shortly() -> None:
    timing = ClaimTiming(interval=60.0)
    timing.failed(T0)
    assert not timing.due(T0 + 0.5) and timing.due(T0 + 1.0)


def test_the_earliest_retry_wins() -> None:
    timing = ClaimTiming(interval=60.0)
    timing.claimed(T0, asked=1, got=0, next_due_in=None)
    timing.retry_due(T0 + 20)
    timing.retry_due(T0 + 10)
    timing.retry_due(T0 + 30)
    assert timing.deadline() == T0 + 10


def test_concluded_outcomes_steer_the_next_claim() -> None:
    timing = ClaimTiming(interval=60.0)
    timing.claimed(T0, asked=2, got=1, next_due_in=None)
    timing.concluded(T0, [outcome(Kind.RETRYABLE, "pending", delay=12.0)])
    assert timing.deadline() == T0 + 12.0  # the retry's time, before the poll
    timing.concluded(T0, [outcome(Kind.COMPLETED, "completed"), outcome(Kind.PERMANENT, "failed")])
    assert timing.deadline() == T0 + 12.0  # a freed slot alone changes nothing here
    timing.concluded(T0 + 1, [outcome(Kind.LOST, None)])  # taken from us: maybe ours again
    assert timing.due(T0 + 1)


def test_an_interrupted_attempt_sets_no_retry_time() -> None:
    timing = ClaimTiming(interval=60.0)
    timing.claimed(T0, asked=2, got=0, next_due_in=None)
    timing.concluded(T0, [outcome(Kind.INTERRUPTED, "pending")])
    assert timing.deadline() == T0 + 60.0


def test_a_job_that_could_not_start_backs_claims_off() -> None:
    timing = ClaimTiming(interval=1.0)
    timing.concluded(T0, [outcome(Kind.NOT_STARTED, "pending", delay=REFUSED_DELAY)])
    assert not timing.due(T0 + 1.0) and timing.due(T0 + REFUSED_DELAY)


def test_a_want_that_arrives_while_a_claim_is_in_flight_survives_its_short_answer() -> None:
    timing = ClaimTiming(interval=60.0)
    sent_with = timing.wants
    timing.want()  # a runner reaped, a notification: after the claim was sent
    timing.claimed(T0, asked=4, got=1, next_due_in=None, wants_then=sent_with)
    assert timing.due(T0)
    timing.claimed(T0, asked=4, got=1, next_due_in=None, wants_then=timing.wants)
    assert not timing.due(T0)


@pytest.mark.unit
def test_the_fair_claim_is_sent_while_keyed_jobs_are_about_and_once_a_second() -> None:
    mode = FairMode()
    assert mode.fair(0.0)  # the first claim looks
    assert not mode.fair(0.5)  # no keyed job seen: the plain claim
    assert mode.fair(1.0)  # a probe each FAIR_PROBE seconds
    mode.seen(1.1, keyed=True)  # claimed, or reported pending by next_due
    assert all(mode.fair(1.1 + t) for t in (0.0, 0.1, 0.2))
    mode.seen(1.4, keyed=False)  # a claim without keyed jobs does not end it at once
    assert mode.fair(1.5) and mode.fair(FAIR_HOLD + 1.0)
    assert not mode.fair(FAIR_HOLD + 1.5)  # none seen for FAIR_HOLD: plain again
    assert mode.fair(FAIR_HOLD + 2.0)  # but probing
