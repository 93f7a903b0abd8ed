"""Fakes for the unit tier: a fork server that forks nothing, and process calls that signal
nothing. The pipes are real (the pool reads them through a real selector)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from runner import protocol
from runner.job import RunnerSpec
from runner.parent import Event, Exited, Refused, Started


class FakeSpawner:
    """Records each request and emits the events a test queues (started, refused, exited)."""

    def __init__(self) -> None:
        self.preload: list[str] = []
        self.environment: dict[str, str] | None = None
        self.started_servers = 0
        self.specs: list[RunnerSpec] = []
        self.writers: dict[str, tuple[int, int]] = {}  # job id: write ends (result, output)
        self.queued: list[Event] = []
        self.on_settle: list[Event] = []  # events that only a settle waits for
        self.fail_with: BaseException | None = None
        self.closed = False

    def start(self) -> None:
        self.started_servers += 1

    def request(self, spec: RunnerSpec) -> tuple[int, int]:
        if self.fail_with is not None:
            raise self.fail_with
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        for fd in (result_r, output_r):
            os.set_blocking(fd, False)
        self.specs.append(spec)
        self.writers[spec.job.id] = (result_w, output_w)
        return result_r, output_r

    def events(self, settle: bool = False) -> list[Event]:
        events, self.queued = self.queued, []
        if settle:
            events, self.on_settle = events + self.on_settle, []
        return events

    def reaped(self, pid: int, status: int) -> bool:
        return False

    def pids(self) -> set[int]:
        return set()

    def close(self) -> None:
        self.closed = True

    # -- what a test makes happen ----------------------------------------------------------

    def start_runner(self, pid: int) -> None:
        self.queued.append(Started(pid))

    def refuse(self, error: OSError) -> None:
        self.queued.append(Refused(error))

    def finish(self, job_id: str, pid: int, document: protocol.Document | None,
               status: int = 0, output: bytes = b"") -> None:  # fmt: skip
        """The runner of `job_id` writes `document` and `output`, closes its pipes, exits."""
        result_w, output_w = self.writers.pop(job_id)
        if document is not None:
            os.write(result_w, protocol.encode(document))
        os.write(output_w, output)
        os.close(result_w)
        os.close(output_w)
        self.queued.append(Exited(pid, status, cpu_seconds=0.5, peak_rss=100 << 20))

    def close_all(self) -> None:
        for pair in self.writers.values():
            for fd in pair:
                os.close(fd)
        self.writers.clear()


class FakeOps:
    """Signals recorded, none sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def killpg(self, pgid: int, signum: int) -> None:
        self.sent.append((pgid, signum))

    def kill(self, pid: int, start: int, signum: int) -> None:
        self.sent.append((pid, signum))


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def no_children() -> Iterator[None]:
    """os.wait4 as if this process had no children (the pool also reaps its own)."""
    real = os.wait4

    def wait4(pid: int, options: int) -> tuple[int, int, object]:
        raise ChildProcessError

    os.wait4 = wait4  # type: ignore[assignment]
    try:
        yield
    finally:
        os.wait4 = real
