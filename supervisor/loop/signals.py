"""Signals as events: handlers only record the signal; the main loop does the work.

The wake-up fd makes a signal wake the selector at once, even between a check and a wait.
"""

from __future__ import annotations

import signal
import socket
from collections import deque
from types import FrameType

HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class SignalQueue:
    """Installs the handlers; `fileno()` turns readable when a signal arrives."""

    def __init__(self) -> None:
        self._queue: deque[signal.Signals] = deque()
        self._reader, self._writer = socket.socketpair()
        for sock in (self._reader, self._writer):
            sock.setblocking(False)
        self._previous = {signum: signal.getsignal(signum) for signum in HANDLED}

    def install(self) -> None:
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in HANDLED:
            signal.signal(signum, self._record)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(-1)
        self._reader.close()
        self._writer.close()

    def fileno(self) -> int:
        return self._reader.fileno()

    def pop_all(self) -> list[signal.Signals]:
        """The signals received since the last call, oldest first."""
        try:
            while self._reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        signals = []
        while self._queue:  # popleft, not list() then clear(): one may arrive in between
            signals.append(self._queue.popleft())
        return signals

    def stop_asked(self) -> bool:
        """Whether a stop signal waits in the queue (it stays there for `pop_all`)."""
        return any(signum in STOPPING for signum in list(self._queue))

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        # No logging, no I/O, no locks: just remember it (gunicorn learned this the hard way).
        self._queue.append(signal.Signals(signum))
