"""Limits on a runner: which apply to a job, and enforcing the time limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from supervisor.config import Limits
from supervisor.runners import KillReason, Runner


def for_job(limits: Limits, metadata: Mapping[str, Any]) -> Limits:
    """The job type's `limits`, with the job's own metadata `memory_mb` where allowed.

    A job may ask for a different memory limit only up to `max_memory_mb` (0: not at all).
    """
    asked = metadata.get("memory_mb")
    if not limits.max_memory_mb or not isinstance(asked, int | float) or asked <= 0:
        return limits
    return dataclasses.replace(limits, memory_mb=int(min(asked, limits.max_memory_mb)))


def enforce_time(runner: Runner, now: float, kill_timeout: float) -> None:
    """Soft limit: SIGTERM (the handler may clean up). Hard limit: SIGKILL. Then escalate."""
    elapsed = runner.elapsed(now)
    limits = runner.limits
    if limits.time_limit and elapsed >= limits.time_limit:
        runner.kill(KillReason.TIME)
    elif limits.soft_time_limit and elapsed >= limits.soft_time_limit:
        runner.terminate(KillReason.SOFT_TIME, now, kill_timeout)
    runner.escalate(now)
