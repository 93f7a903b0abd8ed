"""The messages a runner sends while its handler runs (progress, steps) on the result
channel: framing, validation, throttling on the supervisor's side, and `job.step` outside
a runner, and in one through runner.testing (no database)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runner import flow, protocol
from runner.job import Job
from runner.testing import run
from supervisor.runners.messages import Messages
from tests.flow.frames import progress_frame


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, text: str, *args: Any) -> None:
        self.lines.append(text.format(*args))


@pytest.mark.unit
def test_the_result_document_is_found_behind_the_messages() -> None:
    result = protocol.encode(protocol.success([]))
    buffer = progress_frame(1, 2) + protocol.message("step", {"name": "a", "result": 1}) + result
    assert protocol.decode(buffer) == {"ok": True, "insights": []}
    assert protocol.decode(buffer[:-1]) is None
    found, end = protocol.messages(buffer)
    assert [next(iter(m)) for m in found] == ["progress", "step"]
    assert buffer[end:] == result


@pytest.mark.unit
def test_messages_are_peeled_off_and_the_result_is_left_whole() -> None:
    messages, log = Messages(), Log()
    result = protocol.encode(protocol.success([]))
    buffer = bytearray(progress_frame(3, 10, "x" * 500) + progress_frame(4, 10))
    buffer += protocol.message("step", {"name": "s", "result": {"k": [1]}})
    buffer += protocol.message("progress", {"done": "many", "total": None, "note": ""})  # type: ignore[typeddict-item]
    half = len(buffer) + 5
    buffer += result
    part = bytearray(buffer[:half])
    messages.take(part, log)
    assert messages.progress == {"done": 4, "total": 10, "note": ""}
    assert messages.steps == [("s", {"k": [1]})]
    assert log.lines == ["runner message ignored: progress: done and total not numbers"]
    assert not messages.done
    part += buffer[half:]
    messages.take(part, log)
    assert messages.done and bytes(part) == result


@pytest.mark.unit
def test_progress_is_written_at_most_once_a_second_and_the_last_value_waits() -> None:
    messages, log = Messages(), Log()
    assert messages.progress_deadline() == math.inf
    messages.take(bytearray(progress_frame(1)), log)
    assert messages.progress_due(100.0)
    assert messages.take_progress(100.0)["done"] == 1
    messages.take(bytearray(progress_frame(2)), log)
    assert not messages.progress_due(100.5)
    assert messages.progress_deadline() == 101.0
    assert messages.progress_due(101.0) and messages.take_progress(101.0)["done"] == 2


@pytest.mark.unit
def test_a_step_outside_a_runner_returns_the_jobs_kept_result_and_keeps_nothing() -> None:
    calls: list[int] = []

    def model(n: int) -> tuple[int, int]:
        calls.append(n)
        return (n, n)

    job = Job(id="j", type="t", steps={"earlier": {"kept": True}})
    assert job.step("earlier", model, 1) == {"kept": True}
    assert job.step("new", model, 2) == [2, 2]  # as JSON gives it back: a list
    assert job.step("new", model, 3) == [3, 3]  # no runner, no memory between calls
    assert calls == [2, 3]


@pytest.mark.unit
def test_a_step_result_that_cannot_be_kept_is_one_clear_error() -> None:
    job = Job(id="j", type="t")
    with pytest.raises(flow.StepError, match=r"step 'x': result is not JSON-serialisable"):
        job.step("x", object)
    with pytest.raises(flow.StepError, match=r"step 'big': result too large: 2,048 KiB > 1,024"):
        job.step("big", lambda: "x" * (2 << 20))
    with pytest.raises(ValueError, match="a name of 1 to 200 characters"):
        job.step("", int)
    with pytest.raises(ValueError, match=r"job.progress\('a', None\): expected numbers >= 0"):
        job.progress("a")  # type: ignore[arg-type]


def stepped(job: Job) -> list[dict[str, Any]]:
    job.progress(1, 2, "halfway")
    first = job.step("first", lambda: {"n": 1})
    again = job.step("first", lambda: {"n": 2})
    return [{"insight_type": "t", "content": [first, again], "confidence_score": 1}]


def test_runner_testing_answers_steps_without_a_database() -> None:
    (insight,) = run(stepped, echo=False)
    assert insight["content"] == [{"n": 1}, {"n": 1}]
