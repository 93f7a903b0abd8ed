"""The pool against a fake fork server, fake process calls and a fake clock: every way an
attempt ends, concluded into the outcome the loop writes. No PostgreSQL, no runner forked."""

from __future__ import annotations

import errno
import signal
from collections.abc import Iterator

import pytest

from runner import protocol
from runner.parent import Started
from runner.protocol import FailureKind
from supervisor import config as configuration
from supervisor.runners.jobrow import Unusable
from supervisor.runners.outcome import Kind
from supervisor.runners.pool import NOT_STARTED_DELAY
from supervisor.runners.state import KillReason, RunnerState
from tests.fixtures.fakes import no_children
from tests.fixtures.pool_rig import Rig, job

pytestmark = pytest.mark.unit

INSIGHT: protocol.Insight = {"insight_type": "kpi", "content": {"x": 1}, "confidence_score": 0.9}


@pytest.fixture
def rig() -> Iterator[Rig]:
    with no_children():
        rig = Rig()
        yield rig
        rig.spawner.close_all()
        rig.selector.close()


def test_a_runner_is_one_record_from_request_to_reap(rig: Rig) -> None:
    rig.pool.start(job(1), rig.clock())
    assert len(rig.pool) == 1 and rig.pool.claims() == {"job-1": 101}
    (runner,) = rig.pool
    assert runner.state is RunnerState.STARTING and rig.pool.started() == []
    rig.spawner.start_runner(4242)
    assert rig.reap() == []
    assert runner.state is RunnerState.RUNNING and runner.pid == 4242
    assert rig.pool.started() == [runner]
    rig.clock.advance(2.5)
    rig.spawner.finish("job-1", 4242, protocol.success([INSIGHT]), output=b"hello\n")
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, list(outcome.insights)) == (
        Kind.COMPLETED, "completed", [INSIGHT],
    )  # fmt: skip
    assert outcome.attempt is not None
    assert (outcome.attempt["pid"], outcome.attempt["seconds"]) == (4242, 2.5)
    assert outcome.attempt["peak_memory_mb"] == 100 and outcome.attempt["outcome"] == "completed"
    assert len(rig.pool) == 0 and rig.pool.counts.completed == 1
    assert rig.reap() == []  # each outcome is handed over once
    assert rig.ops.sent == [(4242, signal.SIGKILL)]  # what the handler left running


def test_the_spec_carries_the_job_and_its_limits(rig: Rig) -> None:
    rig.pool.start(job(3, retry_count=2), rig.clock())
    (spec,) = rig.spawner.specs
    assert (spec.job.id, spec.job.attempt, spec.job.max_attempts, spec.job.lease) == (
        "job-3", 3, 4, 103,
    )  # fmt: skip
    assert spec.handler == "runner.insights:analysis"
    assert rig.spawner.preload == ["runner.insights", "runner.report"]  # the built-in types


def test_answers_come_in_the_order_asked(rig: Rig) -> None:
    for n in (1, 2, 3):
        rig.pool.start(job(n), rig.clock())
    for pid in (11, 12, 13):
        rig.spawner.start_runner(pid)
    rig.reap()
    assert {r.job_id: r.pid for r in rig.pool} == {"job-1": 11, "job-2": 12, "job-3": 13}


def test_a_refused_start_goes_back_to_pending_without_an_attempt(rig: Rig) -> None:
    rig.pool.start(job(1), rig.clock())
    rig.spawner.refuse(OSError(errno.EAGAIN, "Resource temporarily unavailable"))
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.delay) == (
        Kind.NOT_STARTED, "pending", NOT_STARTED_DELAY,
    )  # fmt: skip
    assert outcome.retry_count == 0 and outcome.attempt is None and len(rig.pool) == 0


def test_a_request_that_cannot_be_sent_goes_back_to_pending(rig: Rig) -> None:
    rig.spawner.fail_with = OSError(errno.ENOMEM, "Cannot allocate memory")
    rig.pool.start(job(1), rig.clock())
    (outcome,) = rig.reap()
    assert outcome.kind is Kind.NOT_STARTED and len(rig.pool) == 0


def test_a_bug_while_starting_fails_that_attempt_alone(rig: Rig) -> None:
    rig.spawner.fail_with = RuntimeError("boom")
    rig.pool.start(job(1), rig.clock())
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.RETRYABLE, "pending", 1)
    assert outcome.error == "supervisor error starting the runner: RuntimeError: boom"


def test_an_unusable_row_fails_at_once_without_a_runner(rig: Rig) -> None:
    rig.pool.start(Unusable(job(1), "metadata: expected a JSON object, got array [1]"), 0.0)
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status) == (Kind.PERMANENT, "failed")
    assert outcome.error == "unusable job row: metadata: expected a JSON object, got array [1]"
    assert rig.spawner.specs == [] and rig.pool.counts.failed == 1


def test_a_job_of_a_type_not_served_goes_back_to_pending_untouched(rig: Rig) -> None:
    """Its type left the configuration (a SIGHUP) between the claim and the start: no
    runner, no failure, no attempt spent; a supervisor serving the type runs it."""
    rig.pool.start(job(1, job_type="nosuch"), rig.clock())
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.attempt) == (Kind.NOT_SERVED, "pending", None)
    assert outcome.retry_count == job(1).retry_count and outcome.delay == 0.0
    assert rig.spawner.specs == [] and rig.pool.counts.failed == 0


def test_a_kill_while_starting_is_done_once_it_has_started(rig: Rig) -> None:
    rig.pool.start(job(1), rig.clock())
    rig.pool.kill_claim("job-1", 101, KillReason.CANCELLED)
    rig.pool.kill_claim("job-1", 999, KillReason.LOST)  # another claim's: not this runner
    assert rig.ops.sent == []
    rig.spawner.start_runner(77)
    rig.reap()
    (runner,) = rig.pool
    assert runner.state is RunnerState.KILLED and (77, signal.SIGKILL) in rig.ops.sent
    rig.spawner.finish("job-1", 77, None, status=signal.SIGKILL)
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status) == (Kind.LOST, None)
    assert outcome.attempt is not None and outcome.attempt["outcome"] == "cancelled"


def test_a_crash_is_retried_after_a_backoff_with_its_output(rig: Rig) -> None:
    rig.run(job(1), 5)
    rig.spawner.finish("job-1", 5, None, status=signal.SIGSEGV, output=b"last words\n")
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.RETRYABLE, "pending", 1)
    assert outcome.error == "runner killed by SIGSEGV\n--- last output ---\nlast words"
    assert 5.0 <= outcome.delay <= 10.0 and rig.pool.counts.retried == 1


def test_the_last_attempt_fails_the_job(rig: Rig) -> None:
    rig.run(job(1, retry_count=3), 5)
    failure = protocol.failure(FailureKind.EXCEPTION, "ValueError: bad row 7")
    rig.spawner.finish("job-1", 5, failure, status=1 << 8)
    (outcome,) = rig.reap()
    assert (outcome.status, outcome.error) == ("failed", "ValueError: bad row 7")


def test_a_malformed_result_is_retried(rig: Rig) -> None:
    rig.run(job(1), 5)
    rig.spawner.finish("job-1", 5, {"ok": True, "insights": "no"}, status=0)  # type: ignore[typeddict-item]
    (outcome,) = rig.reap()
    assert outcome.error == "runner sent a malformed result (insights not a list)"


def test_a_drain_does_not_wait_for_a_starting_runner_it_cuts_it_off(rig: Rig) -> None:
    rig.run(job(1), 5)
    rig.pool.start(job(2), rig.clock())  # its answer is still on its way
    rig.spawner.on_settle.append(Started(6))  # what only a wait for the fork server would see
    rig.pool.terminate_all(rig.clock())
    assert rig.ops.sent == [(5, signal.SIGTERM)] and rig.spawner.on_settle == [Started(6)]
    starting = next(r for r in rig.pool if r.job_id == "job-2")
    assert (starting.result_fd, starting.output_fd) == (-1, -1)  # it exits before its handler
    rig.spawner.start_runner(6)
    rig.spawner.finish("job-1", 5, None, status=signal.SIGTERM)
    rig.spawner.finish("job-2", 6, None, status=signal.SIGKILL)
    outcomes = rig.reap()
    assert (6, signal.SIGKILL) in rig.ops.sent  # killed once the server named it
    assert [(o.kind, o.status, o.keep_error) for o in outcomes] == [
        (Kind.INTERRUPTED, "pending", True)
    ] * 2
    assert rig.pool.counts.interrupted == 2


def test_a_lease_fence_cuts_off_starting_runners_without_waiting_for_the_fork_server(
    rig: Rig,
) -> None:
    rig.pool.start(job(1), rig.clock())
    rig.spawner.on_settle.append(Started(5))
    rig.pool.kill_all(KillReason.LEASE, "lease lost")
    (runner,) = rig.pool
    assert rig.spawner.on_settle == [Started(5)] and rig.ops.sent == []  # no wait, no pid yet
    assert (runner.result_fd, runner.output_fd) == (-1, -1)
    rig.spawner.start_runner(5)
    rig.spawner.finish("job-1", 5, None, status=signal.SIGKILL)
    (outcome,) = rig.reap()
    assert rig.ops.sent[0] == (5, signal.SIGKILL)
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.INTERRUPTED, "pending", 0)


def test_a_job_claimed_after_the_lease_was_lost_is_forgone_unstarted(rig: Rig) -> None:
    rig.pool.forgo(job(1), "lease lost before the claim's answer came: not started")
    assert not rig.pool and rig.spawner.specs == []
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.INTERRUPTED, "pending", 0)
    assert rig.pool.counts.interrupted == 1 and rig.pool.counts.started == 0


def test_a_lost_lease_kills_every_runner_with_that_reason(rig: Rig) -> None:
    rig.run(job(1), 5)
    rig.pool.kill_all(KillReason.LEASE, "lease lost")
    rig.spawner.finish("job-1", 5, None, status=signal.SIGKILL)
    (outcome,) = rig.reap()
    assert (outcome.kind, outcome.status, outcome.retry_count) == (Kind.INTERRUPTED, "pending", 0)


def test_only_attempts_that_ran_to_their_end_count_toward_max_jobs(rig: Rig) -> None:
    rig.run(job(1), 5)  # completes
    rig.run(job(2), 6)  # taken away: the seed's reset SQL, a reclaim
    rig.run(job(3), 7)  # crashes: retried, an attempt spent
    rig.run(job(4), 8)  # cut short by a lost lease
    rig.pool.kill_claim("job-2", 102, KillReason.LOST, "reset to pending")
    rig.pool.kill_claim("job-4", 104, KillReason.LEASE, "lease lost")
    rig.spawner.finish("job-1", 5, protocol.success([]))
    rig.spawner.finish("job-2", 6, None, status=signal.SIGKILL)
    rig.spawner.finish("job-3", 7, None, status=signal.SIGSEGV)
    rig.spawner.finish("job-4", 8, None, status=signal.SIGKILL)
    assert len(rig.reap()) == 4
    assert rig.pool.counts.started == 4 and rig.pool.counts.ended == 2


def test_sampling_interval_follows_the_runners(rig: Rig) -> None:
    assert rig.pool.check_interval() == 1.0
    rig.pool.start(job(1), rig.clock())
    assert rig.pool.check_interval() == rig.pool.runners["job-1"].limits.check_interval


def test_reconfigure_changes_what_a_new_fork_server_preloads(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "c.toml"
    conf.write_text('[supervisor]\npreload = ["json"]\n')
    config = configuration.load(conf)
    rig.pool.configure(config, config.served())
    assert rig.spawner.preload == ["json", "runner.insights", "runner.report"]
