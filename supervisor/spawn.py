"""The fork boundary: the one place that forks. The parent gets a pid and two pipes; the
child becomes a runner (`runner.bootstrap.run`) and never comes back."""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from dataclasses import dataclass

from runner import bootstrap
from runner.job import RunnerSpec
from supervisor.signals import blocked


@dataclass(frozen=True)
class Spawned:
    pid: int
    result_fd: int  # the runner's result document
    output_fd: int  # its stdout and stderr


def spawn(spec: RunnerSpec) -> Spawned:
    """Fork a runner for `spec`; OSError when the system cannot (EAGAIN, ENOMEM)."""
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    sys.stdout.flush()  # or the child would inherit, and print again, the parent's buffer
    sys.stderr.flush()
    try:
        with blocked():
            pid = os.fork()
            if pid == 0:
                os.close(result_r)
                os.close(output_r)
                bootstrap.run(spec, result_w, output_w)  # never returns
    except OSError:
        for fd in (result_r, result_w, output_r, output_w):
            os.close(fd)
        raise
    os.close(result_w)
    os.close(output_w)
    _set_group(pid)
    for fd in (result_r, output_r):
        os.set_blocking(fd, False)
    return Spawned(pid, result_r, output_r)


def _set_group(pid: int) -> None:
    # The child does this too; doing it on both sides closes the race where the supervisor
    # signals the group before the child has made it.
    with suppress(OSError):  # the child got there first, or has already exited
        os.setpgid(pid, pid)
