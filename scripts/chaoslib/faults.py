"""The faults of a chaos run, drawn at random, each logged with its time and healed.

A fault that acts on a supervisor holds that supervisor's lock, one on PostgreSQL the
database's, so two faults never fight over one target; at most `LONG_AT_ONCE` outages
(freezes, cuts, partitions, a stopped database) overlap. Outages last past `stale_after`.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from supervisor.db.connect import connect
from supervisor.errors import DatabaseError

from .check import Disturbances, Freeze
from .hosts import Network, ns_pid
from .postgres import Postgres
from .supervisors import Supervisor, Timers, title

LONG_AT_ONCE = 2
RESET = ("UPDATE processing_jobs SET status = 'pending', started_at = NULL "
         "WHERE status = 'processing' RETURNING id::text")  # fmt: skip
TERM_WAIT = 20.0  # drain_timeout + kill_timeout + writing outcomes, with room to spare
PROMPT_STOP = 10.0  # drain_timeout, kill_timeout, then kill_timeout to write outcomes, + slack


class FaultLog:
    """Timestamped lines on stdout and in the run directory."""

    def __init__(self, path: Path) -> None:
        self.start = time.time()
        self.path = path
        self.lock = threading.Lock()

    def __call__(self, message: str) -> None:
        line = f"{time.time() - self.start:8.2f}s {message}"
        with self.lock:
            print(line, flush=True)
            with self.path.open("a") as f:
                f.write(f"{time.time():.3f} {line}\n")


@dataclass
class Context:
    """What the faults act on, and what they leave for the verdict."""

    supervisors: list[Supervisor]
    postgres: Postgres
    network: Network
    timers: Timers
    rng: random.Random
    log: FaultLog
    heal: threading.Event = field(default_factory=threading.Event)  # set: end outages now
    db_lock: threading.Lock = field(default_factory=threading.Lock)
    long: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(LONG_AT_ONCE))
    disturbances: Disturbances = field(default_factory=Disturbances)
    anomalies: list[str] = field(default_factory=list)

    def outage(self) -> None:
        """Wait past stale_after, or until told to heal."""
        self.heal.wait(self.timers.stale_after + self.rng.uniform(1.0, 3.0))


# -- faults on one supervisor ----------------------------------------------------------------


def kill_supervisor(ctx: Context, sup: Supervisor) -> None:
    ctx.log(f"fault: SIGKILL supervisor {sup.name} (pid {sup.pid})")
    sup.kill()
    ctx.heal.wait(ctx.rng.uniform(0.0, 1.0))
    restart(ctx, sup)


def term_supervisor(ctx: Context, sup: Supervisor) -> None:
    ctx.log(f"fault: SIGTERM supervisor {sup.name} (pid {sup.pid}): drain")
    sup.expected_exit = True
    sent = time.monotonic()
    sup.signal(signal.SIGTERM)
    code = stop_after_term(ctx, sup, sent, "SIGTERM")
    ctx.log(f"       supervisor {sup.name} drained: exit code {code}")
    ctx.heal.wait(ctx.rng.uniform(0.0, 1.0))
    restart(ctx, sup)


def stop_after_term(ctx: Context, sup: Supervisor, sent: float, what: str) -> int | None:
    """Wait for `sup` to exit after the SIGTERM sent at `sent` (monotonic): promptly, with
    code 0, else an anomaly (and SIGKILL when it does not exit at all). Its exit code."""
    code = sup.wait(max(0.0, sent + TERM_WAIT - time.monotonic()))
    took = time.monotonic() - sent
    if code is None:
        ctx.anomalies.append(f"supervisor {sup.name}: still running {TERM_WAIT:g} s after "
                             f"{what}: {sup.log_tail()}")  # fmt: skip
        sup.kill()
    elif code == -signal.SIGTERM and sup.logged_nothing():
        pass  # still importing, before its handlers: Python's own exit; it claimed nothing
    elif code != 0:
        ctx.anomalies.append(f"supervisor {sup.name}: exit code {code} after {what}: "
                             f"{sup.log_tail()}")  # fmt: skip
    elif took > PROMPT_STOP:
        ctx.anomalies.append(f"supervisor {sup.name}: stopped {took:.1f} s after {what} (drain "
                             f"3 s, kill 1 s: {PROMPT_STOP:g} s at most)")  # fmt: skip
    return code


def stop_supervisor(ctx: Context, sup: Supervisor) -> None:
    incarnation = sup.current
    if incarnation is None or not sup.signal(signal.SIGSTOP):
        return
    start = time.time()
    ctx.log(f"fault: SIGSTOP supervisor {sup.name} (pid {incarnation.pid})")
    ctx.outage()
    sup.signal(signal.SIGCONT)
    freeze = Freeze(sup.host.hostname, incarnation.ns_pid, start, time.time(), incarnation.pid)
    ctx.disturbances.freezes.append(freeze)
    ctx.log(f"heal:  SIGCONT supervisor {sup.name}")


def kill_fork_server(ctx: Context, sup: Supervisor) -> None:
    server = sup.fork_server()
    if server is None:
        return
    ctx.log(f"fault: SIGKILL the fork server of {sup.name} (pid {server.pid})")
    key = (sup.host.hostname, ns_pid(server.pid) or server.pid)
    ctx.disturbances.server_kills[key] = time.time()
    with contextlib.suppress(psutil.Error):
        server.kill()


def reload_config(ctx: Context, sup: Supervisor) -> None:
    concurrency = max(1, sup.concurrency + ctx.rng.choice((-1, 0, 1)))
    heartbeat = ctx.rng.choice((ctx.timers.heartbeat, 0.8, 1.0))
    interval = ctx.rng.choice((1.0, 2.0, 5.0))
    sup.write_config(concurrency, heartbeat, interval)
    ctx.log(f"fault: SIGHUP {sup.name} with concurrency {concurrency}, heartbeat "
            f"{heartbeat:g} s, interval {interval:g} s")  # fmt: skip
    sup.signal(signal.SIGHUP)


def cut(mode: str) -> Callable[[Context, Supervisor], None]:
    def cut_connections(ctx: Context, sup: Supervisor) -> None:
        start = time.time()
        ctx.log(f"fault: proxy of {sup.name}: {mode}")
        sup.proxy.set(mode)
        ctx.outage()
        sup.proxy.set("pass")
        _cut_off(ctx, sup, start)
        ctx.log(f"heal:  proxy of {sup.name}: pass")

    cut_connections.__name__ = f"cut_{mode}"
    return cut_connections


def partition(ctx: Context, sup: Supervisor) -> None:
    side = ctx.rng.choice(("peer", "host"))
    where = "its own end" if side == "peer" else "this host's end"
    start = time.time()
    ctx.log(f"fault: link of {sup.host.hostname} ({sup.name}) down, at {where}")
    sup.host.set_link(False, side)
    ctx.outage()
    sup.host.set_link(True, side)
    _cut_off(ctx, sup, start)
    ctx.log(f"heal:  link of {sup.host.hostname} up")


def _cut_off(ctx: Context, sup: Supervisor, start: float) -> None:
    """Record that `sup` could not reach the database from `start` until now."""
    incarnation = sup.current
    if incarnation is not None:
        cut = Freeze(sup.host.hostname, incarnation.ns_pid, start, time.time(), incarnation.pid)
        ctx.disturbances.cuts.append(cut)


def restart(ctx: Context, sup: Supervisor) -> None:
    sup.start()
    ctx.log(f"       supervisor {sup.name} started (pid {sup.pid})")


# -- faults on PostgreSQL, on runners -------------------------------------------------------


def restart_database(mode: str) -> Callable[[Context], None]:
    def restart_postgres(ctx: Context) -> None:
        start = time.time()
        ctx.log(f"fault: restart PostgreSQL ({mode})")
        ctx.postgres.restart(mode)
        ctx.disturbances.outages.append((start, time.time()))
        ctx.log("       PostgreSQL up")

    restart_postgres.__name__ = f"restart_{mode}"
    return restart_postgres


def stop_database(ctx: Context) -> None:
    start = time.time()
    ctx.log("fault: stop PostgreSQL")
    ctx.postgres.stop("fast")
    ctx.outage()
    ctx.postgres.start()
    ctx.disturbances.outages.append((start, time.time()))
    ctx.log("heal:  PostgreSQL started")


def reset_processing(ctx: Context) -> None:
    """The original document's emergency command, run while the supervisors are at work."""
    try:
        conn = connect(ctx.postgres.url(), connect_timeout=2)
    except DatabaseError:
        return  # down (not one of our faults: the database lock is ours)
    try:
        with conn.cursor() as cur:
            cur.execute(RESET)
            reset = [job_id for (job_id,) in cur.fetchall()]
    finally:
        conn.close()
    now = time.time()
    for job_id in reset:
        ctx.disturbances.resets.setdefault(job_id, []).append(now)
    ctx.log(f"fault: the operator's reset SQL: {len(reset)} processing jobs back to pending")


def kill_runners(ctx: Context) -> None:
    runners = [p for sup in ctx.supervisors for p in sup.descendants() if _is_runner(p)]
    chosen = ctx.rng.sample(runners, min(len(runners), ctx.rng.randint(1, 3)))
    for process in chosen:
        with contextlib.suppress(psutil.Error):
            name = title(process)
            process.kill()
            ctx.log(f"fault: SIGKILL {name} (pid {process.pid})")


def _is_runner(process: psutil.Process) -> bool:
    try:
        return title(process).startswith("jobsup: runner ")
    except psutil.Error:
        return False


# -- the draw --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    weight: float
    on_supervisor: Callable[[Context, Supervisor], None] | None = None
    on_database: Callable[[Context], None] | None = None
    other: Callable[[Context], None] | None = None
    long: bool = False
    netns: bool = False  # only where supervisors are hosts of their own

    @property
    def name(self) -> str:
        action = self.on_supervisor or self.on_database or self.other
        assert action is not None
        return action.__name__


FAULTS = [
    Fault(3.0, other=kill_runners),
    Fault(2.0, on_supervisor=kill_supervisor),
    Fault(1.5, on_supervisor=kill_fork_server),
    Fault(1.5, on_supervisor=term_supervisor),
    Fault(1.5, on_supervisor=reload_config),
    Fault(1.0, on_supervisor=stop_supervisor, long=True),
    Fault(0.7, on_supervisor=cut("refuse"), long=True),
    Fault(0.7, on_supervisor=cut("blackhole"), long=True),
    Fault(0.7, on_supervisor=cut("freeze"), long=True),
    Fault(1.0, on_supervisor=partition, long=True, netns=True),
    Fault(0.5, on_database=restart_database("fast")),
    Fault(0.5, on_database=restart_database("immediate")),
    Fault(0.4, on_database=stop_database, long=True),
    Fault(0.3, on_database=reset_processing),
]


class Chaos:
    """Draws a fault every 0.3-1.5 s (in a thread of its own) until `stop`."""

    def __init__(self, ctx: Context, netns: bool, exclude: set[str]) -> None:
        self.ctx = ctx
        self.faults = [f for f in FAULTS if (netns or not f.netns) and f.name not in exclude]
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._draw, name="chaos", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop drawing, heal every outage now, wait for the faults under way."""
        self.ctx.heal.set()
        self.thread.join()
        for thread in self.threads:
            thread.join()

    def _draw(self) -> None:
        rng = self.ctx.rng
        while not self.ctx.heal.wait(rng.uniform(0.3, 1.5)):
            fault = rng.choices(self.faults, [f.weight for f in self.faults])[0]
            self._try(fault)
            self.threads = [t for t in self.threads if t.is_alive()]

    def _try(self, fault: Fault) -> None:
        """Start `fault` in a thread if its target is free; else skip this draw."""
        if fault.long and not self.ctx.long.acquire(blocking=False):
            return
        locks: list[threading.Lock] = []
        target: Callable[[], None]
        if fault.on_supervisor is not None:
            sup = self._free_supervisor()
            if sup is None:
                return self._release(fault, locks)
            locks.append(sup.lock)
            target = _bind(fault.on_supervisor, self.ctx, sup)
        elif fault.on_database is not None:
            if not self.ctx.db_lock.acquire(blocking=False):
                return self._release(fault, locks)
            locks.append(self.ctx.db_lock)
            target = _bind_db(fault.on_database, self.ctx)
        else:
            assert fault.other is not None
            target = _bind_db(fault.other, self.ctx)
        thread = threading.Thread(target=self._run, args=(fault, target, locks), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _free_supervisor(self) -> Supervisor | None:
        candidates = list(self.ctx.supervisors)
        self.ctx.rng.shuffle(candidates)
        for sup in candidates:
            if sup.lock.acquire(blocking=False):
                if sup.pid is not None and sup.ready():
                    return sup
                sup.lock.release()
        return None

    def _run(self, fault: Fault, target: Callable[[], None], locks: list[threading.Lock]) -> None:
        try:
            target()
        except Exception as e:  # a fault that could not be made is the harness's problem
            self.ctx.anomalies.append(f"harness: fault {target.__name__} failed: {e}")
            self.ctx.log(f"fault {target.__name__} failed: {e}")
        finally:
            self._release(fault, locks)

    def _release(self, fault: Fault, locks: list[threading.Lock]) -> None:
        for lock in locks:
            lock.release()
        if fault.long:
            self.ctx.long.release()


def _bind(action: Callable[[Context, Supervisor], None], ctx: Context,
          sup: Supervisor) -> Callable[[], None]:  # fmt: skip
    def bound() -> None:
        action(ctx, sup)

    bound.__name__ = action.__name__
    return bound


def _bind_db(action: Callable[[Context], None], ctx: Context) -> Callable[[], None]:
    def bound() -> None:
        action(ctx)

    bound.__name__ = action.__name__
    return bound
