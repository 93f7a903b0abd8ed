"""What became of an attempt: from how its runner ended (`judge`) to what is written for its
job (`conclude`): the row's new state, the attempt's record and, when it completed, its
insights, all in one `Outcome`."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner import parent, protocol
from runner.protocol import Failure, FailureKind, Insight
from supervisor.config import RetryConfig
from supervisor.config.model import retries_exception
from supervisor.identity import Identity
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.state import MB, KillReason, Runner

_RNG = random.Random()  # nosec B311  # retry jitter, not a secret


class Kind(enum.Enum):
    COMPLETED = "completed"
    RETRYABLE = "retryable"  # a failed attempt: retry while attempts are left
    PERMANENT = "permanent"  # fail now: retrying cannot help
    INTERRUPTED = "interrupted"  # cut short by shutdown: back to pending, no attempt spent
    LOST = "lost"  # no longer ours (cancelled, reset, reclaimed): only the attempt's record
    NOT_STARTED = "not_started"  # no runner could be started: back to pending, a while later
    SNOOZED = "snoozed"  # runner.Retry(delay=…): again after delay, no attempt spent
    NOT_SERVED = "not_served"  # a type this supervisor does not serve: back to pending, as is


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    message: str = ""
    insights: Sequence[Insight] = field(default_factory=list)
    limit: str | None = None  # "memory" or "time": the [retry] on_*_limit policy applies
    exception: Sequence[str] = ()  # a handler exception's class name, then its bases'
    delay: float = 0.0  # SNOOZED: the seconds the handler asked for


@dataclass(frozen=True)
class Outcome:
    """What to write for one ended attempt, under the claim it ran in (`lease`)."""

    job_id: str
    lease: int  # written only while the row still holds this claim
    kind: Kind
    status: str | None  # completed | failed | pending; None: the job was taken from us
    retry_count: int
    error: str | None = None
    keep_error: bool = False  # an interrupted attempt leaves the last error as it was
    delay: float = 0.0  # seconds until a 'pending' job may run again
    attempt: dict[str, Any] | None = None  # appended to processing_jobs.attempts
    insights: Sequence[Insight] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The outcome as the write-back statement reads it (sql/queries.sql `finish`)."""
        return {
            "id": self.job_id, "lease": self.lease, "status": self.status,
            "retry_count": self.retry_count, "error": self.error, "keep_error": self.keep_error,
            "delay": self.delay, "attempt": self.attempt,
        }  # fmt: skip


def conclude(
    job: ClaimedJob,
    verdict: Verdict,
    retry: RetryConfig,
    me: Identity,
    runner: Runner | None = None,
    now: float = 0.0,
    rng: random.Random | None = None,
) -> Outcome:
    """The outcome to write for `job` after `verdict`, with the attempt's record (with the
    runner's figures at monotonic `now` when there was a runner)."""
    outcome = _decide(job, verdict, retry, rng)
    record = _record(job, verdict, outcome, me, runner, now)
    return dataclasses.replace(outcome, attempt=record)


def not_started(job: ClaimedJob, delay: float) -> Outcome:
    """No runner for `job` (no processes or memory left, no fork server): back to pending in
    `delay` seconds, no attempt spent and none recorded."""
    return Outcome(job.id, job.lease, Kind.NOT_STARTED, "pending", job.retry_count,
                   keep_error=True, delay=delay)  # fmt: skip


def not_served(job: ClaimedJob) -> Outcome:
    """A job of a type this supervisor does not serve: back to pending at once, for a
    supervisor that serves it, no attempt spent and none recorded."""
    return Outcome(job.id, job.lease, Kind.NOT_SERVED, "pending", job.retry_count,
                   keep_error=True)  # fmt: skip


def judge(runner: Runner, result_max_kb: int) -> Verdict:
    """How the attempt run by `runner` (now exited) went."""
    raw = runner.document()
    document = None if raw is None else protocol.checked(raw)
    if isinstance(document, str):
        return Verdict(Kind.RETRYABLE, parent.malformed(document))
    if runner.reason is KillReason.CANCELLED:
        return Verdict(Kind.LOST, "cancelled while running: runner killed")
    if runner.reason is KillReason.LOST:
        return Verdict(Kind.LOST, runner.reason_detail or "the job was taken from this supervisor")
    if document and document["ok"]:  # finished its work, even if a signal was on its way
        return Verdict(Kind.COMPLETED, insights=document["insights"])
    if runner.reason is not None:
        return _with_output(_killed(runner, document), runner)
    if runner.result_overflow:
        return Verdict(Kind.PERMANENT, parent.too_large(result_max_kb))
    if document:
        return _with_output(_failed(document), runner)
    return _with_output(Verdict(Kind.RETRYABLE, parent.crashed(runner.status)), runner)


def _killed(runner: Runner, document: protocol.Document | None) -> Verdict:
    limits, reason = runner.limits, runner.reason
    if reason is KillReason.SHUTDOWN:
        return Verdict(Kind.INTERRUPTED, "interrupted by shutdown")
    if reason is KillReason.LEASE:
        return Verdict(Kind.INTERRUPTED, runner.reason_detail or "lease lost: runner killed")
    if reason is KillReason.TIME:
        return Verdict(Kind.RETRYABLE, parent.time_exceeded(limits.time_limit), limit="time")
    if reason is KillReason.SOFT_TIME:
        message = parent.soft_time_exceeded(limits.soft_time_limit, document)
        return Verdict(Kind.RETRYABLE, message, limit="time")
    limit = "memory" if reason is KillReason.MEMORY else None
    return Verdict(Kind.RETRYABLE, runner.reason_detail or f"killed ({reason})", limit=limit)


def _failed(document: Failure) -> Verdict:
    kind, message = document["kind"], parent.failure(document)
    if kind == FailureKind.PERMANENT:
        return Verdict(Kind.PERMANENT, message)
    if kind == FailureKind.MEMORY:  # MemoryError under the kernel backstop
        return Verdict(Kind.RETRYABLE, message, limit="memory")
    if kind == FailureKind.RETRY:
        return Verdict(Kind.SNOOZED, message, delay=float(document.get("delay", 0.0)))
    return Verdict(Kind.RETRYABLE, message, exception=tuple(document.get("exception", ())))


def _with_output(verdict: Verdict, runner: Runner) -> Verdict:
    if verdict.kind is Kind.INTERRUPTED:
        return verdict
    return dataclasses.replace(
        verdict, message=parent.with_output(verdict.message, runner.output.tail_text())
    )


def _decide(
    job: ClaimedJob, verdict: Verdict, retry: RetryConfig, rng: random.Random | None
) -> Outcome:
    """The row update for `job` after `verdict`."""
    kind = verdict.kind
    if kind is Kind.LOST:  # the row is someone else's now: add the record, no more
        return Outcome(job.id, job.lease, kind, None, job.retry_count)
    if kind is Kind.COMPLETED:
        return Outcome(job.id, job.lease, kind, "completed", job.retry_count,
                       insights=verdict.insights)  # fmt: skip
    if kind is Kind.INTERRUPTED:
        return Outcome(job.id, job.lease, kind, "pending", job.retry_count, keep_error=True)
    error = _storable(verdict.message)
    if kind is Kind.SNOOZED:
        return _snoozed(job, verdict, retry, error)
    if kind is Kind.RETRYABLE and _may_retry(job, verdict, retry):
        delay = backoff(job.retry_count, retry.backoff_base, retry.backoff_max, rng)
        return Outcome(job.id, job.lease, kind, "pending", job.retry_count + 1, error,
                       delay=delay)  # fmt: skip
    return Outcome(job.id, job.lease, kind, "failed", job.retry_count, error)


def _record(
    job: ClaimedJob, verdict: Verdict, outcome: Outcome, me: Identity, runner: Runner | None,
    now: float,
) -> dict[str, Any]:  # fmt: skip
    """One entry of processing_jobs.attempts (a job that never got a runner has no figures)."""
    record: dict[str, Any] = {
        "attempt": job.attempt,
        "worker": me.id,
        "host": me.host,
        "outcome": _attempt_outcome(verdict, outcome, runner),
        "error": _storable(verdict.message.split("\n", 1)[0]) or None,
    }
    if runner is not None and runner.pid:
        record |= {
            "pid": runner.pid,
            "started": _iso(runner.started_wall),
            "seconds": round(runner.elapsed(now), 3),
            "peak_memory_mb": round(runner.peak_memory / MB, 1),
            "cpu_seconds": round(runner.cpu_seconds, 3),
        }
        if runner.killed_at is not None:
            record["killed_at"] = _iso(runner.killed_at)
    return record


def _attempt_outcome(verdict: Verdict, outcome: Outcome, runner: Runner | None) -> str:
    if verdict.kind is Kind.INTERRUPTED:
        return "interrupted"
    if verdict.kind is Kind.LOST:
        cancelled = runner is not None and runner.reason is KillReason.CANCELLED
        return "cancelled" if cancelled else "lost"
    if outcome.kind is Kind.SNOOZED:
        return "snoozed"  # counted by the claim against max_snoozes
    return "retry" if outcome.status == "pending" else outcome.status or "lost"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _storable(text: str) -> str:
    """`text` as PostgreSQL stores it: text may hold any character but NUL."""
    return text.replace("\x00", "\\0")


def _may_retry(job: ClaimedJob, verdict: Verdict, retry: RetryConfig) -> bool:
    if verdict.limit == "memory" and retry.on_memory_limit == "fail":
        return False
    if verdict.limit == "time" and retry.on_time_limit == "fail":
        return False
    if not retries_exception(retry, verdict.exception):
        return False
    return job.retry_count < retry.max_retries


def _snoozed(job: ClaimedJob, verdict: Verdict, retry: RetryConfig, error: str) -> Outcome:
    """runner.Retry: pending again after the delay asked, the attempt not spent while
    `max_snoozes` allows (kind SNOOZED); after that each Retry spends an attempt (kind
    RETRYABLE; failed when none is left)."""
    if job.snoozes < retry.max_snoozes:
        message = f"snoozed {job.snoozes + 1}/{retry.max_snoozes}: {error}"
        return Outcome(job.id, job.lease, Kind.SNOOZED, "pending", job.retry_count, message,
                       delay=verdict.delay)  # fmt: skip
    message = f"{error} (max_snoozes {retry.max_snoozes} reached: an attempt spent)"
    if job.retry_count < retry.max_retries:
        return Outcome(job.id, job.lease, Kind.RETRYABLE, "pending", job.retry_count + 1,
                       message, delay=verdict.delay)  # fmt: skip
    return Outcome(job.id, job.lease, Kind.RETRYABLE, "failed", job.retry_count, message)


def backoff(
    retry_count: int, base: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds before retry number `retry_count + 1`: doubling from `base`, up to `maximum`,
    with half of it random so that jobs failing together do not come back together."""
    delay = min(maximum, base * 2.0**retry_count)
    return delay / 2 + (rng or _RNG).uniform(0, delay / 2)
