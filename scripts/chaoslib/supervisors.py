"""The chaos run's supervisors: `jobsup start` on a host of the run, restarted at will."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .hosts import Host, ns_pid
from .proxy import Proxy

JOBSUP = str(Path(sys.executable).with_name("jobsup"))
MAX_RETRIES = 3
START_MARK = "==== chaos: start"  # in the supervisor's log before each start

CONFIG = """\
[database]
statement_timeout = 5.0
connect_timeout = 2.0
pooler = "{pooler}"

[supervisor]
concurrency = {concurrency}
interval = {interval}
heartbeat_interval = {heartbeat}
stale_after = {stale_after}
drain_timeout = 3.0
kill_timeout = 1.0
job_types = ["chaos", "chaos_limited"]
state_dir = "{state_dir}"

[retry]
max_retries = {max_retries}
backoff_base = 0.2
backoff_max = 1.0

[limits]
memory_mb = 128
check_interval = 0.1
time_limit = 30.0

[logging]
level = "INFO"

[runner]
allow_root = true  # CI runs as root; the chaos is in the supervisor, not in privileges

[job_types.chaos]
handler = "runner.diag:chaos"

# The same jobs under a rate limit across all supervisors (issue 26): the run checks that no
# window of {rate_period:g} s ever held more than {rate_starts} starts.
[job_types.chaos_limited]
handler = "runner.diag:chaos"
rate_limit = "{rate_starts}/second"
"""
RATE_STARTS, RATE_PERIOD = 20, 1.0  # chaos_limited's rate_limit


@dataclass(frozen=True)
class Timers:
    """Short timers, so that every fault bites within the run."""

    heartbeat: float = 0.5
    stale_after: float = 4.0  # lease_timeout: its default, three quarters of it
    pooler: str = "none"  # --pgbouncer: its pool mode

    def config(self, state_dir: Path, concurrency: int, heartbeat: float, interval: float) -> str:
        return CONFIG.format(concurrency=concurrency, interval=interval, heartbeat=heartbeat,
                             stale_after=self.stale_after, state_dir=state_dir,
                             pooler=self.pooler, max_retries=MAX_RETRIES,
                             rate_starts=RATE_STARTS, rate_period=RATE_PERIOD)  # fmt: skip


@dataclass(frozen=True)
class Incarnation:
    """One start of a supervisor: its pid here and on its own host."""

    pid: int
    ns_pid: int
    started: float
    process: subprocess.Popen[bytes] = field(compare=False)


class Supervisor:
    """Supervisor number `index` of the run, on `host`, reaching PostgreSQL through `proxy`."""

    def __init__(self, index: int, host: Host, proxy: Proxy, directory: Path, timers: Timers,
                 concurrency: int) -> None:  # fmt: skip
        self.index = index
        self.name = f"s{index}"
        self.host = host
        self.proxy = proxy
        self.directory = directory / self.name
        self.directory.mkdir(parents=True)
        self.config_path = self.directory / "jobsup.toml"
        self.log_path = self.directory / "supervisor.log"
        self.timers = timers
        self.concurrency = concurrency
        self.lock = threading.Lock()  # held by the one fault acting on this supervisor
        self.current: Incarnation | None = None
        self.incarnations: list[Incarnation] = []
        self.expected_exit = False  # we stopped it: its exit is no anomaly
        self._ready = False
        self.env: dict[str, str] = {}  # more environment (--skew: libfaketime's)
        self.write_config(concurrency, timers.heartbeat, 2.0)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host.db_address}:{self.proxy.port}/chaos"

    def write_config(self, concurrency: int, heartbeat: float, interval: float) -> None:
        text = self.timers.config(self.directory / "state", concurrency, heartbeat, interval)
        temporary = self.config_path.with_suffix(".new")
        temporary.write_text(text)
        temporary.replace(self.config_path)  # a reload never reads half a file

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.url, **self.env}
        env.pop("JOBSUP_CONFIG", None)
        argv = self.host.command([JOBSUP, "start", "-c", str(self.config_path)], self.directory)
        with self.log_path.open("ab") as log:
            log.write(f"{START_MARK} at {time.time():.3f}\n".encode())
            log.flush()
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=self.directory,
                                       start_new_session=True)  # fmt: skip
        pid = self._jobsup_pid(process)
        self.current = Incarnation(pid, ns_pid(pid) or pid, time.time(), process)
        self.incarnations.append(self.current)
        self.expected_exit = False
        self._ready = False

    def _jobsup_pid(self, process: subprocess.Popen[bytes]) -> int:
        """The supervisor's own pid: the process itself, or nsenter's child on a netns host."""
        if self.host.init_pid is None:
            return process.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(process.pid).children()
                if children:
                    return children[0].pid
            time.sleep(0.01)
        return process.pid

    @property
    def pid(self) -> int | None:
        return self.current.pid if self.current and self.current.process.poll() is None else None

    def exit_code(self) -> int | None:
        """The current incarnation's exit code once it has ended (None: running)."""
        return None if self.current is None else self.current.process.poll()

    def signal(self, signum: int) -> bool:
        pid = self.pid
        if pid is None or self.current is None:
            return False
        launcher = self.current.process.pid
        if signum == signal.SIGCONT and launcher != pid:
            # nsenter stops itself when its child stops, and waits for a SIGCONT of its own.
            with contextlib.suppress(ProcessLookupError):
                os.kill(launcher, signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            return True
        return False

    def wait(self, timeout: float) -> int | None:
        if self.current is None:
            return None
        try:
            return self.current.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.expected_exit = True
        self.signal(signal.SIGCONT)  # a stopped process dies only once it runs
        self.signal(signal.SIGKILL)
        self.wait(10)

    def descendants(self) -> list[psutil.Process]:
        pid = self.pid
        if pid is None:
            return []
        try:
            return list(psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            return []

    def fork_server(self) -> psutil.Process | None:
        for process in self.descendants():
            with contextlib.suppress(psutil.Error):
                if title(process).startswith("jobsup: fork server"):
                    return process
        return None

    def ready(self) -> bool:
        """Did the current incarnation get up (its signal handlers installed, its loop run)?"""
        if self.current is None:
            return False
        if not self._ready:
            self._ready = any(" started: pid " in line for line in self._lines())
        return self._ready

    def log_tail(self, lines: int = 3) -> str:
        """The last lines the current incarnation logged, on one line."""
        return " | ".join(line.strip() for line in self._lines()[-lines:]) or "(nothing logged)"

    def logged_nothing(self) -> bool:
        """Whether the current incarnation has logged nothing yet (it is still starting)."""
        return not self._lines()

    def _lines(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        return text.rpartition(START_MARK)[2].splitlines()[1:]


def title(process: psutil.Process) -> str:
    """A process's title (setproctitle leaves the old argv slots empty)."""
    return " ".join(part for part in process.cmdline() if part)


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"  # Debian's faketime


def skew(supervisors: list[Supervisor], seconds: float) -> None:
    """Set the supervisors' wall clocks `seconds` ahead, behind, right, in turn (Debian's
    faketime: what `faketime -f +10m` sets, without its wrapper process)."""
    if not Path(LIBFAKETIME).exists():
        raise RuntimeError("--skew needs Debian's faketime (apt-get install faketime)")
    for sup, sign in zip(supervisors, itertools.cycle((1, -1, 0)), strict=False):
        if sign:
            sup.env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"{sign * seconds:+g}"}
