"""Where the CPU goes, read from /proc: the supervisor, its fork server, the runners that
server reaped, and the PostgreSQL processes of the benchmark's database; and the bare fork
ceiling that a process-per-job runner is measured against."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SERVER_TITLE = "jobsup: fork server"


def stat(pid: int) -> tuple[float, float] | None:
    """CPU seconds of `pid` itself, and of the children it has reaped; None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # After the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    utime, stime, cutime, cstime = (int(n) for n in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """`pid`'s live children, from /proc (no scan of every process)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(n) for n in f.read().split()]
    except OSError:
        return []


def fork_server_of(supervisor: int) -> int | None:
    for child in children(supervisor):
        if cmdline(child).startswith(SERVER_TITLE):
            return child
    return None


def postgres_pids(database: str) -> set[int]:
    """The backends (and autovacuum workers) serving `database`: their titles name it."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            title = cmdline(int(entry.name))
            if title.startswith("postgres: ") and f" {database} " in f"{title} ":
                found.add(int(entry.name))
    return found


@dataclass
class Split:
    """CPU seconds by part; `total` of the jobsup tree is exact (wait4), the split sampled."""

    supervisor: float = 0.0
    fork_server: float = 0.0
    runners: float = 0.0
    postgres: float = 0.0

    @property
    def total(self) -> float:
        return self.supervisor + self.fork_server + self.runners + self.postgres

    def per_job_ms(self, jobs: int) -> dict[str, float]:
        parts = {"supervisor": self.supervisor, "fork_server": self.fork_server,
                 "runners": self.runners, "postgres": self.postgres,
                 "total": self.total}  # fmt: skip
        return {name: round(seconds * 1000 / jobs, 3) for name, seconds in parts.items()}


@dataclass
class Meter:
    """Samples a running supervisor's CPU by part until it exits. The count starts when the
    first runner exists (the interpreter's start-up and the first connection are not the
    jobs' cost) and ends at the supervisor's exit; the total of its tree comes from wait4."""

    process: subprocess.Popen[bytes]
    database: str
    interval: float = 0.05
    server: int | None = None
    base: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    backends: dict[int, float] = field(default_factory=dict)  # pid: CPU at first sight

    def run(self, until: Callable[[], bool] | None = None) -> Split:
        """Sample until the supervisor exits (or `until()` says stop: then it is stopped
        with SIGTERM); the CPU each part spent."""
        pid = self.process.pid
        next_scan = 0.0
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                tree = usage.ru_utime + usage.ru_stime
                return self._split(tree)
            now = time.monotonic()
            self._sample()
            if self.base and now >= next_scan:
                self._scan_postgres()
                next_scan = now + 0.5
            if until is not None and until():
                with suppress(ProcessLookupError):
                    self.process.terminate()
                until = None
            time.sleep(self.interval)

    def _sample(self) -> None:
        pid = self.process.pid
        own = stat(pid)
        if own is None:
            return
        if self.server is None:
            self.server = fork_server_of(pid)
        server = stat(self.server) if self.server else None
        reading = {"supervisor": own[0]}
        if server is not None:
            reading["fork_server"], reading["runners"] = server
        if not self.base and self.server and children(self.server):
            self.base = dict(reading)
            self._scan_postgres(at_start=True)
        if server is not None:
            self.last = reading
        for backend in self.backends:
            now = stat(backend)
            if now is not None:
                self.last[f"pg{backend}"] = now[0]

    def _scan_postgres(self, at_start: bool = False) -> None:
        for backend in postgres_pids(self.database) - self.backends.keys():
            reading = stat(backend)
            if reading is not None:
                # A backend seen at the start: its connection set-up is not the jobs' cost;
                # one that appears later (an autovacuum worker) counts from nothing.
                self.backends[backend] = reading[0] if at_start else 0.0

    def _split(self, tree: float) -> Split:
        base, last = self.base, self.last
        supervisor = last.get("supervisor", 0.0) - base.get("supervisor", 0.0)
        server = last.get("fork_server", 0.0) - base.get("fork_server", 0.0)
        runners = last.get("runners", 0.0) - base.get("runners", 0.0)
        # What the last sample missed (the final runners, the shutdown) goes to the runners
        # when wait4's exact total of the tree says more was spent than was sampled.
        started = sum(base.get(k, 0.0) for k in ("supervisor", "fork_server", "runners"))
        runners += max(0.0, tree - started - supervisor - server - runners)
        postgres = sum(last.get(f"pg{pid}", first) - first for pid, first in self.backends.items())
        return Split(supervisor, server, runners, postgres)


FORK_CEILING = """
import gc, importlib, os, sys, time
for module in sys.argv[3:]:
    importlib.import_module(module)
gc.freeze()
n, in_flight = int(sys.argv[1]), int(sys.argv[2])
running = started = 0
began = time.perf_counter()
while started < n or running:
    while running < in_flight and started < n:
        if os.fork() == 0:
            os._exit(0)
        running += 1
        started += 1
    os.waitpid(-1, 0)
    running -= 1
seconds = time.perf_counter() - began
with open(f"/proc/{os.getpid()}/statm") as f:
    rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
print(n / seconds, rss / 1e6)
"""

# What the fork server imports for the benchmark's job types (runner.forkserver brings
# runner.bootstrap and the rest of runner/; benchlib.handlers is the configured preload).
SERVER_MODULES = ("runner.forkserver", "runner.diag", "benchlib.handlers", "setproctitle")


def fork_ceiling(in_flight: int, cycles: int) -> tuple[float, float]:
    """Forks per second (fork + _exit + waitpid, `in_flight` children at once) of a fresh
    Python that imported what the fork server imports; and that process's RSS in MB."""
    argv = [sys.executable, "-c", FORK_CEILING, str(cycles), str(in_flight), *SERVER_MODULES]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    rate, rss = out.split()
    return float(rate), float(rss)
