"""What a handler tells the supervisor while it runs: its progress, and its durable steps'
results (`Job.progress`, `Job.step`), over the runner's result channel.

Outside a runner (a handler called directly, in a test) nothing is sent and nothing kept:
progress is dropped, and a step runs each time unless the job's `steps` hold its result.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runner import protocol
from runner.errors import PermanentFailure

# At most this many progress messages a second leave the runner: a handler calling
# progress() in a tight loop must not flood the supervisor's loop. The last value is sent
# after the interval (a timer), and before the result document at the latest.
PROGRESS_INTERVAL = 0.1


class StepError(PermanentFailure):
    """A step's result cannot be kept (not JSON, too large): retrying cannot help."""


class StepNotStored(RuntimeError):
    """The supervisor could not store a step's result (its claim was taken, the database
    refused it): the attempt cannot go on as if it were kept."""


class _Channel:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.lock = threading.Lock()  # the progress timer's thread also writes
        self.sent_at = -PROGRESS_INTERVAL
        self.pending: protocol.Progress | None = None
        self.timer: threading.Timer | None = None
        self.steps: dict[str, Any] = {}  # this attempt's, beside the job's earlier ones
        self.inbox = bytearray()

    def progress(self, body: protocol.Progress) -> None:
        with self.lock:
            self.pending = body
            wait = self.sent_at + PROGRESS_INTERVAL - time.monotonic()
            if wait <= 0:
                self._send_pending()
            elif self.timer is None:
                self.timer = threading.Timer(wait, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def flush(self) -> None:
        with self.lock:
            self._send_pending()

    def _send_pending(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending is not None and self.fd is not None:
            _write(self.fd, protocol.message("progress", self.pending))
            self.sent_at = time.monotonic()
        self.pending = None

    def store(self, name: str, result: Any) -> None:
        """Send step `name`'s result and wait until the supervisor has stored it."""
        assert self.fd is not None  # nosec B101  # only in a runner
        with self.lock:
            self._send_pending()  # progress before the step, in the order they happened
            _write(self.fd, protocol.message("step", {"name": name, "result": result}))
            answer = self._answer()
        if answer is None:
            raise StepNotStored(f"step {name!r}: the supervisor did not answer")
        if not answer.get("stored"):
            raise StepNotStored(f"step {name!r} not stored: {answer.get('error', 'refused')}")

    def _answer(self) -> dict[str, Any] | None:
        assert self.fd is not None  # nosec B101  # only in a runner
        while True:
            total = protocol.frame_length(self.inbox)
            if total is not None and len(self.inbox) >= total:
                body = self.inbox[protocol.HEADER.size : total]
                del self.inbox[:total]
                return protocol.decode_frame(body)
            data = os.read(self.fd, 4096)
            if not data:
                return None
            self.inbox += data


_channel = _Channel(None)


def attach(fd: int) -> None:
    """Send from now on over `fd`, the runner's result channel (in the runner, before the
    handler is called)."""
    global _channel
    _channel = _Channel(fd)


def flush() -> None:
    """Send the progress that waits for its interval (before the result document)."""
    _channel.flush()


def progress(done: float, total: float | None = None, note: str = "") -> None:
    """Report `done` of `total` (None: unknown), with a short note."""
    body: protocol.Progress = {"done": done, "total": total, "note": str(note)[: protocol.NOTE_MAX]}
    wrong = protocol.progress_problem(body)
    if wrong is not None or (total is not None and total < 0) or done < 0:
        raise ValueError(f"job.progress({done!r}, {total!r}): expected numbers >= 0")
    _channel.progress(body)


def step(
    done_before: Mapping[str, Any],
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Step `name`'s result: the one kept by an earlier attempt (or earlier in this one), else
    `fn(*args, **kwargs)`'s, stored before it is returned."""
    if not isinstance(name, str) or not name or len(name) > protocol.STEP_NAME_MAX:
        raise ValueError(f"job.step: a name of 1 to {protocol.STEP_NAME_MAX} characters, "
                         f"got {name!r}")  # fmt: skip
    for kept in (_channel.steps, done_before):
        if name in kept:
            return kept[name]
    result = _as_json(name, fn(*args, **kwargs))
    if _channel.fd is not None:  # in a runner: one job, this attempt's steps
        _channel.store(name, result)
        _channel.steps[name] = result
    return result


def _as_json(name: str, result: Any) -> Any:
    """`result` as a later attempt will get it back (tuples become lists, and so on)."""
    try:
        text = json.dumps(result, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise StepError(f"step {name!r}: result is not JSON-serialisable: {e}") from None
    if len(text.encode()) > protocol.STEP_MAX_BYTES:
        size, most = len(text.encode()) // 1024, protocol.STEP_MAX_BYTES // 1024
        raise StepError(f"step {name!r}: result too large: {size:,} KiB > {most:,} KiB "
                        "(keep large data in a file and return its path)")  # fmt: skip
    return json.loads(text)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
