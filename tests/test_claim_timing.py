"""When to claim next (supervisor/claim_timing.py): pure logic, a fake clock."""

from __future__ import annotations

import time

import pytest

from supervisor.claim_timing import ClaimTiming

pytestmark = pytest.mark.unit


def test_a_claim_that_came_short_waits_for_the_poll_or_the_next_due_job() -> None:
    timing = ClaimTiming(interval=30.0)
    timing.claimed(100.0, asked=4, got=1, next_due_in=None, sent=99.9)
    assert not timing.due(100.0) and timing.deadline() == 130.0
    timing.claimed(100.0, asked=4, got=0, next_due_in=5.0, sent=99.9)
    assert not timing.due(104.0) and timing.due(105.0)


def test_a_want_while_the_claim_was_in_flight_still_stands() -> None:
    """A runner reaped (or a job notified) after the claim was sent: the claim's answer,
    short, does not cancel the claim that reap asked for."""
    timing = ClaimTiming(interval=30.0)
    sent = time.monotonic()
    timing.want()  # after `sent`
    timing.claimed(sent + 0.01, asked=4, got=0, next_due_in=None, sent=sent)
    assert timing.due(sent + 0.01)
    timing.claimed(sent + 0.02, asked=4, got=0, next_due_in=None, sent=time.monotonic())
    assert not timing.due(sent + 0.02)  # that want was answered by this claim
