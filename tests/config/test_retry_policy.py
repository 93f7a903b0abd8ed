"""Per-type retry policy, retry_on and runner.Retry: from the failure document to the row
written (no fork, no database)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner import Retry, protocol
from runner.protocol import FailureKind
from supervisor import config
from supervisor.config import RetryConfig
from supervisor.config.model import retries_exception, retry_for
from supervisor.errors import ConfigError
from supervisor.identity import Identity
from supervisor.runners.jobrow import ClaimedJob, from_row
from supervisor.runners.outcome import Kind, Verdict, conclude
from tests.fixtures.fakes import ended

pytestmark = pytest.mark.unit

JOB = ClaimedJob("j1", 7, "diag.x", None, {}, 0, None, False)
ME = Identity.new()


def decide(job: ClaimedJob, verdict: Verdict, retry: RetryConfig):  # type: ignore[no-untyped-def]
    return conclude(job, verdict, retry, ME)


def failed_with(exception: str, *bases: str) -> Verdict:
    document = protocol.failure(FailureKind.EXCEPTION, f"{exception}: boom", "tb",
                                [exception, *bases, "Exception", "BaseException"])  # fmt: skip
    from supervisor.runners.outcome import judge

    return judge(ended(1 << 8, document), 16)


def test_the_failure_document_names_the_exception_class_and_its_bases() -> None:
    verdict = failed_with("ConnectionResetError", "ConnectionError", "OSError")
    assert verdict.kind is Kind.RETRYABLE
    assert verdict.exception[:3] == ("ConnectionResetError", "ConnectionError", "OSError")


def test_retry_on_retries_the_classes_named_and_their_subclasses_only() -> None:
    retry = RetryConfig(retry_on=("TimeoutError", "ConnectionError"))
    timeout = decide(JOB, failed_with("TimeoutError", "OSError"), retry)
    reset = decide(JOB, failed_with("ConnectionResetError", "ConnectionError", "OSError"), retry)
    value = decide(JOB, failed_with("ValueError"), retry)
    assert (timeout.status, timeout.retry_count) == ("pending", 1)
    assert (reset.status, reset.retry_count) == ("pending", 1)
    assert (value.status, value.retry_count) == ("failed", 0)  # at once, no attempt more


def test_retry_on_leaves_crashes_and_limit_kills_to_their_own_policy() -> None:
    retry = RetryConfig(retry_on=("TimeoutError",))
    crashed = decide(JOB, Verdict(Kind.RETRYABLE, "runner killed by SIGSEGV"), retry)
    assert crashed.status == "pending"
    assert retries_exception(RetryConfig(), ["ValueError"])  # empty retry_on: every exception
    assert retries_exception(retry, [])  # a failure that names no class


def test_retry_snoozes_without_spending_an_attempt_up_to_max_snoozes() -> None:
    document = protocol.retry(30.0, "rate limited")
    from supervisor.runners.outcome import judge

    verdict = judge(ended(1 << 8, document), 16)
    assert (verdict.kind, verdict.delay) == (Kind.SNOOZED, 30.0)
    retry = RetryConfig(max_retries=1, max_snoozes=2)
    first = decide(JOB, verdict, retry)
    assert (first.status, first.retry_count, first.delay) == ("pending", 0, 30.0)
    assert first.error == "snoozed 1/2: rate limited"
    # max_snoozes spent: a Retry now costs an attempt, then fails when none is left
    spent = decide(dataclasses.replace(JOB, snoozes=2), verdict, retry)
    assert (spent.status, spent.retry_count, spent.delay) == ("pending", 1, 30.0)
    assert "max_snoozes 2 reached" in (spent.error or "")
    last = decide(dataclasses.replace(JOB, snoozes=2, retry_count=1), verdict, retry)
    assert (last.status, last.retry_count) == ("failed", 1)


def test_retry_checks_its_delay() -> None:
    assert Retry(delay=5).delay == 5.0
    assert str(Retry(delay=5)) == "retry requested in 5 s"
    for bad in (-1, float("nan"), "5", True):
        with pytest.raises(ValueError, match="Retry"):
            Retry(delay=bad)  # type: ignore[arg-type]
    assert protocol.problem({"ok": False, "kind": "retry", "message": "", "delay": "x"})
    assert protocol.problem({"ok": False, "message": "", "exception": "ValueError"})
    assert protocol.problem(protocol.retry(1.0, "later")) is None


def test_a_claimed_row_carries_its_snoozes() -> None:
    row = ("j", 1, "t", None, {}, 0, None, False, 0, None, 3)
    job = from_row(row)
    assert isinstance(job, ClaimedJob) and job.snoozes == 3
    assert isinstance(from_row(row[:10]), ClaimedJob)  # a row without the count


def test_job_types_take_their_own_retry_keys_over_retry(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[retry]
max_retries = 5
backoff_base = 2.0
retry_on = ["OSError"]
[job_types.fragile]
handler = "runner.diag:fail"
max_retries = 1
retry_on = ["TimeoutError"]
max_snoozes = 3
max_running = 2
memory_mb = 64
""")  # fmt: skip
    cfg = config.load(path)
    fragile = retry_for(cfg, "fragile")
    assert (fragile.max_retries, fragile.backoff_base, fragile.retry_on, fragile.max_snoozes) == (
        1, 2.0, ("TimeoutError",), 3
    )  # fmt: skip
    assert cfg.job_types["fragile"].max_running == 2
    assert cfg.job_types["fragile"].limits.memory_mb == 64
    assert retry_for(cfg, "analysis").max_retries == 5
    assert retry_for(cfg, "unknown") == cfg.retry


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_running = -1", "[job_types.t] max_running: must not be negative"),
        ('max_running = "2"', "max_running: expected an integer"),
        ('retry_on = ["Timeout Error"]', "'Timeout Error' is not an exception class name"),
        ('retry_on = "TimeoutError"', "retry_on: expected a list of strings"),
        ("max_snoozes = 1.5", "max_snoozes: expected an integer"),
        ("memory_mbb = 1", "unknown key 'memory_mbb' (did you mean 'memory_mb'?)"),
        ("max_retry = 1", "unknown key 'max_retry' (did you mean 'max_retries'?)"),
    ],
)
def test_a_bad_job_type_key_is_one_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[job_types.t]\nhandler = "runner.diag:noop"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert message in str(caught.value)
