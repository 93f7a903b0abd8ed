"""`jobsup start --daemon`: detach from the terminal the classic way.

Double fork (the daemon is no session leader, so it can never acquire a terminal again),
setsid, stdin from /dev/null, stdout and stderr appended to the log file. The process that
ran `jobsup start --daemon` waits on a pipe until the daemon holds its pidfile (or fails),
says which, and exits.

The working directory and umask are kept: a config file and a state_dir given relative to
where `jobsup start` ran must keep their meaning (SIGHUP re-reads the file by that path).
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

import click

LOG_NAME = "jobsup.log"
_OK = "ok"


class Handshake:
    """The daemon's end of the pipe to the process that started it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def started(self) -> None:
        self._send(f"{_OK} {os.getpid()}")

    def failed(self, message: str) -> None:
        self._send(message)

    def _send(self, message: str) -> None:
        if self._fd < 0:
            return
        with suppress(OSError):  # the starter is gone (killed): nobody to tell
            os.write(self._fd, message.encode(errors="replace")[:4000])
        os.close(self._fd)
        self._fd = -1


def detach(log_path: Path) -> Handshake:
    """Continue in a detached daemon; the calling process reports and exits instead."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os.close(write_fd)
        raise SystemExit(_report(read_fd, log_path))
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the session leader leaves; its child can never take a terminal
    _redirect(log_path)
    return Handshake(write_fd)


def _report(read_fd: int, log_path: Path) -> int:
    """In the starting process: wait for the daemon's word; the exit code to leave with."""
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    os.wait()  # the intermediate child, which exits at once
    message = b"".join(chunks).decode(errors="replace")
    word, _, pid = message.partition(" ")
    if word == _OK:
        click.echo(f"jobsup started in the background: pid {pid}, log {log_path}")
        return 0
    reason = message or f"the daemon exited during start-up (see {log_path})"
    click.echo(f"jobsup: {reason}", err=True)
    return 1


def _redirect(log_path: Path) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
