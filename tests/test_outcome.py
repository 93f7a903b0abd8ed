"""From a runner's ending to the row written: messages, retries, backoff (no fork)."""

from __future__ import annotations

import random
import signal

from runner import protocol
from runner.protocol import FailureKind
from supervisor.config import Limits, RetryConfig
from supervisor.jobrow import ClaimedJob
from supervisor.outcome import Kind, Verdict, backoff, decide, judge
from supervisor.runners import KillReason, Output, Runner

JOB = ClaimedJob("j1", 7, "diag.x", None, {}, 0, None, False)


def ended(status: int = 0, document: dict | None = None, reason: KillReason | None = None,
          detail: str = "", output: bytes = b"", **limit_values: float) -> Runner:  # fmt: skip
    r = Runner(JOB, Limits(**limit_values), 1, -1, -1, 0.0, 0.0, Output(limit=0))  # type: ignore[arg-type]
    r.ops = type("Ops", (), {"killpg": lambda *a: None})()
    if document is not None:
        r.result += protocol.encode(document)
    r.reason, r.reason_detail = reason, detail
    r.output.tail += output
    r.exited(status)
    return r


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
    first = decide(JOB, failing, retry, rng=random.Random(1))
    assert first is not None
    assert (first.status, first.retry_count, first.error) == ("pending", 1, "boom")
    assert 5 <= first.delay <= 10
    last = ClaimedJob("j1", 7, "diag.x", None, {}, 3, None, False)
    assert decide(last, failing, retry).status == "failed"
    assert decide(JOB, Verdict(Kind.PERMANENT, "bad"), retry).status == "failed"
    interrupted = decide(JOB, Verdict(Kind.INTERRUPTED), retry)
    assert interrupted is not None and (
        interrupted.status,
        interrupted.retry_count,
        interrupted.keep_error,
    ) == ("pending", 0, True)
    lost = decide(JOB, Verdict(Kind.LOST), retry)  # taken from us: its record only
    assert (lost.status, lost.lease, list(lost.insights)) == (None, 7, [])
    fail_fast = RetryConfig(on_memory_limit="fail")
    assert decide(JOB, Verdict(Kind.RETRYABLE, "m", limit="memory"), fail_fast).status == "failed"
    assert decide(JOB, Verdict(Kind.RETRYABLE, "t", limit="time"), fail_fast).status == "pending"


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    rng = random.Random(7)
    for n, (low, high) in enumerate([(5, 10), (10, 20), (20, 40), (40, 80), (50, 100), (50, 100)]):
        assert low <= backoff(n, 10, 100, rng) <= high
