"""What became of an attempt: from how the runner ended to what is written for its job."""

from __future__ import annotations

import enum
import os
import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner import protocol
from runner.protocol import FailureKind
from supervisor.config import RetryConfig
from supervisor.jobrow import ClaimedJob
from supervisor.retry_policy import retries_exception
from supervisor.runners import KillReason, Runner
from supervisor.store import Outcome

_RNG = random.Random()  # nosec B311  # retry jitter, not a secret


class Kind(enum.Enum):
    COMPLETED = "completed"
    RETRYABLE = "retryable"  # a failed attempt: retry while attempts are left
    PERMANENT = "permanent"  # fail now: retrying cannot help
    INTERRUPTED = "interrupted"  # cut short by shutdown: back to pending, no attempt spent
    LOST = "lost"  # no longer ours (cancelled, reset, reclaimed): only the attempt's record
    SNOOZED = "snoozed"  # runner.Retry(delay=…): again after delay, no attempt spent


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    message: str = ""
    insights: Sequence[dict[str, Any]] = field(default_factory=list)
    limit: str | None = None  # "memory" or "time": the [retry] on_*_limit policy applies
    exception: Sequence[str] = ()  # a handler exception's class name, then its bases'
    delay: float = 0.0  # SNOOZED: the seconds the handler asked for


def judge(runner: Runner, result_max_kb: int) -> Verdict:
    """How the attempt run by `runner` (now exited) went."""
    document = runner.document()
    if document is not None and (wrong := protocol.problem(document)):
        return Verdict(Kind.RETRYABLE, f"runner sent a malformed result ({wrong})")
    if runner.reason is KillReason.CANCELLED:
        return Verdict(Kind.LOST, "cancelled while running: runner killed")
    if runner.reason is KillReason.LOST:
        return Verdict(Kind.LOST, runner.reason_detail or "the job was taken from this supervisor")
    if document and document["ok"]:  # finished its work, even if a signal was on its way
        return Verdict(Kind.COMPLETED, insights=document["insights"])
    if runner.reason is not None:
        return _with_output(_killed(runner, document), runner)
    if runner.result_overflow:
        message = f"result too large: more than {result_max_kb} KiB (result_max_kb)"
        return Verdict(Kind.PERMANENT, message)
    if document:
        return _with_output(_failed(document), runner)
    return _with_output(Verdict(Kind.RETRYABLE, _crash_message(runner.status)), runner)


def _killed(runner: Runner, document: dict[str, Any] | None) -> Verdict:
    limits, reason = runner.limits, runner.reason
    if reason is KillReason.SHUTDOWN:
        return Verdict(Kind.INTERRUPTED, "interrupted by shutdown")
    if reason is KillReason.LEASE:
        return Verdict(Kind.INTERRUPTED, runner.reason_detail or "lease lost: runner killed")
    if reason is KillReason.TIME:
        return Verdict(
            Kind.RETRYABLE, f"time limit {limits.time_limit:g} s exceeded (killed)", limit="time"
        )
    if reason is KillReason.SOFT_TIME:
        message = f"soft time limit {limits.soft_time_limit:g} s exceeded"
        if document and document.get("kind") != FailureKind.SOFT_TIME_LIMIT:
            message += f"; then {document.get('message')}"  # the clean-up itself failed
        return Verdict(Kind.RETRYABLE, message, limit="time")
    limit = "memory" if reason is KillReason.MEMORY else None
    return Verdict(Kind.RETRYABLE, runner.reason_detail or f"killed ({reason})", limit=limit)


def _failed(document: dict[str, Any]) -> Verdict:
    kind, message = document.get("kind"), str(document.get("message", ""))
    if kind == FailureKind.PERMANENT:
        return Verdict(Kind.PERMANENT, message)
    if kind == FailureKind.MEMORY:  # MemoryError under the kernel backstop
        return Verdict(Kind.RETRYABLE, message, limit="memory")
    if kind == FailureKind.SOFT_TIME_LIMIT:  # SIGTERM from outside jobsup (kill, systemd)
        return Verdict(Kind.RETRYABLE, "runner received SIGTERM")
    if kind == FailureKind.RETRY:
        return Verdict(Kind.SNOOZED, message, delay=float(document.get("delay", 0.0)))
    traceback = str(document.get("traceback", "")).rstrip()
    exception = tuple(document.get("exception", ()))
    return Verdict(Kind.RETRYABLE, f"{message}\n{traceback}" if traceback else message,
                   exception=exception)  # fmt: skip


def _crash_message(status: int | None) -> str:
    if status is None:
        return "runner vanished"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "runner exited without sending a result"
    return f"runner {how_it_ended(status)}"


def how_it_ended(status: int) -> str:
    """`killed by SIGSEGV`, `exited with code 3`: a process's end, from its wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _with_output(verdict: Verdict, runner: Runner) -> Verdict:
    tail = runner.output.tail_text().rstrip()
    if not tail or verdict.kind is Kind.INTERRUPTED:
        return verdict
    message = f"{verdict.message}\n--- last output ---\n{tail}"
    return Verdict(verdict.kind, message, verdict.insights, verdict.limit, verdict.exception,
                   verdict.delay)  # fmt: skip


def decide(
    job: ClaimedJob,
    verdict: Verdict,
    retry: RetryConfig,
    attempt: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    """The row update for `job` after `verdict`."""
    if verdict.kind is Kind.LOST:  # the row is someone else's now: add the record, no more
        return Outcome(job.id, job.lease, None, job.retry_count, attempt=attempt)
    if verdict.kind is Kind.COMPLETED:
        return Outcome(job.id, job.lease, "completed", job.retry_count, None, attempt=attempt,
                       insights=verdict.insights)  # fmt: skip
    if verdict.kind is Kind.INTERRUPTED:
        return Outcome(job.id, job.lease, "pending", job.retry_count, keep_error=True,
                       attempt=attempt)  # fmt: skip
    if verdict.kind is Kind.SNOOZED:
        return _snoozed(job, verdict, retry, attempt)
    if verdict.kind is Kind.RETRYABLE and _may_retry(job, verdict, retry):
        delay = backoff(job.retry_count, retry.backoff_base, retry.backoff_max, rng)
        return Outcome(job.id, job.lease, "pending", job.retry_count + 1, verdict.message,
                       delay=delay, attempt=attempt)  # fmt: skip
    return Outcome(job.id, job.lease, "failed", job.retry_count, verdict.message,
                   attempt=attempt)  # fmt: skip


def _may_retry(job: ClaimedJob, verdict: Verdict, retry: RetryConfig) -> bool:
    if verdict.limit == "memory" and retry.on_memory_limit == "fail":
        return False
    if verdict.limit == "time" and retry.on_time_limit == "fail":
        return False
    if not retries_exception(retry, verdict.exception):
        return False
    return job.retry_count < retry.max_retries


def _snoozed(
    job: ClaimedJob, verdict: Verdict, retry: RetryConfig, attempt: dict[str, Any] | None
) -> Outcome:
    """runner.Retry: pending again after the delay asked, the attempt not spent while
    `max_snoozes` allows; after that each Retry spends an attempt (failed when none is left)."""
    if job.snoozes < retry.max_snoozes:
        message = f"snoozed {job.snoozes + 1}/{retry.max_snoozes}: {verdict.message}"
        return Outcome(job.id, job.lease, "pending", job.retry_count, message,
                       delay=verdict.delay, attempt=attempt)  # fmt: skip
    message = f"{verdict.message} (max_snoozes {retry.max_snoozes} reached: an attempt spent)"
    if job.retry_count < retry.max_retries:
        return Outcome(job.id, job.lease, "pending", job.retry_count + 1, message,
                       delay=verdict.delay, attempt=attempt)  # fmt: skip
    return Outcome(job.id, job.lease, "failed", job.retry_count, message, attempt=attempt)


def backoff(
    retry_count: int, base: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds before retry number `retry_count + 1`: doubling from `base`, up to `maximum`,
    with half of it random so that jobs failing together do not come back together."""
    delay = min(maximum, base * 2.0**retry_count)
    return delay / 2 + (rng or _RNG).uniform(0, delay / 2)
