"""Exceptions a handler raises (or catches) to speak to the supervisor."""


class PermanentFailure(Exception):
    """The job can never succeed as it stands (bad input, unknown type): fail it without retry."""


class SoftTimeLimitExceeded(Exception):
    """Raised inside the handler when the job's soft time limit passes; catch it to clean up."""
