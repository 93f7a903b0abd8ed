"""The chaos run's checks of durable steps (`job.step`, the `step` behaviour of
`runner.diag:chaos`): a finished step is never run again, and a fenced runner never
writes one. From the execution log (`step_run`, `step_done`, `step_refused`) and the
step results the rows keep."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (check.py imports this module)
    from .check import Execution


def step_problems(steps: dict[str, Any] | None, runs: list[Execution]) -> list[str]:
    """What is wrong with the job's step "work" (empty: nothing)."""
    return _run_again(runs) + _written_fenced(steps, runs)


def _run_again(runs: list[Execution]) -> list[str]:
    """An execution that started once the step's result was stored (its runner was told so)
    and still ran the step: the stored result was not given back to it."""
    stored = [r.step_done for r in runs if r.step_done is not None and r.step_by == r.id]
    if not stored:
        return []
    at = min(stored)
    return [f"{r.describe()} ran step 'work' again, its result stored at {_clock(at)}"
            for r in runs if r.step_run is not None and r.start > at]  # fmt: skip


def _written_fenced(steps: dict[str, Any] | None, runs: list[Execution]) -> list[str]:
    """The stored result came from a runner whose claim had been taken before it ran the
    step (a later claim's execution had started). A writer told "not stored" is no problem
    by itself: a write whose answer was lost (the connection cut after its commit) is sent
    again, and refused once the claim is gone; what was stored went in under its lease."""
    kept = (steps or {}).get("work")
    if not isinstance(kept, dict):
        return []
    writer = next((r for r in runs if r.id == kept.get("execution")), None)
    if writer is None:
        return [f"step 'work' stored from an execution the log never saw: {kept}"]
    ran = writer.step_run
    newer = [r for r in runs if ran is not None and r.start < ran
             and (r.lease or 0) > (writer.lease or 0)]  # fmt: skip
    return [f"step 'work' written by a fenced runner: {writer.describe()} ran it at "
            f"{_clock(ran or 0)}, after {r.describe()} had started" for r in newer]  # fmt: skip


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment * 1000) % 1000:03d}"
