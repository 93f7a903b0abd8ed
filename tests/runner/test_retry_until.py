"""runner.Retry(until=…) and Retry.after(Retry-After) for a provider's rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from runner.errors import Retry

pytestmark = pytest.mark.unit


def test_until_is_a_delay_from_now() -> None:
    retry = Retry(until=datetime.now(UTC) + timedelta(seconds=30))
    assert 29 < retry.delay <= 30
    local = Retry(until=datetime.now() + timedelta(minutes=2))  # naive: local time
    assert 119 < local.delay <= 120
    assert Retry(until=datetime.now(UTC) - timedelta(hours=1)).delay == 0.0  # past: at once


def test_until_and_delay_are_not_both_given() -> None:
    with pytest.raises(ValueError, match="not both"):
        Retry(5, until=datetime.now(UTC))
    with pytest.raises(ValueError, match="must be a datetime"):
        Retry(until="tomorrow")  # type: ignore[arg-type]


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert Retry.after("120").delay == 120.0
    assert Retry.after(7.5).delay == 7.5
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 58 < Retry.after(when).delay <= 60
    assert Retry.after(None).delay == 1.0
    assert Retry.after("soon", default=3).delay == 3.0
    assert "Retry-After" in str(Retry.after("1"))
