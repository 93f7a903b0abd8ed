"""A runner as the supervisor sees it: its job, its pipes, and its state.

    RUNNING ──terminate──▶ TERMINATING ──kill (kill_timeout)──▶ KILLED
       │                        │                                 │
       └────────kill───────────────────────────────────────────▶ │
       └──────────────┴─────────────── exited ────────────────────┴──▶ EXITED

Every system call goes through `ProcessOps`, so the transitions are tested with a fake.
"""

from __future__ import annotations

import enum
import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner import protocol
from supervisor import proctree
from supervisor.config import Limits
from supervisor.jobrow import ClaimedJob

TAIL_BYTES = 4096
LINE_MAX = 8192  # a longer "line" is logged in pieces


class RunnerState(enum.Enum):
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
    pid: int
    result_fd: int
    output_fd: int
    started: float  # time.monotonic()
    started_wall: float  # time.time(), for the attempt record
    output: Output
    ops: ProcessOps = field(default_factory=RealProcessOps)
    state: RunnerState = RunnerState.RUNNING
    reason: KillReason | None = None
    reason_detail: str = ""
    kill_at: float | None = None
    killed_at: float | None = None  # time.time() of the SIGKILL
    status: int | None = None  # waitpid status once EXITED
    result: bytearray = field(default_factory=bytearray)
    result_overflow: bool = False
    # Figures kept by the limits sampler, of the whole tree: memory is RSS, or the limit's
    # PSS/USS once RSS nears the limit (`memory_metric` says which).
    memory: int = 0
    memory_metric: str = "rss"
    peak_memory: int = 0
    cpu_seconds: float = 0.0
    processes: int = 1
    full_memory: FullMemory | None = None
    descendants: dict[int, int] = field(default_factory=dict)  # pid -> start (proctree)

    @property
    def job_id(self) -> str:
        return self.job.id

    def elapsed(self, now: float) -> float:
        return now - self.started

    def terminate(self, reason: KillReason, now: float, kill_timeout: float) -> None:
        """SIGTERM the runner's group; SIGKILL follows at `now + kill_timeout`."""
        if self.state is not RunnerState.RUNNING:
            return
        self._note(reason)
        self.ops.killpg(self.pid, signal.SIGTERM)
        self.state = RunnerState.TERMINATING
        self.kill_at = now + kill_timeout

    def kill(self, reason: KillReason, detail: str = "") -> None:
        """SIGKILL the runner's group and every descendant seen, in the group or not."""
        if self.state in (RunnerState.KILLED, RunnerState.EXITED):
            return
        self._note(reason, detail)
        self.kill_tree()
        self.state = RunnerState.KILLED
        self.killed_at = time.time()

    def kill_tree(self) -> None:
        self.ops.killpg(self.pid, signal.SIGKILL)
        for pid, start in self.descendants.items():
            self.ops.kill(pid, start, signal.SIGKILL)

    def escalate(self, now: float) -> None:
        """SIGKILL a runner that outlived its SIGTERM by kill_timeout."""
        terminating = self.state is RunnerState.TERMINATING and self.kill_at is not None
        if terminating and now >= self.kill_at:  # type: ignore[operator]
            self.kill(self.reason or KillReason.SHUTDOWN)

    def exited(self, status: int, cpu_seconds: float = 0.0, max_rss: int = 0) -> None:
        """Reaped, with the kernel's own figures for the runner (wait4's rusage)."""
        self.status = status
        self.state = RunnerState.EXITED
        self.cpu_seconds = max(self.cpu_seconds, cpu_seconds)
        self.peak_memory = max(self.peak_memory, max_rss)

    def add_result(self, data: bytes, max_bytes: int) -> None:
        if len(self.result) + len(data) > max_bytes + protocol.HEADER.size:
            self.result_overflow = True
            return
        self.result += data

    def document(self) -> dict[str, Any] | None:
        return None if self.result_overflow else protocol.decode(self.result)

    def _note(self, reason: KillReason, detail: str = "") -> None:
        # The weightiest reason stands: a runner that ignored its soft limit's SIGTERM and hit
        # the hard limit died of the hard limit; one killed for memory while draining, of memory.
        if self.reason is None or RANK[reason] > RANK[self.reason]:
            self.reason = reason
            self.reason_detail = detail
