"""Runner state transitions, with a fake clock and fake system calls (no fork)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from supervisor.config import Limits
from supervisor.runners import limits, proctree
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.state import KillReason, Output, Runner, RunnerState
from tests.fixtures.fakes import FakeOps

pytestmark = pytest.mark.unit


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, _fmt: str, line: str) -> None:
        self.lines.append(line)

    def warning(self, fmt: str, *args: Any) -> None:
        self.lines.append(fmt.format(*args))


def runner(**limit_values: Any) -> tuple[Runner, FakeOps]:
    ops = FakeOps()
    job = ClaimedJob("j1", 7, "diag.sleep", None, {}, 0, None, False)
    r = Runner(job, Limits(**limit_values), 5, 6, started=100.0, started_wall=0.0,
               output=Output(limit=100), ops=ops)  # fmt: skip
    r.running(42)
    return r, ops


def test_terminate_then_escalate_to_kill_after_kill_timeout() -> None:
    r, ops = runner()
    r.terminate(KillReason.SHUTDOWN, now=110.0, kill_timeout=5.0)
    assert r.state is RunnerState.TERMINATING
    assert ops.sent == [(42, signal.SIGTERM)]
    r.terminate(KillReason.SHUTDOWN, now=111.0, kill_timeout=5.0)  # no second SIGTERM
    r.escalate(114.9)
    assert r.state is RunnerState.TERMINATING
    r.escalate(115.0)
    assert r.state is RunnerState.KILLED
    assert ops.sent == [(42, signal.SIGTERM), (42, signal.SIGKILL)]
    r.exited(9)
    assert r.state is RunnerState.EXITED
    r.kill(KillReason.TIME)  # nothing to kill any more
    assert ops.sent[-1] == (42, signal.SIGKILL) and len(ops.sent) == 2


def test_soft_then_hard_time_limit() -> None:
    r, ops = runner(soft_time_limit=10, time_limit=20)
    limits.enforce_time(r, now=105.0, kill_timeout=30)
    assert ops.sent == []
    limits.enforce_time(r, now=110.0, kill_timeout=30)
    assert (r.state, r.reason, ops.sent) == (
        RunnerState.TERMINATING,
        KillReason.SOFT_TIME,
        [(42, signal.SIGTERM)],
    )
    limits.enforce_time(r, now=120.0, kill_timeout=30)  # the handler ignored SIGTERM
    assert (r.state, r.reason) == (RunnerState.KILLED, KillReason.TIME)
    assert ops.sent[-1] == (42, signal.SIGKILL)


def test_soft_limit_alone_escalates_after_kill_timeout() -> None:
    r, _ = runner(soft_time_limit=10, time_limit=0)
    limits.enforce_time(r, now=110.0, kill_timeout=2)
    limits.enforce_time(r, now=112.0, kill_timeout=2)
    assert (r.state, r.reason) == (RunnerState.KILLED, KillReason.SOFT_TIME)


def test_weightier_reason_wins() -> None:
    r, _ = runner()
    r.terminate(KillReason.SHUTDOWN, now=100.0, kill_timeout=1)
    r.kill(KillReason.MEMORY, "memory limit exceeded: 2 GiB > 1 GiB (rss)")
    assert r.reason is KillReason.MEMORY
    assert r.reason_detail.startswith("memory limit exceeded")
    r2, _ = runner()
    r2.kill(KillReason.MEMORY)
    r2.kill(KillReason.SHUTDOWN)
    assert r2.reason is KillReason.MEMORY


def test_per_job_memory_is_capped() -> None:
    base = Limits(memory_mb=512, max_memory_mb=2048)
    assert limits.for_job(base, {"memory_mb": 1024}).memory_mb == 1024
    assert limits.for_job(base, {"memory_mb": 99999}).memory_mb == 2048
    assert limits.for_job(base, {"memory_mb": "lots"}).memory_mb == 512
    assert limits.for_job(Limits(memory_mb=512), {"memory_mb": 1024}).memory_mb == 512


def test_output_logs_lines_up_to_the_limit_and_keeps_the_tail() -> None:
    out = Output(limit=30)
    log = Lines()
    out.feed(b"first line\nsecond ", log)
    out.feed(b"line\nthird line that is long\n", log)
    out.close(log)
    assert log.lines[:2] == ["first line", "second line"]
    assert log.lines[2] == "24 more bytes of output not logged (output_limit_kb)"
    assert out.tail_text().endswith("third line that is long\n")
    big = Output(limit=10**9)
    for _ in range(100):
        big.feed(b"x" * 1000, Lines())
    assert len(big.tail) == 4096


def test_result_overflow_is_noticed() -> None:
    r, _ = runner()
    r.add_result(b"x" * 100, max_bytes=50)
    assert r.result_overflow and r.document() is None


def test_kill_reaches_descendants_outside_the_group() -> None:
    r, ops = runner()
    r.descendants = {77: 1234, 78: 1250}  # e.g. children that called setsid()
    r.kill(KillReason.MEMORY, "memory limit exceeded")
    assert ops.sent == [(42, signal.SIGKILL), (77, signal.SIGKILL), (78, signal.SIGKILL)]
    assert r.killed_at is not None


def test_pss_far_below_an_rss_over_the_limit_is_read_again_once_a_second(
    monkeypatch: Any,
) -> None:
    reads: list[int] = []
    monkeypatch.setattr(limits, "_read_full_memory", lambda tree, metric: reads.append(1) or 50)
    r, _ = runner(memory_mb=1, memory_metric="pss")  # limit 1 MiB; PSS reads 50 bytes

    def measure(rss: int, now: float) -> int:
        snap = proctree.Snapshot()
        snap.procs[42] = proctree.Proc(42, 1, 42, 0, rss, 0.0)
        limits.measure(r, snap, now)
        return r.memory

    mb = 1 << 20
    assert measure(rss=2 * mb, now=10.0) == 50 and len(reads) == 1
    assert measure(rss=2 * mb, now=10.5) == 50 and len(reads) == 1  # the reading stands
    assert measure(rss=2 * mb + 1000, now=10.6) == 1050  # new pages count in full at once
    assert measure(rss=3 * mb, now=10.7) == 50 and len(reads) == 2  # past the room left: read
    assert measure(rss=3 * mb, now=11.8) == 50 and len(reads) == 3  # a second on: read
    assert r.memory_metric == "pss"
    assert measure(rss=100, now=11.9) == 100 and len(reads) == 3  # RSS far below: no read
    assert r.memory_metric == "rss"  # what `jobsup ps` and a kill message then say


def test_a_kill_asked_while_starting_is_done_once_it_runs() -> None:
    ops = FakeOps()
    job = ClaimedJob("j1", 7, "diag.sleep", None, {}, 0, None, False)
    r = Runner(job, Limits(), 5, 6, 100.0, 0.0, Output(limit=100), ops=ops)
    assert r.state is RunnerState.STARTING
    r.terminate(KillReason.SHUTDOWN, now=101.0, kill_timeout=5.0)
    r.kill(KillReason.CANCELLED)
    r.kill_tree()
    assert ops.sent == []  # no pid yet: nothing signalled (killpg(0) would be ours)
    r.running(43)
    assert r.state is RunnerState.KILLED and r.reason is KillReason.CANCELLED
    assert ops.sent == [(43, signal.SIGKILL)]


def test_a_runner_the_server_refused_never_ran() -> None:
    job = ClaimedJob("j1", 7, "diag.sleep", None, {}, 0, None, False)
    r = Runner(job, Limits(), 5, 6, 100.0, 0.0, Output(limit=100), ops=FakeOps())
    r.never_started()
    assert r.state is RunnerState.EXITED and r.pid == 0
