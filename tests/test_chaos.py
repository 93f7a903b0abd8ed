"""scripts/chaos.py: its verdict rules on made-up histories, its handler, and 60-second runs.

The runs start their own PostgreSQL and supervisors (`--netns`: as hosts of their own, which
needs root: CI runs as root, and elsewhere the test fails with the script's one-line reason).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import diag
from runner.job import Job
from scripts.chaoslib.check import (
    AtOnce,
    Declared,
    Disturbances,
    Execution,
    Freeze,
    Life,
    Row,
    Runner,
    check_host_keys,
    judge,
    judge_watch,
    read_executions,
)

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
JOB = "11111111-1111-4111-8111-111111111111"
WORKER_A, WORKER_B = "aaaaaaaa-0000-4000-8000-000000000000", "bbbbbbbb-0000-4000-8000-000000000000"
WORKERS = {WORKER_A: ("vm", 100), WORKER_B: ("vm", 200)}
SUMMARY = re.compile(
    r"^chaos: (\d+) jobs: (\d+) completed, (\d+) failed, (\d+) lost, (\d+) stuck, "
    r"(\d+) written twice$"
)


def run(attempt: int, pid: int, supervisor: int = 100, start: float = 0.0,
        end: float | None = 1.0, result: str | None = "ok", lease: int | None = None,
        name: str | None = None) -> Execution:  # fmt: skip
    return Execution(name or f"e{attempt}-{pid}", JOB, attempt, lease, pid, supervisor, "vm",
                     start, end, result)  # fmt: skip


def record(attempt: int, pid: int | None, outcome: str, worker: str = WORKER_A) -> dict[str, Any]:
    entry: dict[str, Any] = {"attempt": attempt, "worker": worker, "host": "vm",
                             "outcome": outcome}  # fmt: skip
    if pid is not None:
        entry["pid"] = pid
    return entry


def insight(execution: Execution) -> dict[str, Any]:
    return {"job_id": JOB, "attempt": execution.attempt, "lease": execution.lease,
            "execution": execution.id}  # fmt: skip


def verdict(row: Row | None, insights: list[dict[str, Any]], runs: list[Execution],
            disturbances: Disturbances | None = None) -> Any:  # fmt: skip
    rows = {JOB: row} if row else {}
    return judge([JOB], rows, {JOB: insights}, {JOB: runs}, WORKERS,
                 disturbances or Disturbances(), max_retries=3)  # fmt: skip


def test_a_job_completed_once_by_its_last_attempt_passes() -> None:
    first, second = run(1, 11, end=0.5, result="raise"), run(2, 12, start=1.0, end=2.0)
    row = Row("completed", 1, None, [record(1, 11, "retry"), record(2, 12, "completed")])
    result = verdict(row, [insight(second)], [first, second])
    assert result.anomalies == []
    assert (
        result.summary() == "chaos: 1 jobs: 1 completed, 0 failed, 0 lost, 0 stuck, 0 written twice"
    )
    assert result.ok


def test_two_insights_or_a_stale_one_count_as_written_twice() -> None:
    first, second = run(1, 11, end=0.5), run(2, 12, start=1.0, end=2.0)
    attempts = [record(1, None, "retry", WORKER_B), record(2, 12, "completed")]
    twice = verdict(Row("completed", 1, None, attempts), [insight(first), insight(second)],
                    [first, second])  # fmt: skip
    assert twice.twice == 1 and "2 insight rows" in twice.anomalies[0]
    # Issue 10, item 5: attempt 1's stale write wins over attempt 2, and retry_count goes back.
    stale = verdict(Row("completed", 0, None, attempts), [insight(first)], [first, second])
    assert stale.twice == 1 and "a later claim ran" in " ".join(stale.anomalies)
    leased = verdict(Row("completed", 0, None, [record(1, 11, "completed")], lease=8),
                     [insight(run(1, 11, lease=7))], [run(1, 11, lease=7)])  # fmt: skip
    assert leased.twice == 1 and "lease 7, the row 8" in leased.anomalies[0]
    failed = verdict(Row("failed", 3, "x", []), [insight(first)], [first])
    assert failed.twice == 1


def test_lost_stuck_and_bad_failures_are_named() -> None:
    assert verdict(None, [], []).lost == 1
    assert verdict(Row("completed", 0, None, []), [], []).lost == 1
    assert verdict(Row("cancelled", 0, None, []), [], []).lost == 1
    stuck = verdict(Row("processing", 0, None, []), [], [])
    assert stuck.stuck == 1 and "still processing" in stuck.anomalies[0]
    early = verdict(Row("failed", 1, "RuntimeError: x\ntraceback", []), [], [])
    assert early.anomalies == [f"job {JOB}: failed after 2 of 4 attempts: RuntimeError: x"]
    assert "without a reason" in verdict(Row("failed", 3, "", []), [], []).anomalies[0]
    assert verdict(Row("failed", 3, "RuntimeError: x", []), [], []).ok


def test_every_execution_needs_an_attempt_record_or_a_reset() -> None:
    killed, last = run(1, 11, end=None, result=None), run(2, 12, start=2.0, end=3.0)
    reclaimed = [record(1, None, "retry", WORKER_A), record(2, 12, "completed")]
    assert verdict(Row("completed", 1, None, reclaimed), [insight(last)], [killed, last]).ok
    by_peer = [record(1, None, "retry", WORKER_B), record(2, 12, "completed")]
    unexplained = verdict(Row("completed", 1, None, by_peer), [insight(last)], [killed, last])
    assert "e1-11" in unexplained.anomalies[0] and "no attempt record" in unexplained.anomalies[0]
    again = run(1, 13, start=2.0, end=3.0)  # the same attempt started twice
    row = Row("completed", 0, None, [record(1, 13, "completed")])
    assert not verdict(row, [insight(again)], [killed, again]).ok
    reset = Disturbances(resets={JOB: [1.5]})
    assert verdict(row, [insight(again)], [killed, again], reset).ok


def test_a_runner_whose_fork_server_was_killed_as_it_started_needs_no_attempt_record() -> None:
    """The server killed as it forked the runner: the supervisor never hears of the start
    (the job goes back to pending, no attempt spent) and the runner dies with the server."""
    started = run(1, 11, start=5.0, end=None, result=None)
    started.parent_pid = 40
    last = run(1, 12, start=8.0, end=9.0)  # the same attempt: none was spent
    row = Row("completed", 0, None, [record(1, 12, "completed")])
    as_it_started = Disturbances(server_kills={("vm", 40): 4.99})
    assert verdict(row, [insight(last)], [started, last], as_it_started).ok
    long_before = Disturbances(server_kills={("vm", 40): 1.0})
    assert not verdict(row, [insight(last)], [started, last], long_before).ok
    other_server = Disturbances(server_kills={("vm", 41): 4.99})
    assert not verdict(row, [insight(last)], [started, last], other_server).ok
    finished = run(1, 11, start=5.0, end=5.5)  # it ran to its end: an attempt it was
    finished.parent_pid = 40
    assert not verdict(row, [insight(last)], [finished, last], as_it_started).ok


def test_executions_at_once_need_a_frozen_supervisor() -> None:
    older = run(1, 11, supervisor=100, start=0.0, end=5.0)
    newer = run(2, 12, supervisor=200, start=4.0, end=6.0)
    row = Row(
        "completed", 1, None, [record(1, None, "retry", WORKER_A), record(2, 12, "completed")]
    )
    alone = verdict(row, [insight(newer)], [older, newer])
    assert "ran at once on two supervisors" in alone.anomalies[0]
    frozen = Disturbances(freezes=[Freeze("vm", 100, 0.5, 4.5, here=100)])
    assert verdict(row, [insight(newer)], [older, newer], frozen).ok
    same = run(2, 12, supervisor=100, start=4.0, end=6.0)
    assert "on one supervisor" in verdict(row, [insight(same)], [older, same], frozen).anomalies[0]


def test_memory_held_over_the_limit_needs_a_frozen_supervisor() -> None:
    hog = run(1, 11, start=0.0, end=2.0, result="allocated")
    row = Row("completed", 0, None, [record(1, 11, "completed")])
    assert "memory limit not enforced" in verdict(row, [insight(hog)], [hog]).anomalies[-1]
    frozen = Disturbances(freezes=[Freeze("vm", 100, 0.5, 1.0, here=100)])
    assert "memory limit" not in " ".join(verdict(row, [insight(hog)], [hog], frozen).anomalies)


def test_the_watcher_s_sightings() -> None:
    lives = [Life("s1", "vm", 100, 100, None), Life("s2", "vm", 200, 200, ended=9.0)]
    outage = Disturbances(outages=[(10.0, 16.0)])
    # Issue 10, item 7: every heartbeat is old when the database comes back.
    early = Declared(WORKER_A, "vm", 100, since=9.8, seen=17.0, heartbeat=9.5)
    problems = judge_watch([], [early], lives, outage, stale_after=4.0)
    assert problems and "1.0 s after the database came back" in problems[0]
    patient = Declared(WORKER_A, "vm", 100, since=20.3, seen=20.5, heartbeat=9.5)
    assert judge_watch([], [patient], lives, outage, stale_after=4.0) == []
    before = Declared(WORKER_A, "vm", 100, since=9.9, seen=16.3, heartbeat=5.5)  # at 9.9 say
    assert judge_watch([], [before], lives, outage, stale_after=4.0) == []
    gone = Declared(WORKER_B, "vm", 200, since=9.0, seen=9.2, heartbeat=8.0)
    assert judge_watch([], [gone], lives, outage, stale_after=4.0) == []
    two = AtOnce(3.0, (Runner(JOB, "s1", 100, 11), Runner(JOB, "s1", 100, 12)))
    assert "on one supervisor" in judge_watch([two], [], lives, Disturbances(), 4.0)[0]
    peers = AtOnce(3.0, (Runner(JOB, "s1", 100, 11), Runner(JOB, "s2", 200, 12)))
    assert "neither frozen" in judge_watch([peers], [], lives, Disturbances(), 4.0)[0]
    frozen = Disturbances(freezes=[Freeze("vm", 100, 1.0, 2.5, here=100)])
    assert judge_watch([peers], [], lives, frozen, 4.0) == []


def test_a_reset_while_the_owner_is_cut_off_explains_an_overlap_until_its_lease_ends() -> None:
    """The seed's reset SQL takes a job from an owner that cannot hear of it (its connections
    cut): its runner lives until it fences itself, lease_after past its last heartbeat. That
    and no longer; and a cut alone, or a reset alone long before, explains nothing."""
    lives = [Life("s1", "vm", 100, 100, None), Life("s2", "vm", 200, 200, None)]
    peers = AtOnce(13.5, (Runner(JOB, "s1", 100, 11), Runner(JOB, "s2", 200, 12)))
    cut = Freeze("vm", 100, 10.0, 16.0, here=100)  # s1's connections cut from 10 s
    reset = {JOB: [10.5]}
    assert judge_watch([peers], [], lives, Disturbances(resets=reset, cuts=[cut]), 4.0) == []
    alone = Disturbances(resets=reset)  # s1 connected: it hears of the reset at once
    assert "neither frozen" in judge_watch([peers], [], lives, alone, 4.0)[0]
    late = AtOnce(15.6, peers.runners)  # past 10 + lease_after (3) + LEARN_GRACE (2)
    cut_only = Disturbances(resets=reset, cuts=[cut])
    assert "neither frozen" in judge_watch([late], [], lives, cut_only, 4.0)[0]
    no_reset = Disturbances(cuts=[cut])
    assert "neither frozen" in judge_watch([peers], [], lives, no_reset, 4.0)[0]
    other = Disturbances(resets=reset, cuts=[Freeze("vm", 300, 10.0, 16.0, here=300)])
    assert "neither frozen" in judge_watch([peers], [], lives, other, 4.0)[0]
    # The execution log's view: the older run ended (on its own) 3 s after the reset.
    older = run(1, 11, supervisor=100, start=9.0, end=13.5, result="ok")
    newer = run(2, 12, supervisor=200, start=11.0, end=14.0)
    row = Row("completed", 1, None, [record(1, 11, "lost"), record(2, 12, "completed")])
    assert "ran at once" in verdict(row, [insight(newer)], [older, newer], alone).anomalies[0]
    assert verdict(row, [insight(newer)], [older, newer], cut_only).ok


def test_host_keys_are_one_per_host() -> None:
    assert check_host_keys([("h1", "k1"), ("h1", "k1"), ("h2", "k2")]) == []
    assert "2 host keys" in check_host_keys([("h1", "k1"), ("h1", "k2")])[0]
    assert "share the host key" in check_host_keys([("h1", "k"), ("h2", "k")])[0]


def test_the_chaos_handler_records_each_execution(tmp_path: Path) -> None:
    log = tmp_path / "executions.jsonl"
    metadata = {"record": str(log), "behaviour": "sleep", "seconds": 0}
    [found] = diag.chaos(Job(id=JOB, type="chaos", metadata=metadata, attempt=2))
    assert found["content"]["job_id"] == JOB and found["content"]["attempt"] == 2
    failing = Job(id=JOB, type="chaos", attempt=1,
                  metadata={**metadata, "behaviour": "raise", "fail_attempts": 1})  # fmt: skip
    with pytest.raises(RuntimeError, match="raises in attempt 1"):
        diag.chaos(failing)
    log.write_text(log.read_text() + "not json\n")
    runs, bad = read_executions(log)
    lease = failing.lease
    assert [(r.attempt, r.result, r.lease) for r in runs[JOB]] == [
        (2, "ok", lease),
        (1, "raise", lease),
    ]
    assert runs[JOB][0].id == found["content"]["execution"]
    assert len(bad) == 1 and json.loads(log.read_text().splitlines()[0])["event"] == "start"


def test_a_runner_orphaned_at_start_is_its_fork_server_s(tmp_path: Path) -> None:
    log = tmp_path / "executions.jsonl"
    event = {"event": "start", "execution": "e", "job_id": JOB, "attempt": 1, "lease": 7,
             "time": 1.0, "pid": 11, "parent_pid": 55, "supervisor_pid": 1, "host": "vm"}  # fmt: skip
    log.write_text(json.dumps(event) + "\n")
    runs, _ = read_executions(log, {("vm", 55): 100})
    assert runs[JOB][0].supervisor == ("vm", 100)


@pytest.mark.unit
def test_the_pipelines_checks_catch_a_child_run_early_freed_wrongly_or_run_past_a_failure() -> None:
    """chaoslib/pipelines.py on made-up rows: (status, ended at, error, parents_left)."""
    from scripts.chaoslib.pipelines import _child

    parent, child = "p" * 8 + "-1", "c" * 8 + "-2"
    run = Execution("e1", child, 1, 7, 10, 100, "vm", start=50.0, end=51.0, result="ok")
    done = {parent: ("completed", 40.0, None, 0), child: ("completed", 52.0, None, 0)}
    assert _child(child, [(parent, "run")], done, {child: [run]}, {}) == []
    early = {**done, parent: ("completed", 60.0, None, 0)}
    assert "before its parent" in _child(child, [(parent, "run")], early, {child: [run]}, {})[0]
    parent_run = Execution("e0", parent, 1, 6, 9, 100, "vm", start=30.0, end=55.0, result="ok")
    late = _child(child, [(parent, "run")], done, {child: [run], parent: [parent_run]},
                  {parent: [{"execution": "e0"}]})  # fmt: skip
    assert "run ended at 55.000" in late[0]
    wrong_count = {**done, child: ("pending", None, None, 0), parent: ("processing", None, None, 0)}
    assert _child(child, [(parent, "fail")], wrong_count, {}, {}) == [
        f"job {child}: waits for 0 parents, 1 have not ended"]  # fmt: skip
    failed = {parent: ("failed", 40.0, "boom", 0), child: ("completed", 52.0, None, 0)}
    problems = _child(child, [(parent, "fail")], failed, {child: [run]}, {})
    assert f"job {child}: ran though its parent {parent} failed" in problems
    propagated = {**failed, child: ("failed", 41.0, f"parent {parent[:8]} failed: boom", 0)}
    assert _child(child, [(parent, "fail")], propagated, {}, {}) == []


def _chaos(*args: str) -> tuple[int, str]:
    """Run the script; its exit code and output. On a hang, SIGTERM lets it clean up."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "chaos.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        raise AssertionError(f"chaos.py did not finish in 480 s:\n{output[-4000:]}") from None
    return process.returncode, output


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [["--pipelines"], ["--netns"]], ids=["one-host", "netns"])
def test_a_minute_of_chaos_loses_nothing(mode: list[str]) -> None:
    code, output = _chaos("--duration", "60", "--jobs", "600", *mode)
    lines = output.strip().splitlines()
    match = SUMMARY.match(lines[-1]) if lines else None
    assert match, f"no summary line:\n{output[-4000:]}"
    assert int(match.group(1)) == 600
    assert output.count(" fault: ") >= 20, output[-4000:]
    assert match.group(4, 5, 6) == ("0", "0", "0"), output[-4000:]
    assert code == 0, output[-4000:]
