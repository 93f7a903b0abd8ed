"""Run a handler as a supervisor would, without one: for a handler author's tests.

    from runner.testing import JobFailed, LimitExceeded, run

    def test_summary(tmp_path):
        insights = run("myapp.reports:build", files=[tmp_path / "sales.csv"], memory_mb=256)
        assert insights[0]["insight_type"] == "summary"

    def test_big_file_is_refused_not_swapped(tmp_path):
        with pytest.raises(LimitExceeded, match="memory limit exceeded"):
            run("myapp.reports:build", files=[big], memory_mb=64)

The handler runs in a real runner: forked by jobsup's own fork server (a fresh, lean
Python, as under a supervisor), in its own process group, its files checked, its result
sent through the result protocol. Its tree is watched here as the supervisor watches it
(memory every `check_interval` by `memory_metric`, `max_processes`, `soft_time_limit`
then `time_limit`), and a failure is raised with the message the supervisor would write
in `processing_jobs.error_message`. No database is involved.

It starts the runner through the supervisor's own fork-server client and words a failure
with the supervisor's own words (both in runner/parent.py); only the watching of the tree is
its own, simpler than the supervisor's pool, since runner/ never imports supervisor/
(tests/runner/test_testing_helper.py checks the messages agree with a real supervisor's).
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from runner import parent, protocol
from runner.job import Job, Parent, RunnerSpec
from runner.parent import MB, OUTPUT_TAIL, Exited, ForkServer, Refused, Started, size
from runner.protocol import FailureKind

NEAR = 0.9  # read PSS/USS once RSS reaches this share of the limit, as the supervisor does
START_TIMEOUT = 30.0  # for the fork server's answer (a fresh Python, then the preloads)

__all__ = ["JobFailed", "LimitExceeded", "Limits", "handler_path", "run", "size"]


class JobFailed(Exception):
    """The attempt failed: `message` is what the supervisor would record as the job's
    error; `permanent` says it would fail the job at once rather than retry it."""

    def __init__(self, message: str, *, permanent: bool = False, output: str = "") -> None:
        super().__init__(message)
        self.message, self.permanent, self.output = message, permanent, output


class LimitExceeded(JobFailed):
    """The runner was killed (or refused memory) over a limit: `limit` is "memory",
    "time" or "processes"."""

    def __init__(self, message: str, limit: str, *, output: str = "") -> None:
        super().__init__(message, output=output)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    """A runner's limits, with the supervisor's defaults; 0 means no limit."""

    memory_mb: int = 1024
    memory_metric: str = "pss"  # pss | rss | uss
    check_interval: float = 0.1
    hard_memory: bool = False
    soft_time_limit: float = 0.0
    time_limit: float = 3600.0
    max_processes: int = 0
    kill_timeout: float = 10.0  # soft limit's SIGTERM to SIGKILL when time_limit is 0


def run(
    handler: str | Callable[[Job], Any],
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    file_names: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    description: str | None = None,
    job_type: str | None = None,
    settings: Mapping[str, Any] | None = None,
    memory_mb: int = 1024,
    time_limit: float = 3600.0,
    soft_time_limit: float = 0.0,
    limits: Limits | None = None,
    files_root: str | None = None,
    result_max_kb: int = 16384,
    preload: Sequence[str] = (),
    environment: Mapping[str, str] | None = None,
    echo: bool = True,
    parents: Iterable[Parent] = (),
) -> list[dict[str, Any]]:
    """The insights `handler` returns for a job of `files`, run in a real runner process;
    JobFailed (LimitExceeded for a limit) with the supervisor's message when it fails.

    `handler` is a "module:function" path or a module-level function (the runner imports
    it, as a supervisor's would). `limits` gives every limit at once; otherwise the
    supervisor's defaults with `memory_mb`, `time_limit` and `soft_time_limit`. The
    handler's output goes to sys.stderr as it comes (`echo`), and its tail into the error.
    `environment` is the fork server's (default: ours), `preload` modules it imports first.
    `file_names` are what the files are called (`Job.file_names`: as a supervisor gives the
    name each was uploaded under); by default their own names. `parents` are the jobs it
    waited for (`Job.parents`, as a batch's then-job gets them).
    """
    limits = limits or Limits(memory_mb, time_limit=time_limit, soft_time_limit=soft_time_limit)
    path = handler_path(handler)
    job = Job(
        id=str(uuid.uuid4()),
        type=job_type or path,
        files=tuple(str(Path(f).absolute()) for f in files),
        file_names=tuple(file_names),
        business_description=description,
        metadata=dict(metadata or {}),
        memory_limit_mb=limits.memory_mb or None,
        settings=dict(settings or {}),
        parents=tuple(parents),
    )
    spec = RunnerSpec(
        job=job,
        handler=path,
        parent_pid=0,  # the fork server's, set by ForkServer.request
        result_max_bytes=result_max_kb * 1024,
        hard_memory_bytes=limits.memory_mb * MB if limits.hard_memory else None,
        files_root=files_root,
    )
    with selectors.DefaultSelector() as selector:
        server = ForkServer(selector, reply_timeout=START_TIMEOUT)
        server.preload = list(preload)
        server.environment = dict(environment) if environment is not None else None
        try:
            attempt = _Attempt(_spawn(server, spec), limits, echo)
            attempt.watch(server, selector)
        finally:
            server.stop()
    return attempt.outcome(result_max_kb)


def handler_path(handler: str | Callable[[Job], Any]) -> str:
    """`handler` as the "module:function" path a runner loads."""
    if isinstance(handler, str):
        if ":" not in handler:
            raise ValueError(f"handler {handler!r}: expected 'module:function'")
        return handler
    module, name = getattr(handler, "__module__", None), getattr(handler, "__qualname__", "")
    if not module or module == "__main__" or "." in name or "<" in name:
        raise ValueError(
            f"handler {handler!r}: a runner loads its handler by its path: give a function "
            "defined at the top level of an importable module, or 'module:function'"
        )
    return f"{module}:{name}"


@dataclass
class _Started:
    pid: int
    result_fd: int
    output_fd: int


def _spawn(server: ForkServer, spec: RunnerSpec) -> _Started:
    """A runner for `spec`, started: its pid and the read ends of its two pipes."""
    result_fd, output_fd = server.request(spec)
    for event in server.events(settle=True):
        if isinstance(event, Started):
            return _Started(event.pid, result_fd, output_fd)
        if isinstance(event, Refused):
            os.close(result_fd)
            os.close(output_fd)
            raise RuntimeError(f"the fork server could not start a runner: {event.error}")
    raise RuntimeError("the fork server ended or did not answer")


@dataclass
class _Attempt:
    """One runner, watched until it has exited, and what it left."""

    started: _Started
    limits: Limits
    echo: bool
    result: bytearray = field(default_factory=bytearray)
    output: bytearray = field(default_factory=bytearray)
    status: int | None = None
    reason: str | None = None  # memory | processes | time | soft_time: why we signalled it
    detail: str = ""
    terminated_at: float | None = None  # seconds in, when the soft limit sent SIGTERM
    killed: bool = False  # SIGKILL after the soft limit's SIGTERM (no hard limit)
    descendants: dict[int, float] = field(default_factory=dict)  # pid → start time
    read_to: int = 0  # the result channel's messages before this offset are handled

    def watch(self, server: ForkServer, selector: selectors.BaseSelector) -> None:
        began = time.monotonic()
        pipes = [self.started.result_fd, self.started.output_fd]
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        while self.status is None and server.pid is not None:
            ready = [key.fd for key, _ in selector.select(self.limits.check_interval)]
            self._read(ready)
            exited = [e for e in server.events() if isinstance(e, Exited)]
            self.status = next((e.status for e in exited if e.pid == self.started.pid), None)
            if self.status is None and self.reason in (None, "soft_time"):
                self._enforce(time.monotonic() - began)
        for fd in pipes:
            selector.unregister(fd)
        self._read(pipes)  # what it wrote before it exited
        self._kill_leftovers()
        os.close(self.started.result_fd)
        os.close(self.started.output_fd)

    def _read(self, ready: Sequence[int]) -> None:
        for fd, buffer in ((self.started.result_fd, self.result),
                           (self.started.output_fd, self.output)):  # fmt: skip
            if fd not in ready:
                continue
            with suppress(BlockingIOError, ConnectionResetError):
                while chunk := os.read(fd, 65536):
                    buffer += chunk
                    if fd == self.started.output_fd and self.echo:
                        sys.stderr.write(chunk.decode(errors="backslashreplace"))
            if fd == self.started.result_fd:
                self._answer_steps()

    def _answer_steps(self) -> None:
        """Answer the handler's durable steps as stored: without a database, they are kept
        only for this run (job.step returns them if asked again in it)."""
        found, self.read_to = protocol.messages(self.result, self.read_to)
        for message in found:
            if "step" in message and isinstance(message["step"], dict):
                with suppress(OSError):
                    os.write(self.started.result_fd, protocol.answer(message["step"]["name"]))

    def _enforce(self, elapsed: float) -> None:
        """Kill or terminate the runner over a limit, as the supervisor's sampling does."""
        limits = self.limits
        if limits.time_limit and elapsed >= limits.time_limit:
            self.reason = "time"
            self._kill()
        elif self.terminated_at is not None:  # soft limit passed: SIGKILL at the hard limit,
            if not limits.time_limit and elapsed >= self.terminated_at + limits.kill_timeout:
                self._kill()  # or without one, kill_timeout after the SIGTERM
                self.terminated_at, self.killed = float("inf"), True
        elif limits.soft_time_limit and elapsed >= limits.soft_time_limit:
            self.reason, self.terminated_at = "soft_time", elapsed
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.started.pid, signal.SIGTERM)
        if self.reason in (None, "soft_time"):
            self._enforce_memory()

    def _enforce_memory(self) -> None:
        limits = self.limits
        tree = self._tree()
        if not tree:
            return
        memory, metric = self._memory(tree)
        if limits.memory_mb and memory > limits.memory_mb * MB:
            self.reason = "memory"
            self.detail = parent.memory_exceeded(memory, limits.memory_mb, metric)
            self._kill()
        elif limits.max_processes and len(tree) > limits.max_processes:
            self.reason = "processes"
            self.detail = parent.processes_exceeded(len(tree), limits.max_processes)
            self._kill()

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.started.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        for proc in tree[1:]:
            with suppress(psutil.Error):
                self.descendants.setdefault(proc.pid, proc.create_time())
        return tree

    def _memory(self, tree: list[psutil.Process]) -> tuple[int, str]:
        rss = 0
        for proc in tree:
            with suppress(psutil.Error):
                rss += proc.memory_info().rss
        metric = self.limits.memory_metric
        limit = self.limits.memory_mb * MB
        if metric == "rss" or not limit or rss < limit * NEAR:
            return rss, "rss"
        full = 0
        for proc in tree:
            with suppress(psutil.Error):
                full += getattr(proc.memory_full_info(), metric)
        return (full, metric) if full else (rss, "rss")

    def _kill(self) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.started.pid, signal.SIGKILL)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """What the runner left running (its group's and tree's other processes)."""
        for pid, started in self.descendants.items():
            with suppress(psutil.Error):
                proc = psutil.Process(pid)
                if proc.create_time() == started:
                    proc.kill()

    def outcome(self, result_max_kb: int) -> list[dict[str, Any]]:
        """The insights, or the failure raised as the supervisor would record it."""
        raw = protocol.decode(self.result)
        document = None if raw is None else protocol.checked(raw)
        output = _tail(self.output)
        if isinstance(document, str):
            raise JobFailed(parent.malformed(document), output=output)
        if document is not None and document["ok"]:
            return [dict(insight) for insight in document["insights"]]
        if self.reason is not None:
            raise self._killed(document, output)
        if len(self.result) > result_max_kb * 1024:
            raise JobFailed(parent.too_large(result_max_kb), permanent=True, output=output)
        if document is not None:
            raise _failed(document, output)
        message = parent.with_output(parent.crashed(self.status), output)
        raise JobFailed(message, output=output)

    def _killed(self, document: protocol.Document | None, output: str) -> JobFailed:
        limits = self.limits
        if self.reason == "time":
            message = parent.time_exceeded(limits.time_limit, limits.soft_time_limit)
            return LimitExceeded(parent.with_output(message, output), "time", output=output)
        if self.reason == "soft_time":
            message = parent.soft_time_exceeded(limits.soft_time_limit, document, self.killed)
            return LimitExceeded(parent.with_output(message, output), "time", output=output)
        limit = str(self.reason)
        return LimitExceeded(parent.with_output(self.detail, output), limit, output=output)


def _failed(document: protocol.Failure, output: str) -> JobFailed:
    kind, message = document["kind"], parent.failure(document)
    if kind == FailureKind.PERMANENT:
        return JobFailed(message, permanent=True, output=output)
    if kind == FailureKind.MEMORY:
        return LimitExceeded(parent.with_output(message, output), "memory", output=output)
    return JobFailed(parent.with_output(message, output), output=output)


def _tail(output: bytearray) -> str:
    return bytes(output[-OUTPUT_TAIL:]).decode(errors="replace").rstrip()
