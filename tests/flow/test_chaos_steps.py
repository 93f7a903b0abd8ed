"""scripts/chaos.py's checks of durable steps on made-up histories: a step run again after
its result was stored, and a result written by a runner whose claim was taken, are named;
an honest history passes; and the chaos handler's `step` behaviour logs its step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import diag
from runner.job import Job
from scripts.chaoslib.check import Execution, read_executions
from scripts.chaoslib.steps import step_problems

pytestmark = pytest.mark.unit
JOB = "11111111-1111-4111-8111-111111111111"


def run(name: str, lease: int, start: float, step_run: float | None = None,
        step_done: float | None = None, by: str | None = None,
        refused: bool = False) -> Execution:  # fmt: skip
    execution = Execution(name, JOB, 1, lease, 10, 100, "vm", start, start + 5, "ok")
    execution.step_run, execution.step_done = step_run, step_done
    execution.step_by, execution.step_refused = by or name, refused
    return execution


def kept(by: str, lease: int) -> dict[str, object]:
    return {"work": {"execution": by, "lease": lease, "attempt": 1}}


def test_an_honest_history_passes() -> None:
    first = run("a", 1, 0.0, step_run=1.0, step_done=1.2)  # ran it, then died
    second = run("b", 2, 3.0, step_done=3.1, by="a")  # got it back
    assert step_problems(kept("a", 1), [first, second]) == []
    # A runner told its claim was taken: its result is not the stored one.
    fenced = run("a", 1, 0.0, step_run=1.0, refused=True)
    again = run("b", 2, 0.5, step_run=2.0, step_done=2.1)
    assert step_problems(kept("b", 2), [fenced, again]) == []
    # Stored under its own claim, its answer lost, the write sent again once the claim was
    # gone: told "not stored", yet what is stored is its own, written under its lease.
    told = run("c", 3, 0.0, step_run=1.0, refused=True)
    assert step_problems(kept("c", 3), [told]) == []


def test_a_step_run_again_after_its_result_was_stored_is_named() -> None:
    first = run("a", 1, 0.0, step_run=1.0, step_done=1.2)
    second = run("b", 2, 3.0, step_run=3.5, step_done=3.6)
    (problem,) = step_problems(kept("b", 2), [first, second])
    assert "execution b (attempt 1, lease 2" in problem and "ran step 'work' again" in problem


def test_a_result_written_by_a_fenced_runner_is_named() -> None:
    old = run("a", 1, 0.0, step_run=2.0)  # ran its step after the new claim started
    new = run("b", 2, 1.0, step_run=3.0, refused=True)
    (problem,) = step_problems(kept("a", 1), [old, new])
    assert problem.startswith("step 'work' written by a fenced runner: execution a")


def test_the_chaos_handler_logs_its_step(tmp_path: Path) -> None:
    log = tmp_path / "executions.jsonl"
    metadata = {"record": str(log), "behaviour": "step", "seconds": 0}
    diag.chaos(Job(id=JOB, type="chaos", metadata=metadata, lease=5))
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["start", "step_run", "step_done", "end"]
    runs, bad = read_executions(log)
    (execution,) = runs[JOB]
    assert bad == [] and execution.step_run and execution.step_by == execution.id
