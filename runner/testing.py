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

This module watches the tree itself rather than borrowing the supervisor's pool: runner/
never imports supervisor/ (tests/test_testing.py checks the messages agree with a real
supervisor's).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle  # nosec B403  # to the fork server we start, over a private socketpair
import select
import signal
import socket
import subprocess  # nosec B404  # starts jobsup's own fork server, no shell
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from runner import forkserver, protocol
from runner.job import Job, RunnerSpec
from runner.protocol import FailureKind

MB = 1 << 20
NEAR = 0.9  # read PSS/USS once RSS reaches this share of the limit, as the supervisor does
OUTPUT_TAIL = 4096  # bytes of output kept for a failure message, as the supervisor keeps
START_TIMEOUT = 30.0  # for the fork server's answer (a fresh Python, then the preloads)


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
    kill_timeout: float = 10.0  # SIGTERM (soft limit) to SIGKILL


def run(
    handler: str | Callable[[Job], Any],
    files: Iterable[str | os.PathLike[str]] = (),
    *,
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
) -> list[dict[str, Any]]:
    """The insights `handler` returns for a job of `files`, run in a real runner process;
    JobFailed (LimitExceeded for a limit) with the supervisor's message when it fails.

    `handler` is a "module:function" path or a module-level function (the runner imports
    it, as a supervisor's would). `limits` gives every limit at once; otherwise the
    supervisor's defaults with `memory_mb`, `time_limit` and `soft_time_limit`. The
    handler's output goes to sys.stderr as it comes (`echo`), and its tail into the error.
    `environment` is the fork server's (default: ours), `preload` modules it imports first.
    """
    limits = limits or Limits(memory_mb, time_limit=time_limit, soft_time_limit=soft_time_limit)
    path = handler_path(handler)
    job = Job(
        id=str(uuid.uuid4()),
        type=job_type or path,
        files=tuple(str(Path(f).absolute()) for f in files),
        business_description=description,
        metadata=dict(metadata or {}),
        memory_limit_mb=limits.memory_mb or None,
        settings=dict(settings or {}),
    )
    spec = RunnerSpec(
        job=job,
        handler=path,
        parent_pid=0,  # the fork server's, set by _ForkServer.spawn
        result_max_bytes=result_max_kb * 1024,
        hard_memory_bytes=limits.memory_mb * MB if limits.hard_memory else None,
        files_root=files_root,
    )
    with _ForkServer(preload, environment) as server:
        attempt = _Attempt(server.spawn(spec), limits, echo)
        attempt.watch(server)
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


class _ForkServer:
    """jobsup's fork server (runner/forkserver.py), started for one run."""

    def __init__(self, preload: Sequence[str], environment: Mapping[str, str] | None) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "runner.forkserver", str(theirs.fileno()),
                str(os.getpid()), json.dumps(sys.path), *preload]  # fmt: skip
        with theirs:
            self.process = subprocess.Popen(  # nosec B603  # this Python, our own argv
                argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                env=dict(environment) if environment is not None else None,
            )  # fmt: skip

    def __enter__(self) -> _ForkServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()  # the server ends when its socket closes
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def spawn(self, spec: RunnerSpec) -> _Started:
        spec = dataclasses.replace(spec, parent_pid=self.process.pid)
        spec_fd = os.memfd_create("jobsup-runner-spec", os.MFD_CLOEXEC)
        os.write(spec_fd, pickle.dumps(spec))
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        try:
            socket.send_fds(self.sock, [forkserver.REQUEST], [spec_fd, result_w, output_w])
        finally:
            for fd in (spec_fd, result_w, output_w):
                os.close(fd)
        kind, pid, code, *_ = self.event(START_TIMEOUT)
        if kind != forkserver.STARTED:
            raise RuntimeError(f"the fork server could not start a runner: {os.strerror(code)}")
        return _Started(pid, result_r, output_r)

    def event(self, timeout: float) -> tuple[Any, ...]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        data = self.sock.recv(forkserver.EVENT.size) if ready else b""
        if not data:
            raise RuntimeError("the fork server ended or did not answer")
        return forkserver.EVENT.unpack(data)


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
    descendants: dict[int, float] = field(default_factory=dict)  # pid → start time

    def watch(self, server: _ForkServer) -> None:
        began = time.monotonic()
        pipes = [self.started.result_fd, self.started.output_fd]
        for fd in pipes:
            os.set_blocking(fd, False)
        events = server.sock.fileno()
        while self.status is None:
            ready, _, _ = select.select([events, *pipes], [], [], self.limits.check_interval)
            self._read(ready)
            if events in ready:
                kind, pid, status, *_ = server.event(0)
                if kind == forkserver.EXITED and pid == self.started.pid:
                    self.status = status
            elif self.reason in (None, "soft_time"):
                self._enforce(time.monotonic() - began)
        self._read(pipes)  # what it wrote before it exited
        self._kill_leftovers()
        os.close(self.started.result_fd)
        os.close(self.started.output_fd)

    def _read(self, ready: Sequence[int]) -> None:
        for fd, buffer in ((self.started.result_fd, self.result),
                           (self.started.output_fd, self.output)):  # fmt: skip
            if fd not in ready:
                continue
            with suppress(BlockingIOError):
                while chunk := os.read(fd, 65536):
                    buffer += chunk
                    if fd == self.started.output_fd and self.echo:
                        sys.stderr.write(chunk.decode(errors="backslashreplace"))

    def _enforce(self, elapsed: float) -> None:
        """Kill or terminate the runner over a limit, as the supervisor's sampling does."""
        limits = self.limits
        if limits.time_limit and elapsed >= limits.time_limit:
            self.reason = "time"
            self._kill()
        elif self.terminated_at is not None:  # soft limit passed: SIGKILL after kill_timeout
            if elapsed >= self.terminated_at + limits.kill_timeout:
                self._kill()
                self.terminated_at = float("inf")
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
            self.reason, self.detail = (
                "memory",
                (
                    f"memory limit exceeded: {size(memory)} > {size(limits.memory_mb * MB)} "
                    f"({metric})"
                ),
            )
            self._kill()
        elif limits.max_processes and len(tree) > limits.max_processes:
            self.reason = "processes"
            self.detail = f"process limit exceeded: {len(tree)} > {limits.max_processes} processes"
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
        document = protocol.decode(self.result)
        output = _tail(self.output)
        if document is not None and (wrong := protocol.problem(document)):
            raise JobFailed(f"runner sent a malformed result ({wrong})", output=output)
        if document is not None and document["ok"]:
            return list(document["insights"])
        if self.reason is not None:
            raise self._killed(document, output)
        if len(self.result) > result_max_kb * 1024:
            message = f"result too large: more than {result_max_kb} KiB (result_max_kb)"
            raise JobFailed(message, permanent=True, output=output)
        if document is not None:
            raise _failed(document, output)
        raise JobFailed(_with_output(f"runner {_ending(self.status)}", output), output=output)

    def _killed(self, document: dict[str, Any] | None, output: str) -> JobFailed:
        limits = self.limits
        if self.reason == "time":
            message = f"time limit {limits.time_limit:g} s exceeded (killed)"
            return LimitExceeded(_with_output(message, output), "time", output=output)
        if self.reason == "soft_time":
            message = f"soft time limit {limits.soft_time_limit:g} s exceeded"
            if document and document.get("kind") != FailureKind.SOFT_TIME_LIMIT:
                message += f"; then {document.get('message')}"
            return LimitExceeded(_with_output(message, output), "time", output=output)
        limit = str(self.reason)
        return LimitExceeded(_with_output(self.detail, output), limit, output=output)


def _failed(document: dict[str, Any], output: str) -> JobFailed:
    kind, message = document.get("kind"), str(document.get("message", ""))
    if kind == FailureKind.PERMANENT:
        return JobFailed(message, permanent=True, output=output)
    if kind == FailureKind.MEMORY:
        return LimitExceeded(_with_output(message, output), "memory", output=output)
    if kind == FailureKind.SOFT_TIME_LIMIT:
        return JobFailed(_with_output("runner received SIGTERM", output), output=output)
    trace = str(document.get("traceback", "")).rstrip()
    text = f"{message}\n{trace}" if trace else message
    return JobFailed(_with_output(text, output), output=output)


def _ending(status: int | None) -> str:
    if status is None:
        return "vanished"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        with suppress(ValueError):
            return f"killed by {signal.Signals(signum).name}"
        return f"killed by signal {signum}"
    code = os.waitstatus_to_exitcode(status)
    return "exited without sending a result" if code == 0 else f"exited with code {code}"


def _tail(output: bytearray) -> str:
    return bytes(output[-OUTPUT_TAIL:]).decode(errors="replace").rstrip()


def _with_output(message: str, output: str) -> str:
    return f"{message}\n--- last output ---\n{output}" if output else message


def size(n: int) -> str:
    """1.1 GiB, 612 MiB: as the supervisor writes a figure in a failure message."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / MB:.0f} MiB"
