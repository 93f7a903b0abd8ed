"""A parent of runners: its end of the fork server, and the words a failed attempt is
recorded with. One place for the supervisor (supervisor/runners/) and for a handler's tests
(runner/testing.py), so what a test sees cannot drift from what a supervisor writes;
`runner/` never imports `supervisor/`.

Runners start through the fork server (`runner/forkserver.py`): a lean process of our own,
started fresh, that forks them. The supervisor itself never forks a runner: with psycopg2
and loguru loaded, each fork would cost it 2 ms of its one core.

The runner gets its spec in a memfd (any size, no blocking write) and its two pipes; the
supervisor keeps the pipes' read ends and goes on at once. Events come back in order: each
request's answer (the runner's pid, or why it could not start) and each runner's exit
(wait status, CPU, peak RSS: the server reaps it).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickle  # nosec B403  # to our own fork server, over a private socketpair
import select
import selectors
import signal
import socket
import subprocess  # nosec B404  # starts our own fork server, no shell
import sys
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass

from loguru import logger

from runner import forkserver
from runner.job import RunnerSpec
from runner.protocol import Document, Failure, FailureKind

# Longest a request may wait for its answer: covers the server's start-up (Python, then the
# modules it preloads) on a loaded machine, and stays under systemd's watchdog (30 s), as
# the loop waits this long at most when it shuts down.
REPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Started:
    """The answer to the oldest unanswered request: its runner runs."""

    pid: int


@dataclass(frozen=True)
class Refused:
    """The answer to the oldest unanswered request: no runner (EAGAIN, ENOMEM, no server)."""

    error: OSError


@dataclass(frozen=True)
class Exited:
    pid: int
    status: int  # as from waitpid
    cpu_seconds: float
    peak_rss: int  # bytes


Event = Started | Refused | Exited


class ForkServer:
    """The supervisor's end of the fork server; started again when it dies."""

    def __init__(
        self, selector: selectors.BaseSelector, reply_timeout: float = REPLY_TIMEOUT
    ) -> None:
        self.preload: list[str] = []  # modules a server imports at start
        self.environment: dict[str, str] | None = None  # a server's (its runners'); None: ours
        self.selector = selector  # the server's socket wakes the main loop
        self.reply_timeout = reply_timeout
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._events: list[Event] = []
        self._asked: deque[float] = deque()  # when each unanswered request was sent
        self._unreaped: set[int] = set()  # servers started, not yet reaped
        self._ended: set[int] = set()  # of those, the ones we ended

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "runner.forkserver", str(theirs.fileno()),
                str(os.getpid()), json.dumps(sys.path), *self.preload]  # fmt: skip
        with theirs:
            self._process = subprocess.Popen(  # nosec B603  # this Python, our own argv
                argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=self.environment
            )
        ours.setblocking(False)
        self._sock, self.pid = ours, self._process.pid
        self._unreaped.add(self.pid)
        self.selector.register(ours, selectors.EVENT_READ, self)

    def attach(self, selector: selectors.BaseSelector) -> None:
        """Wake `selector`'s loop from now on (a server started for the preflight, handed to
        the supervisor's pool)."""
        if self._sock is not None:
            self.selector.unregister(self._sock)
            selector.register(self._sock, selectors.EVENT_READ, self)
        self.selector = selector

    def pids(self) -> set[int]:
        """The fork servers of ours still to be reaped."""
        return set(self._unreaped)

    def request(self, spec: RunnerSpec) -> tuple[int, int]:
        """Ask for a runner for `spec`; the read ends of its result and output pipes. The
        answer comes later as an event. OSError when the request cannot be made."""
        if self._sock is None:
            self.start()
        assert self._sock is not None and self.pid is not None  # nosec B101  # start() set them
        spec_fd = _memfd(pickle.dumps(dataclasses.replace(spec, parent_pid=self.pid)))
        # The result channel is a socket pair, not a pipe: the supervisor answers a durable
        # step on it (runner/flow.py). It still reads as a pipe does: EOF once the runner
        # and every descendant holding it have closed it.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        result_r, result_w = ours.detach(), theirs.detach()
        output_r, output_w = os.pipe()
        try:
            self._send(spec_fd, result_w, output_w)
        except OSError:
            os.close(result_r)
            os.close(output_r)
            raise
        finally:
            for fd in (spec_fd, result_w, output_w):
                os.close(fd)
        self._asked.append(time.monotonic())
        os.set_blocking(result_r, False)
        os.set_blocking(output_r, False)
        return result_r, output_r

    def events(self, settle: bool = False) -> list[Event]:
        """What happened since the last call, in order. With `settle`, first wait until
        every request has its answer. A server that leaves a request unanswered for
        REPLY_TIMEOUT (stopped, or wedged) is killed: its requests are refused."""
        while self._sock is not None:
            record = self._receive()
            if record is not None:
                self._take(record)
                continue
            if not self._asked:
                break
            wait = self._asked[0] + self.reply_timeout - time.monotonic()
            if wait <= 0:
                logger.error("the fork server (pid {}) did not answer in {:g} s: killing it",
                             self.pid, self.reply_timeout)  # fmt: skip
                self.kill()
            elif not settle:
                break
            else:
                select.select([self._sock], [], [], wait)
        events, self._events = self._events, []
        return events

    def reaped(self, pid: int, status: int) -> bool:
        """Whether `pid`, just reaped by the supervisor, was a fork server of ours."""
        if pid not in self._unreaped:
            return False
        self._unreaped.discard(pid)
        if pid not in self._ended:
            logger.error("the fork server (pid {}) {}: the next runner starts another",
                         pid, how_it_ended(status))  # fmt: skip
        self._ended.discard(pid)
        if pid == self.pid:
            self._abandon()
        return True

    def close(self) -> None:
        """Let the server end (it exits when its socket closes); the caller reaps it."""
        if self.pid is not None:
            self._ended.add(self.pid)
        self._abandon()

    def stop(self, timeout: float = 5.0) -> None:
        """Close, and reap the server here: for a parent without a wait loop of its own."""
        pid = self.pid
        self.close()
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() >= deadline:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.01)

    def kill(self) -> None:
        """End a server that does not answer; its runners die with it (PDEATHSIG)."""
        if self.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.close()

    def _abandon(self) -> None:
        while self._sock is not None and (record := self._receive()) is not None:
            self._take(record)  # what the server said before it went
        self._disconnect()

    def _disconnect(self) -> None:
        if self._sock is not None:
            self.selector.unregister(self._sock)
            self._sock.close()
        if self._process is not None:
            self._process.returncode = 0  # reaped by the supervisor's wait loop, not here
        gone = OSError(errno.EPIPE, f"the fork server (pid {self.pid}) has gone")
        self._events.extend(Refused(gone) for _ in self._asked)
        self._asked.clear()
        self._sock = self._process = self.pid = None

    def _send(self, *fds: int) -> None:
        assert self._sock is not None  # nosec B101  # narrows the type; callers check it
        try:
            socket.send_fds(self._sock, [forkserver.REQUEST], list(fds))
        except OSError as e:
            self.kill()
            raise OSError(e.errno, f"the fork server has gone: {e.strerror}") from None

    def _receive(self) -> tuple[bytes, int, int, float, float, int] | None:
        """The next record; None when there is none yet, or the server has gone."""
        assert self._sock is not None  # nosec B101  # narrows the type; callers check it
        try:
            data = self._sock.recv(forkserver.EVENT.size)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:  # the server has ended: the supervisor's wait loop reaps it
            self._disconnect()
            return None
        return forkserver.EVENT.unpack(data)

    def _take(self, record: tuple[bytes, int, int, float, float, int]) -> None:
        kind, pid, code, user, system, maxrss_kib = record
        if kind == forkserver.EXITED:
            self._events.append(Exited(pid, code, user + system, maxrss_kib * 1024))
            return
        self._asked.popleft()
        if kind == forkserver.STARTED:
            self._events.append(Started(pid))
        else:
            self._events.append(Refused(OSError(code, os.strerror(code))))


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("jobsup-runner-spec", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# -- the words: how an attempt ended, as a person reads it in processing_jobs.error_message --

MB = 1 << 20
OUTPUT_TAIL = 4096  # bytes of a runner's output kept for its failure message


def size(n: int) -> str:
    """1.1 GiB, 612 MiB: what a person reads in a failure message."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / MB:.0f} MiB"


def how_it_ended(status: int) -> str:
    """`killed by SIGSEGV`, `exited with code 3`: a process's end, from its wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def crashed(status: int | None) -> str:
    """A runner that ended without a result document (None: never reaped)."""
    if status is None:
        return "runner vanished"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "runner exited without sending a result"
    return f"runner {how_it_ended(status)}"


def memory_exceeded(memory: int, limit_mb: int, metric: str) -> str:
    """`312 MiB > 256 MiB (pss)`: figures that show the excess (never `1.0 GiB > 1.0 GiB`)."""
    shown, limit = size(memory), size(limit_mb * MB)
    if shown == limit:  # rounding hid the excess: MiB, the limit exact, the memory finer
        shown, limit = _finer(memory, limit_mb), f"{limit_mb} MiB"
        if shown.endswith("bytes"):
            limit = f"{limit_mb * MB:,} bytes"
    return f"memory limit exceeded: {shown} > {limit} ({metric})"


def _finer(memory: int, limit_mb: int) -> str:
    """`memory` in MiB with the fewest decimals (up to 3) that read above `limit_mb`, else
    in bytes: 1065 MiB, 200.1 MiB, 209,715,201 bytes."""
    for decimals in range(4):
        if round(memory / MB, decimals) > limit_mb:
            return f"{memory / MB:.{decimals}f} MiB"
    return f"{memory:,} bytes"


def processes_exceeded(processes: int, limit: int) -> str:
    return f"process limit exceeded: {processes} > {limit} processes"


def time_exceeded(time_limit: float, soft_time_limit: float = 0.0) -> str:
    """The hard limit's SIGKILL (after the soft limit's SIGTERM, when there is one)."""
    message = f"time limit {time_limit:g} s exceeded (killed)"
    if 0 < soft_time_limit < time_limit:
        message += f"; the SIGTERM of its soft limit ({soft_time_limit:g} s) did not end it"
    return message


def soft_time_exceeded(
    soft_time_limit: float, document: Document | None, killed: bool = False
) -> str:
    """The soft limit's SIGTERM; and what the handler's clean-up raised, if it did, or the
    SIGKILL that followed (`killed`: no hard limit, `kill_timeout` later, or a drain's)."""
    message = f"soft time limit {soft_time_limit:g} s exceeded"
    if killed:
        return message + " (SIGTERM did not end it: killed)"
    if document and not document["ok"] and document["kind"] != FailureKind.SOFT_TIME_LIMIT:
        message += f"; then {document['message']}"  # the clean-up itself failed
    return message


def too_large(result_max_kb: int) -> str:
    return f"result too large: more than {result_max_kb} KiB (result_max_kb)"


def malformed(problem: str) -> str:
    return f"runner sent a malformed result ({problem})"


def failure(document: Failure) -> str:
    """What a handler's failure document is recorded as."""
    kind, message = document["kind"], document["message"]
    if kind == FailureKind.SOFT_TIME_LIMIT:  # SIGTERM from outside jobsup (kill, systemd)
        return "runner received SIGTERM"
    if kind in (FailureKind.PERMANENT, FailureKind.MEMORY, FailureKind.RETRY):
        return message
    traceback = document.get("traceback", "").rstrip()
    return f"{message}\n{traceback}" if traceback else message


def with_output(message: str, tail: str) -> str:
    """The message, then the last of the runner's output."""
    tail = tail.rstrip()
    return f"{message}\n--- last output ---\n{tail}" if tail else message


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
