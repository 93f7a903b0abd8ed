"""What a runner says while its handler runs (`runner/flow.py`): its progress, throttled to
one database write a second, and its durable steps' results, each answered once stored.

The messages come first on the result channel, each framed as the result document is; the
first frame that is not a message is the result, and everything from it on is kept for it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from runner import protocol

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
