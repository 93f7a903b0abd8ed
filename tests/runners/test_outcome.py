"""From a runner's ending to the row written: messages, retries, backoff (no fork)."""

from __future__ import annotations

import random
import signal

import pytest

from runner import protocol
from runner.protocol import FailureKind
from supervisor.config import RetryConfig
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.outcome import Kind, Verdict, backoff, conclude, judge, not_started
from supervisor.runners.state import KillReason
from tests.fixtures.fakes import JOB, ME, ended

pytestmark = pytest.mark.unit


def test_success() -> None:
    v = judge(
        ended(
            document=protocol.success([{"insight_type": "a", "content": {}, "confidence_score": 1}])
        ),
        16,
    )
    assert v.kind is Kind.COMPLETED and len(v.insights) == 1


def test_crashes() -> None:
    assert judge(ended(status=signal.SIGSEGV), 16).message == "runner killed by SIGSEGV"
    assert judge(ended(status=3 << 8), 16).message == "runner exited with code 3"
    assert judge(ended(status=0), 16).message == "runner exited without sending a result"
    with_output = judge(ended(status=3 << 8, output=b"boom\n"), 16).message
    assert with_output == "runner exited with code 3\n--- last output ---\nboom"


def test_exception_and_permanent() -> None:
    doc = protocol.failure(FailureKind.EXCEPTION, "ValueError: x", "Traceback ...\nValueError: x\n")
    v = judge(ended(status=1 << 8, document=doc), 16)
    assert (v.kind, v.message) == (Kind.RETRYABLE, "ValueError: x\nTraceback ...\nValueError: x")
    v = judge(
        ended(status=1 << 8, document=protocol.failure(FailureKind.PERMANENT, "bad file")), 16
    )
    assert (v.kind, v.message) == (Kind.PERMANENT, "bad file")


def test_limits_and_shutdown() -> None:
    v = judge(ended(status=9, reason=KillReason.TIME, time_limit=600), 16)
    assert (v.message, v.limit) == ("time limit 600 s exceeded (killed)", "time")
    doc = protocol.failure(
        FailureKind.SOFT_TIME_LIMIT, "SoftTimeLimitExceeded: soft time limit exceeded"
    )
    v = judge(
        ended(status=1 << 8, document=doc, reason=KillReason.SOFT_TIME, soft_time_limit=300), 16
    )
    assert v.message == "soft time limit 300 s exceeded"
    detail = "memory limit exceeded: 1.1 GiB > 1.0 GiB (rss)"
    v = judge(ended(status=9, reason=KillReason.MEMORY, detail=detail), 16)
    assert (v.message, v.limit) == (detail, "memory")
    assert judge(ended(status=15, reason=KillReason.SHUTDOWN), 16).kind is Kind.INTERRUPTED
    assert judge(ended(status=9, reason=KillReason.LOST), 16).kind is Kind.LOST
    # A runner that finished its work before the shutdown signal landed completed.
    ok = ended(document=protocol.success([]), reason=KillReason.SHUTDOWN)
    assert judge(ok, 16).kind is Kind.COMPLETED


def test_retry_policy() -> None:
    retry = RetryConfig(max_retries=3, backoff_base=10, backoff_max=100)
    failing = Verdict(Kind.RETRYABLE, "boom")
    first = conclude(JOB, failing, retry, ME, rng=random.Random(1))
    assert first is not None
    assert (first.status, first.retry_count, first.error) == ("pending", 1, "boom")
    assert 5 <= first.delay <= 10
    last = ClaimedJob("j1", 7, "diag.x", None, {}, 3, None, False)
    assert conclude(last, failing, retry, ME).status == "failed"
    assert conclude(JOB, Verdict(Kind.PERMANENT, "bad"), retry, ME).status == "failed"
    interrupted = conclude(JOB, Verdict(Kind.INTERRUPTED), retry, ME)
    assert interrupted is not None and (
        interrupted.status,
        interrupted.retry_count,
        interrupted.keep_error,
    ) == ("pending", 0, True)
    lost = conclude(JOB, Verdict(Kind.LOST), retry, ME)  # taken from us: its record only
    assert (lost.status, lost.lease, list(lost.insights)) == (None, 7, [])
    fail_fast = RetryConfig(on_memory_limit="fail")
    assert (
        conclude(JOB, Verdict(Kind.RETRYABLE, "m", limit="memory"), fail_fast, ME).status
        == "failed"
    )
    assert (
        conclude(JOB, Verdict(Kind.RETRYABLE, "t", limit="time"), fail_fast, ME).status == "pending"
    )


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    rng = random.Random(7)
    for n, (low, high) in enumerate([(5, 10), (10, 20), (20, 40), (40, 80), (50, 100), (50, 100)]):
        assert low <= backoff(n, 10, 100, rng) <= high


def test_conclusion_carries_the_attempt_record() -> None:
    runner = ended(status=9, reason=KillReason.MEMORY, detail="memory limit exceeded")
    runner.peak_memory, runner.cpu_seconds = 300 << 20, 1.25
    verdict = judge(runner, 16)
    outcome = conclude(JOB, verdict, RetryConfig(max_retries=3), ME, runner, now=2.5)
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.RETRYABLE, "pending", 1)
    record = outcome.attempt
    assert record is not None
    assert {k: record[k] for k in ("attempt", "worker", "host", "outcome", "pid")} == {
        "attempt": 1, "worker": ME.id, "host": ME.host, "outcome": "retry", "pid": 1,
    }  # fmt: skip
    assert (record["seconds"], record["peak_memory_mb"], record["cpu_seconds"]) == (2.5, 300, 1.25)
    assert record["error"] == "memory limit exceeded"
    assert outcome.row()["attempt"] is record


def test_a_cancelled_runner_is_recorded_as_cancelled_and_the_row_left_alone() -> None:
    runner = ended(status=9, reason=KillReason.CANCELLED)
    outcome = conclude(JOB, judge(runner, 16), RetryConfig(), ME, runner, now=1.0)
    assert outcome.status is None and outcome.attempt is not None
    assert outcome.attempt["outcome"] == "cancelled"


def test_a_job_without_a_runner_has_no_figures_and_nul_is_stored_escaped() -> None:
    outcome = conclude(JOB, Verdict(Kind.PERMANENT, "bad\x00row"), RetryConfig(), ME)
    assert outcome.status == "failed" and outcome.error == "bad\\0row"
    assert outcome.attempt is not None and "pid" not in outcome.attempt


def test_not_started_goes_back_to_pending_without_a_record() -> None:
    outcome = not_started(JOB, 5.0)
    assert (outcome.kind, outcome.status, outcome.delay, outcome.keep_error) == (
        Kind.NOT_STARTED, "pending", 5.0, True,
    )  # fmt: skip
    assert outcome.attempt is None and outcome.retry_count == JOB.retry_count
