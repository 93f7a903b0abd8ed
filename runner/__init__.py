"""The child side of jobsup: everything that happens inside a runner after fork.

Handlers import what they need from here: the `Job` they are given, and the
exceptions that tell the supervisor how a failure should be treated.
"""

from runner.errors import PermanentFailure, Retry, SoftTimeLimitExceeded
from runner.job import Job, Parent

__all__ = ["Job", "Parent", "PermanentFailure", "Retry", "SoftTimeLimitExceeded"]
