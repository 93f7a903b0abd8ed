"""`jobsup start --daemon`: detach from the terminal the classic way, and report only once the
daemon is ready.

Double fork (the daemon is no session leader, so it can never acquire a terminal again),
setsid, stdin from /dev/null, stdout and stderr appended to the log file. The process that
ran `jobsup start --daemon` waits until the daemon is ready — connected, schema checked,
registered: the moment it tells systemd READY=1, which it tells this process too, on a
datagram socket of its own (`notify.tell_starter`) — and exits 0; or until the daemon ends
first, and exits 1 with the daemon's reason. A pipe, held by the daemon, carries its pid, or
why it could not take the pidfile; its end of file says the daemon has gone.

The working directory and umask are kept: a config file and a state_dir given relative to
where `jobsup start` ran must keep their meaning (SIGHUP re-reads the file by that path).
"""

from __future__ import annotations

import os
import secrets
import selectors
import socket
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import click

from supervisor import sd_notify as notify
from supervisor import statedir

LOG_NAME = "jobsup.log"
# Longest the starter waits: start-up includes connecting (connect_timeout), perhaps starting
# the embedded PostgreSQL, and the fork server's start.
READY_TIMEOUT = 120.0
_PID = "pid "


class Handshake:
    """The daemon's end of the pipe to the process that started it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def started(self) -> None:
        """The pidfile is held: the pid goes to the starter, the pipe stays open until exit."""
        self._write(f"{_PID}{os.getpid()}\n")

    def failed(self, message: str) -> None:
        self._write(message)
        os.close(self._fd)
        self._fd = -1

    def _write(self, message: str) -> None:
        if self._fd >= 0:
            with suppress(OSError):  # the starter is gone (killed): nobody to tell
                os.write(self._fd, message.encode(errors="replace")[:4000])


def detach(log_path: Path) -> Handshake:
    """Continue in a detached daemon; the calling process reports and exits instead."""
    statedir.ensure(log_path.parent)
    read_fd, write_fd = os.pipe()
    address = f"@jobsup-start-{secrets.token_hex(16)}"  # abstract: nothing to clean up
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ready.bind("\0" + address[1:])
    log_offset = log_path.stat().st_size if log_path.exists() else 0
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child > 0:
        os.close(write_fd)
        os.waitpid(child, 0)  # the intermediate child, which exits at once
        raise SystemExit(_report(read_fd, ready, log_path, log_offset))
    os.close(read_fd)
    ready.close()
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the session leader leaves; its child can never take a terminal
    _redirect(log_path)
    notify.tell_starter(address)
    return Handshake(write_fd)


def _report(read_fd: int, ready: socket.socket, log_path: Path, log_offset: int) -> int:
    """In the starting process: wait for READY=1 or the daemon's end; the exit code."""
    heard = _wait(read_fd, ready)
    pid = heard.pid or "?"
    if heard.ready:
        click.echo(f"jobsup started in the background: pid {pid}, log {log_path}")
        return 0
    if heard.gone:
        reason = heard.message or _last_error(log_path, log_offset)
        reason = reason or f"the daemon exited during start-up (see {log_path})"
    else:
        reason = (f"the daemon (pid {pid}) is not ready after {READY_TIMEOUT:g} s; it goes on "
                  f"starting (see {log_path}, `jobsup stop` ends it)")  # fmt: skip
    click.echo(f"jobsup: {reason.removeprefix('jobsup: ')}", err=True)
    return 1


@dataclass
class _Heard:
    pid: str = ""
    message: str = ""  # why the daemon could not take the pidfile
    ready: bool = False
    gone: bool = False


def _wait(read_fd: int, ready: socket.socket) -> _Heard:
    heard = _Heard()
    received = b""
    deadline = time.monotonic() + READY_TIMEOUT
    os.set_blocking(read_fd, False)
    with selectors.DefaultSelector() as selector, ready:
        selector.register(ready, selectors.EVENT_READ)
        selector.register(read_fd, selectors.EVENT_READ)
        while not heard.gone and (wait := deadline - time.monotonic()) > 0:
            selector.select(wait)
            # The socket first: a daemon that is ready and then done at once (a batch run
            # with nothing to do) was ready.
            heard.ready = _said_ready(ready)
            if heard.ready:
                break
            chunk = _read(read_fd)
            received += chunk or b""
            heard.gone = chunk == b""
    os.close(read_fd)
    text = received.decode(errors="replace")
    if text.startswith(_PID):
        heard.pid, _, text = text.removeprefix(_PID).partition("\n")
    heard.message = text.strip()
    return heard


def _said_ready(ready: socket.socket) -> bool:
    while True:
        try:
            datagram = ready.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if b"READY=1" in datagram.split(b"\n"):
            return True


def _read(fd: int) -> bytes | None:
    """What the pipe holds now (b"" at end of file; None when nothing yet)."""
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return None


def _last_error(log_path: Path, offset: int) -> str:
    """The daemon's last word in its log since `offset`: its one-line error (`jobsup: …`),
    else its last ERROR line, else its last line."""
    try:
        with log_path.open("rb") as f:
            f.seek(offset)
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    for wanted in (lambda line: line.startswith("jobsup: "), lambda line: " ERROR " in line):
        found = [line for line in lines if wanted(line)]
        if found:
            return found[-1]
    return lines[-1] if lines else ""


def _redirect(log_path: Path) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, statedir.PRIVATE_FILE)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
