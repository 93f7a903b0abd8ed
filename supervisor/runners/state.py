"""A runner as the supervisor sees it: its job, its pipes, and its state.

    STARTING ─running(pid)─▶ RUNNING ─terminate─▶ TERMINATING ─kill (at kill_at)──▶ KILLED
       │                       │                       │                               │
       │                       └───────kill────────────────────────────────────────▶  │
       │                       └───────────────────────┴──────── exited ───────────────┴─▶ EXITED
       └── never_started (the fork server refused) ───────────────────────────────────▶ EXITED

A runner is STARTING from the moment it is asked of the fork server until the server names
its pid: a kill or terminate asked meanwhile is noted and done as soon as it has started.
Every system call goes through `ProcessOps`, so the transitions are tested with a fake.
"""

from __future__ import annotations

import enum
import math
import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner import protocol
from supervisor.config import Limits
from supervisor.runners import proctree
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.messages import Messages

MB = 1 << 20
TAIL_BYTES = 4096
LINE_MAX = 8192  # a longer "line" is logged in pieces


class RunnerState(enum.Enum):
    STARTING = "starting"  # asked of the fork server; pid not known yet
    RUNNING = "running"
    TERMINATING = "terminating"  # SIGTERM sent; SIGKILL at `kill_at`
    KILLED = "killed"  # SIGKILL sent
    EXITED = "exited"


class KillReason(enum.StrEnum):
    """Why the supervisor ended a runner; decides what becomes of the job."""

    MEMORY = "memory"
    PROCESSES = "processes"
    TIME = "time"
    SOFT_TIME = "soft_time"
    SHUTDOWN = "shutdown"
    CANCELLED = "cancelled"
    LOST = "lost"  # the job is no longer this supervisor's (reset, reclaimed elsewhere)
    LEASE = "lease"  # this supervisor lost its lease (no heartbeat renewed): fenced itself


RANK = {
    KillReason.SHUTDOWN: 0,
    KillReason.SOFT_TIME: 1,
    KillReason.TIME: 2,
    KillReason.MEMORY: 2,
    KillReason.PROCESSES: 2,
    KillReason.CANCELLED: 3,
    KillReason.LOST: 3,
    KillReason.LEASE: 3,
}


class ProcessOps(Protocol):
    def killpg(self, pgid: int, signum: int) -> None: ...

    def kill(self, pid: int, start: int, signum: int) -> None: ...


class RealProcessOps:
    def killpg(self, pgid: int, signum: int) -> None:
        with suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(pgid, signum)

    def kill(self, pid: int, start: int, signum: int) -> None:
        proctree.kill(pid, start, signum)


@dataclass
class Output:
    """A runner's stdout/stderr: lines handed to `log` up to `limit` bytes, the tail kept."""

    limit: int
    logged: int = 0
    dropped: int = 0
    tail: bytearray = field(default_factory=bytearray)
    _partial: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes, log: Any) -> None:
        self.tail += data
        del self.tail[:-TAIL_BYTES]
        self._partial += data
        *lines, rest = self._partial.split(b"\n")
        if len(rest) > LINE_MAX:
            lines.append(rest)
            rest = bytearray()
        self._partial = bytearray(rest)
        for line in lines:
            self._log(bytes(line), log)

    def close(self, log: Any) -> None:
        if self._partial:
            self._log(bytes(self._partial), log)
            self._partial.clear()
        if self.dropped:
            log.warning("{} more bytes of output not logged (output_limit_kb)", self.dropped)

    def tail_text(self) -> str:
        return self.tail.decode(errors="replace")

    def _log(self, line: bytes, log: Any) -> None:
        if self.logged + len(line) > self.limit:
            self.dropped += len(line) + 1
            return
        self.logged += len(line) + 1
        log.info("| {}", line.decode(errors="replace").rstrip("\r"))


@dataclass(frozen=True)
class FullMemory:
    """The last PSS or USS reading of a runner's tree (`limits._full_memory`)."""

    at: float  # time.monotonic()
    rss: int  # the tree's RSS then, bytes
    value: int  # bytes


@dataclass
class Runner:
    job: ClaimedJob
    limits: Limits
    result_fd: int
    output_fd: int
    started: float  # time.monotonic() when it was asked for: limits count from then
    started_wall: float  # time.time(), for the attempt record
    output: Output
    pid: int = 0  # known once RUNNING
    ops: ProcessOps = field(default_factory=RealProcessOps)
    state: RunnerState = RunnerState.STARTING
    reason: KillReason | None = None
    reason_detail: str = ""
    kill_at: float = math.inf  # TERMINATING: SIGKILL at this time.monotonic()
    killed_at: float | None = None  # time.time() of the SIGKILL
    status: int | None = None  # waitpid status once EXITED
    result: bytearray = field(default_factory=bytearray)
    result_overflow: bool = False
    messages: Messages = field(default_factory=Messages)  # progress and steps, as they come
    # Figures kept by the limits sampler, of the whole tree: memory is RSS, or the limit's
    # PSS/USS once RSS nears the limit (`memory_metric` says which).
    memory: int = 0
    memory_metric: str = "rss"
    peak_memory: int = 0
    cpu_seconds: float = 0.0
    processes: int = 1
    full_memory: FullMemory | None = None
    rss: int = 0  # the tree's RSS at the last sample, bytes
    growth: float = 0.0  # bytes a second the tree's RSS grew by between the last two samples
    measured_at: float | None = None  # time.monotonic() of the last sample
    descendants: dict[int, int] = field(default_factory=dict)  # pid -> start (proctree)

    @property
    def job_id(self) -> str:
        return self.job.id

    def elapsed(self, now: float) -> float:
        return now - self.started

    def running(self, pid: int) -> None:
        """The fork server started it as `pid`: a kill asked meanwhile is done now."""
        self.pid, self.state = pid, RunnerState.RUNNING
        if self.reason is not None:
            self.kill(self.reason, self.reason_detail)

    def never_started(self) -> None:
        self.state = RunnerState.EXITED

    def terminate(self, reason: KillReason, now: float, grace: float) -> None:
        """SIGTERM the runner's group; SIGKILL follows at `now + grace` (inf: only when some
        other limit kills it). Terminating already: no second SIGTERM, but the SIGKILL may come
        sooner (a drain's `kill_timeout` after a soft limit's SIGTERM). Starting: the runner
        is killed once it has started (it has nothing to clean up yet)."""
        if self.state is RunnerState.STARTING:
            self._note(reason)
            return
        if self.state is RunnerState.TERMINATING:  # its first reason stands
            self.kill_at = min(self.kill_at, now + grace)
            return
        if self.state is not RunnerState.RUNNING:
            return
        self._note(reason)
        self.ops.killpg(self.pid, signal.SIGTERM)
        self.state = RunnerState.TERMINATING
        self.kill_at = now + grace

    def kill(self, reason: KillReason, detail: str = "") -> None:
        """SIGKILL the runner's group and every descendant seen, in the group or not (once
        started, when it is still starting)."""
        if self.state in (RunnerState.KILLED, RunnerState.EXITED):
            return
        self._note(reason, detail)
        if self.state is RunnerState.STARTING:
            return
        self.kill_tree()
        self.state = RunnerState.KILLED
        self.killed_at = time.time()

    def kill_tree(self) -> None:
        if not self.pid:  # never started: no group to signal (killpg(0) would be ours)
            return
        self.ops.killpg(self.pid, signal.SIGKILL)
        for pid, start in self.descendants.items():
            self.ops.kill(pid, start, signal.SIGKILL)

    def escalate(self, now: float) -> None:
        """SIGKILL a runner that outlived its SIGTERM's grace (`kill_at`)."""
        if self.state is RunnerState.TERMINATING and now >= self.kill_at:
            self.kill(self.reason or KillReason.SHUTDOWN)

    def exited(self, status: int, cpu_seconds: float = 0.0, max_rss: int = 0) -> None:
        """Reaped, with the kernel's own figures for the runner (wait4's rusage)."""
        self.status = status
        self.state = RunnerState.EXITED
        self.cpu_seconds = max(self.cpu_seconds, cpu_seconds)
        self.peak_memory = max(self.peak_memory, max_rss)

    def add_result(self, data: bytes, max_bytes: int) -> None:
        """Take bytes of the result channel: messages while the handler runs, then the
        result document (at most `max_bytes`)."""
        if self.result_overflow:
            return
        self.result += data
        self.messages.take(self.result, self.job.log)
        if not self.messages.done:  # a message (a step's result) may be larger
            max_bytes = max(max_bytes, protocol.MESSAGE_MAX_BYTES)
        if len(self.result) > max_bytes + protocol.HEADER.size:
            self.result_overflow = True
            self.result.clear()

    def document(self) -> dict[str, Any] | None:
        """The result document it sent, unchecked (`protocol.checked`); None: none whole."""
        return None if self.result_overflow else protocol.decode(self.result)

    def figures(self, now: float, max_attempts: int) -> dict[str, Any]:
        """What `jobsup ps` shows of the runner (kept in jobsup_workers.runners)."""
        return {
            "job_id": self.job_id,
            "lease": self.job.lease,
            "job_type": self.job.job_type,
            "pid": self.pid,
            "state": self.state.value,
            "elapsed": round(self.elapsed(now), 1),
            "rss_mb": round(self.memory / MB, 1),
            "peak_rss_mb": round(self.peak_memory / MB, 1),
            "memory_metric": self.memory_metric,  # pss or uss only once RSS nears the limit
            "memory_limit_mb": self.limits.memory_mb,
            "cpu_seconds": round(self.cpu_seconds, 2),
            "processes": self.processes,
            "attempt": self.job.attempt,
            "max_attempts": max_attempts,
            "progress": self.messages.progress,
        }

    def _note(self, reason: KillReason, detail: str = "") -> None:
        # The weightiest reason stands: a runner that ignored its soft limit's SIGTERM and hit
        # the hard limit died of the hard limit; one killed for memory while draining, of memory.
        if self.reason is None or RANK[reason] > RANK[self.reason]:
            self.reason = reason
            self.reason_detail = detail
