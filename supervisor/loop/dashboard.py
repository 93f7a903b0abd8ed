"""The dashboard as a child of the supervisor (`[web] listen`): started and stopped by the loop.

A process, not a thread: the supervisor's loop is single-threaded and must never wait on a
browser. The child is `jobsup web` with the supervisor's config and environment, in a
process group of its own (a terminal's Ctrl-C reaches the supervisor, which stops it on
exit), and dies with the supervisor (PR_SET_PDEATHSIG) if that is killed outright. The
supervisor, a subreaper, ends every child it does not know as an orphan of a runner: the
child's pid is in `limits.companions`, which that sweep leaves alone.
"""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404  # starts `python -m supervisor web`, no shell
import sys
import time
from dataclasses import dataclass

from loguru import logger

from runner import linux
from supervisor.config import Config
from supervisor.listen import check_listen
from supervisor.runners import limits, proctree

STOP_SECONDS = 8.0  # then SIGKILL (its own graceful shutdown takes at most 5 s)


@dataclass(frozen=True)
class WebProcess:
    pid: int
    start: int  # with the pid, names the process for good (never a reused pid)
    popen: subprocess.Popen[bytes]


def start(cfg: Config) -> WebProcess | None:
    """`jobsup web` for `cfg`, or None when `[web] listen` is "". ConfigError (before any
    child starts) for an address the dashboard would refuse."""
    listen = cfg.web.listen
    if not listen:
        return None
    check_listen(listen, cfg.web, os.environ.get(cfg.web.token_env) or None)
    command = [sys.executable, "-m", "supervisor", "web", "--listen", listen]
    if cfg.path:
        command[3:3] = ["-c", str(cfg.path)]
    popen = subprocess.Popen(  # nosec B603  # this Python, our own argv
        command, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_die_with_parent
    )
    proc = proctree.read(popen.pid)
    limits.companions.add(popen.pid)
    logger.info("dashboard started: pid {}, http://{}/", popen.pid, listen)
    return WebProcess(popen.pid, proc.start if proc else 0, popen)


def stop(web: WebProcess | None) -> None:
    """SIGTERM, then SIGKILL after STOP_SECONDS; reaped (here, or by the supervisor's reap)."""
    if web is None:
        return
    proctree.kill(web.pid, web.start, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while _alive(web) and time.monotonic() < deadline:
        time.sleep(0.05)
    proctree.kill(web.pid, web.start)
    web.popen.poll()  # reap it, unless the supervisor's wait already did
    limits.companions.discard(web.pid)


def _alive(web: WebProcess) -> bool:
    web.popen.poll()
    proc = proctree.read(web.pid)
    return proc is not None and proc.start == web.start


def _die_with_parent() -> None:  # in the child, between fork and exec
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGTERM)
