"""Exceptions a handler raises (or catches) to speak to the supervisor."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class PermanentFailure(Exception):
    """The job can never succeed as it stands (bad input, unknown type): fail it without retry."""


class SoftTimeLimitExceeded(Exception):
    """Raised inside the handler when the job's soft time limit passes; catch it to clean up."""


class Retry(Exception):  # not RetryError: the name the design gives it is `runner.Retry`
    """Raise to have the job run again in `delay` seconds, or at `until` (a datetime; naive:
    local time), without spending an attempt (at most `max_snoozes` times; after that a
    Retry spends one). For a provider's `Retry-After` header: `raise Retry.after(value)`."""

    def __init__(
        self, delay: float = 0.0, reason: str = "", *, until: datetime | None = None
    ) -> None:
        if until is not None:
            if delay:
                raise ValueError("give Retry(delay=…) or Retry(until=…), not both")
            if not isinstance(until, datetime):
                raise ValueError(f"Retry(until=…) must be a datetime, got {until!r}")
            aware = until if until.tzinfo is not None else until.astimezone()
            delay = max(0.0, (aware - datetime.now(UTC)).total_seconds())
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9:
            raise ValueError(f"Retry(delay=…) must be a number of seconds >= 0, got {delay!r}")
        super().__init__(reason or f"retry requested in {delay:g} s")
        self.delay = float(delay)
        self.reason = reason

    @classmethod
    def after(cls, retry_after: str | float | None, reason: str = "",
              default: float = 1.0) -> Retry:  # fmt: skip
        """A Retry as an HTTP `Retry-After` value says: seconds ("120") or an HTTP date
        ("Wed, 21 Oct 2026 07:28:00 GMT"); `default` seconds when it is missing or neither."""
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            return cls(max(0.0, float(retry_after)), reason or "rate limited (Retry-After)")
        text = (retry_after or "").strip() if isinstance(retry_after, str) else ""
        why = reason or "rate limited (Retry-After)"
        if text.isdigit():
            return cls(float(text), why)
        try:
            return cls(reason=why, until=parsedate_to_datetime(text))
        except (TypeError, ValueError):
            return cls(default, why)
