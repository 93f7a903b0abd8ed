"""What a runner says while its handler runs (`runner/flow.py`): its progress, throttled to
one database write a second, and its durable steps' results, each answered once stored.

The messages come first on the result channel, each framed as the result document is; the
first frame that is not a message is the result, and everything from it on is kept for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner import protocol

if TYPE_CHECKING:  # (state.py imports this module)
    from supervisor.runners.state import Runner

PROGRESS_EVERY = 1.0  # seconds between two progress writes of one job (the last one waits)


@dataclass(frozen=True)
class StepResult:
    """A durable step's result, to store under the claim (job id, lease) that made it."""

    job_id: str
    lease: int
    name: str
    result: Any

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.job_id, self.lease, self.name)

    def row(self) -> dict[str, Any]:
        return {"id": self.job_id, "lease": self.lease, "name": self.name, "result": self.result}


@dataclass(frozen=True)
class Updates:
    """What running jobs reported that waits to be written: progress rows (id, lease,
    progress) and steps' results."""

    progress: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.progress or self.steps)


@dataclass
class Messages:
    progress: dict[str, Any] | None = None  # the last reported
    progress_unwritten: bool = False
    progress_sent_at: float = -math.inf  # monotonic, when last handed to the database
    steps: list[tuple[str, Any]] = field(default_factory=list)  # sent, not yet stored
    done: bool = False  # the result document has begun: no more messages

    def take(self, buffer: bytearray, log: Any) -> None:
        """Peel the complete messages off the front of `buffer` (the result channel's bytes)."""
        while not self.done:
            total = protocol.frame_length(buffer)
            if total is None:
                return
            if total > protocol.MESSAGE_MAX_BYTES + protocol.HEADER.size:
                self.done = True  # too big for a message: the result document
                return
            if len(buffer) < total:
                return
            document = protocol.decode_frame(buffer[protocol.HEADER.size : total])
            if document is None or not protocol.is_message(document):
                self.done = True
                return
            del buffer[:total]
            self._take(document, log)

    def _take(self, document: dict[str, Any], log: Any) -> None:
        kind, body = next(iter(document.items()))
        check = protocol.progress_problem if kind == "progress" else protocol.step_problem
        wrong = check(body)
        if wrong is not None:
            log.warning("runner message ignored: {}", wrong)
        elif kind == "progress":
            note = str(body.get("note", ""))[: protocol.NOTE_MAX].replace("\0", "")
            self.progress = {"done": body["done"], "total": body.get("total"), "note": note}
            self.progress_unwritten = True
        else:
            self.steps.append((body["name"], body["result"]))

    def progress_due(self, now: float) -> bool:
        return self.progress_unwritten and now >= self.progress_sent_at + PROGRESS_EVERY

    def progress_deadline(self) -> float:
        """When the progress that waits may be written (inf: none waits)."""
        return self.progress_sent_at + PROGRESS_EVERY if self.progress_unwritten else math.inf

    def take_progress(self, now: float) -> dict[str, Any] | None:
        """The progress to write now, marked as handed to the database."""
        self.progress_unwritten = False
        self.progress_sent_at = now
        return self.progress


Answers = dict[tuple[str, int, str], str | None]  # StepResult.key: None once stored, or why not


class Reports:
    """What the pool's runners reported, on its way to the database: taken from the runners
    when due, kept for runners that have ended, given back when a request fails."""

    def __init__(self) -> None:
        self.left = Updates()  # of runners that have ended: written with their outcomes

    def due(self, runners: Iterable[Runner], now: float) -> bool:
        return bool(self.left) or any(
            r.messages.steps or r.messages.progress_due(now) for r in runners
        )

    def deadline(self, runners: Iterable[Runner]) -> float:
        return min((r.messages.progress_deadline() for r in runners), default=math.inf)

    def take(self, runners: Iterable[Runner], now: float) -> Updates:
        updates, self.left = self.left, Updates()
        for runner in runners:
            if runner.messages.progress_due(now):
                updates.progress.append(_progress_row(runner, now))
            updates.steps.extend(_steps(runner))
        return updates

    def leave(self, runner: Runner, now: float) -> None:
        """What an ended runner reported and is not written yet: kept, to go with its outcome."""
        if runner.messages.progress_unwritten:
            self.left.progress.append(_progress_row(runner, now))
        self.left.steps.extend(_steps(runner))

    def written(self, runners: Mapping[str, Runner], updates: Updates,
                errors: Answers | None) -> None:  # fmt: skip
        """Answer each step's runner (None errors: nothing written, all given back)."""
        if errors is None:
            self._give_back(runners, updates)
            return
        for step in updates.steps:
            runner = _holder(runners, step.job_id, step.lease)
            if runner is None:
                continue  # ended meanwhile: nobody waits
            error = errors.get(step.key)
            if error is not None:
                runner.job.log.warning("step {!r} not stored: {}", step.name, error)
            answer(runner.result_fd, step.name, error)

    def _give_back(self, runners: Mapping[str, Runner], updates: Updates) -> None:
        for row in updates.progress:
            runner = _holder(runners, row["id"], row["lease"])
            if runner is None:
                self.left.progress.append(row)
            else:  # its newest value (this one, or one that came since) waits again
                runner.messages.progress_unwritten = True
        again: dict[str, list[tuple[str, Any]]] = {}
        for step in updates.steps:
            runner = _holder(runners, step.job_id, step.lease)
            if runner is None:
                self.left.steps.append(step)
            else:
                again.setdefault(step.job_id, []).append((step.name, step.result))
        for job_id, steps in again.items():
            runners[job_id].messages.steps[:0] = steps  # before any sent since, in order


def _holder(runners: Mapping[str, Runner], job_id: str, lease: int) -> Runner | None:
    runner = runners.get(job_id)
    return runner if runner is not None and runner.job.lease == lease else None


def _progress_row(runner: Runner, now: float) -> dict[str, Any]:
    job = runner.job
    return {"id": job.id, "lease": job.lease, "progress": runner.messages.take_progress(now)}


def _steps(runner: Runner) -> list[StepResult]:
    job, m = runner.job, runner.messages
    found = [StepResult(job.id, job.lease, name, result) for name, result in m.steps]
    m.steps.clear()
    return found


def answer(fd: int, name: str, error: str | None) -> bool:
    """Tell the runner on `fd` that step `name` is stored (error None) or why it is not;
    False when the runner is gone (its handler waits no more)."""
    if fd < 0:
        return False
    try:
        os.write(fd, protocol.answer(name, error))  # small: the socket's buffer takes it whole
    except OSError:
        return False
    return True
