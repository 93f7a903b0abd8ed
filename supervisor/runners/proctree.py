"""One pass over /proc: every process's parent, group, start time, resident memory and CPU.

psutil finds a process's children by reading every /proc entry anyway; a supervisor with 32
runners sampling ten times a second does that once per round here, not once per runner.
"""

from __future__ import annotations

import os
import signal
from collections import defaultdict
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    rss: int  # bytes
    cpu: float  # seconds, user + system, its own and its reaped children's


@dataclass
class Snapshot:
    procs: dict[int, Proc] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def descendants(self, root: int) -> Iterator[Proc]:
        """Every live process below `root` (not `root` itself)."""
        stack = list(self.children.get(root, ()))
        while stack:
            pid = stack.pop()
            proc = self.procs.get(pid)
            if proc is not None:
                yield proc
                stack.extend(self.children.get(pid, ()))


def snapshot() -> Snapshot:
    """Every process on the system, as it is now."""
    snap = Snapshot()
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = read(int(name))
            if proc is not None:
                snap.procs[proc.pid] = proc
                snap.children[proc.ppid].append(proc.pid)
    return snap


def read(pid: int) -> Proc | None:
    """Process `pid` from /proc/<pid>/stat, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie holds no memory and cannot be killed again
        return None
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start=int(fields[19]),
        rss=int(fields[21]) * PAGE_SIZE,
        cpu=ticks / CLOCK_TICKS,
    )


def kill(pid: int, start: int, signum: int = signal.SIGKILL) -> None:
    """Signal `pid` if it is still the process that started at `start` (not a reused pid)."""
    proc = read(pid)
    if proc is not None and proc.start == start:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)
