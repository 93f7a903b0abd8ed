"""Exceptions a handler raises (or catches) to speak to the supervisor."""


class PermanentFailure(Exception):
    """The job can never succeed as it stands (bad input, unknown type): fail it without retry."""


class SoftTimeLimitExceeded(Exception):
    """Raised inside the handler when the job's soft time limit passes; catch it to clean up."""


class Retry(Exception):  # not RetryError: the name the design gives it is `runner.Retry`
    """Raise to have the job run again in `delay` seconds without spending an attempt
    (at most `max_snoozes` times; after that a Retry spends one)."""

    def __init__(self, delay: float = 0.0, reason: str = "") -> None:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9:
            raise ValueError(f"Retry(delay=…) must be a number of seconds >= 0, got {delay!r}")
        super().__init__(reason or f"retry requested in {delay:g} s")
        self.delay = float(delay)
        self.reason = reason
