"""The fork server: a small process that forks the runners for its supervisor.

Why a process of its own: a fork costs in proportion to the forking process's mappings, and
every page the parent writes afterwards faults once more. The supervisor carries psycopg2,
loguru and click (a fork and reap costs it 2-2.5 ms here); this process, started fresh,
carries only `runner/` and the handler modules it preloads (1.1 ms with the diagnostic
handlers), and forks off the supervisor's core.

It speaks over a SOCK_SEQPACKET socket to the supervisor, one record per message:

    supervisor → server   b"spawn" with three fds: the runner's spec (a memfd holding the
                          pickled RunnerSpec), its result pipe and its output pipe
    server → supervisor   EVENT records: STARTED (pid), FAILED (errno of a fork that could
                          not be made), EXITED (pid, wait status, CPU seconds, peak RSS)

It dies with the supervisor (PR_SET_PDEATHSIG) and its runners die with it; it ends on its
own when the supervisor closes the socket. It ignores the signals a terminal or an operator
sends to the supervisor's process group: what happens to runners is the supervisor's call.
"""

from __future__ import annotations

import gc
import json
import os
import pickle  # nosec B403  # specs come only from the supervisor that started us
import select
import selectors
import signal
import socket
import struct
import sys
from contextlib import suppress
from typing import NoReturn

from runner import bootstrap, linux
from runner.protocol import Exit

REQUEST = b"spawn"
EVENT = struct.Struct("=ciiddq")  # kind, pid, status or errno, user s, system s, maxrss KiB
STARTED, FAILED, EXITED = b"S", b"F", b"X"
GO = b"g"  # to a runner: the supervisor knows your pid, start
IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGTTIN, signal.SIGTTOU)  # fmt: skip
TITLE = "jobsup: fork server"


def title(supervisor_pid: int) -> str:
    """`jobsup: fork server of 4676`: whose server it is, still readable once the supervisor
    has died and the server been re-parented; a runner carries it until it takes its own."""
    return f"{TITLE} of {supervisor_pid}"


def main(sock_fd: int, supervisor_pid: int, path: list[str], preload: list[str]) -> NoReturn:
    """Serve spawn requests on `sock_fd` until the supervisor closes it; `path` is the
    supervisor's sys.path, where handler modules are found."""
    sys.path[:] = path
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor_pid:
        os._exit(1)
    bootstrap.set_title(title(supervisor_pid))
    for signum in IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up fd does the work
    bootstrap.prepare(preload)
    gc.freeze()  # what is loaded now stays out of the collector: fewer pages copied per fork
    server = _Server(sock, (sock_fd, wake_r, wake_w))
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                server.serve()
            else:
                _drain(wake_r)
                server.reap()


class _Server:
    def __init__(self, sock: socket.socket, own_fds: tuple[int, ...]) -> None:
        self.sock = sock
        self.own_fds = own_fds  # a runner closes them at once

    def serve(self) -> None:
        # Close-on-exec, as they were in the supervisor: what a runner execs inherits none.
        try:
            message, fds, _, _ = socket.recv_fds(self.sock, 64, 3, socket.MSG_CMSG_CLOEXEC)
        except ConnectionError:  # the supervisor died with our events unread
            os._exit(0)
        if not message:  # the supervisor closed its end: it is done with us
            os._exit(0)
        if message != REQUEST or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        spec_fd, result_w, output_w = fds
        # The runner waits for a byte on this pipe, sent once the supervisor has its pid: a
        # server killed in between leaves it an end of file, and it never runs its handler
        # (else the job would run with the supervisor believing it never started).
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError as e:
            os.close(go_r)
            os.close(go_w)
            self._send(EVENT.pack(FAILED, 0, e.errno or 0, 0.0, 0.0, 0))
        else:
            if pid == 0:
                os.close(go_w)
                _become_runner(self.own_fds, go_r, spec_fd, result_w, output_w)
            os.close(go_r)
            # The runner does this too; here as well, so the group exists before the
            # supervisor learns the pid and may signal it.
            with suppress(OSError):
                os.setpgid(pid, pid)
            self._send(EVENT.pack(STARTED, pid, 0, 0.0, 0.0, 0))
            with suppress(OSError):  # a runner killed already: it needs no word
                os.write(go_w, GO)
            os.close(go_w)
        finally:
            for fd in fds:
                os.close(fd)

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            record = EVENT.pack(EXITED, pid, status, usage.ru_utime, usage.ru_stime,
                                usage.ru_maxrss)  # fmt: skip
            self._send(record)

    def _send(self, record: bytes) -> None:
        try:
            self.sock.send(record)
        except ConnectionError:  # ECONNRESET, EPIPE: the supervisor has gone, and so do we
            os._exit(0)


def _become_runner(own_fds: tuple[int, ...], go: int, spec_fd: int, result_w: int,
                   output_w: int) -> NoReturn:  # fmt: skip
    try:
        signal.set_wakeup_fd(-1)  # before its fd is closed, and its number reused
        for signum in (signal.SIGCHLD, *IGNORED):
            signal.signal(signum, signal.SIG_DFL)
        for fd in own_fds:
            os.close(fd)
        if os.read(go, 1) != GO:  # the server died before the supervisor knew of us
            os._exit(Exit.PARENT_GONE)
        os.close(go)
        if _unread(result_w, output_w):  # the supervisor gave this claim up before we started
            os._exit(Exit.PARENT_GONE)
        # The memfd came over our private socketpair from the supervisor: trusted data.
        spec = pickle.loads(os.pread(spec_fd, os.fstat(spec_fd).st_size, 0))  # nosec B301
        os.close(spec_fd)
    except BaseException:  # nothing here may return into the server's loop
        os._exit(Exit.BOOTSTRAP)
    bootstrap.run(spec, result_w, output_w)


def _unread(*fds: int) -> bool:
    """Whether nobody reads what `fds` write to any more: the supervisor closes a runner's
    read ends when its claim is lost while it starts. A pipe's write end then polls POLLERR;
    the result channel, a socket pair, POLLHUP."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4:])
