"""Which retry policy a job type has, and what it says of a handler's exception.

`[retry]` holds the defaults; a `[job_types.<name>]` table may set any of its keys for that
type alone (see `config.JobType.retry`).
"""

from __future__ import annotations

from collections.abc import Sequence

from supervisor.config.model import Config, RetryConfig


def retry_for(config: Config, job_type: str) -> RetryConfig:
    """The retry policy of `job_type`: its own keys over [retry] (not configured: [retry])."""
    configured = config.job_types.get(job_type)
    return configured.retry if configured is not None else config.retry


def retries_exception(retry: RetryConfig, exception: Sequence[str]) -> bool:
    """Whether a handler's exception is worth another attempt under `retry_on`: `exception` is
    its class name, then its bases' (a name in retry_on matches its subclasses too). An empty
    retry_on retries every exception; so does a failure that names no class."""
    return not retry.retry_on or not exception or any(n in retry.retry_on for n in exception)
