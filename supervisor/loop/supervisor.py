"""The supervisor: one loop, one selector, and a body that reads like a sentence.

wait (signal | runner pipe | database answer | timer)
→ handle signals → reap exited runners → talk to the database (one request at a time, on
its own thread: write outcomes and claim, heartbeat, ownership) → fence itself when its
lease is lost → enforce limits → show the state

The loop never blocks on the network: the database thread does (loop/database.py). Its
parts each own one seam and return what the loop acts on: Session (the connection's life),
Claims (write and claim: the jobs to start), Heartbeat (the beat and the lease: the runners
to kill), the Pool (runners/pool.py: start, read, reap, limits), Drain (whether it still
claims, and when the runners are ended), Surroundings (what it runs inside: signal handlers,
dashboard, fork server, database thread; set up and taken down), reload (SIGHUP), Keeper
(the outcomes kept on disk through a stop), WriteRefusal (a database that refuses writes).
"""

from __future__ import annotations

import dataclasses
import select
import selectors
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from loguru import logger

from runner.parent import ForkServer
from supervisor import logs
from supervisor.config import Config, Overrides, caps, rates
from supervisor.db import schema
from supervisor.db.connect import Connection
from supervisor.errors import describe, refuses_writes
from supervisor.identity import Identity
from supervisor.loop.claim_timing import ClaimTiming
from supervisor.loop.claims import Brought, Claims
from supervisor.loop.database import Cancelled, Database, Done
from supervisor.loop.drain import Drain, State
from supervisor.loop.heartbeat import Heartbeat
from supervisor.loop.kept_outcomes import Keeper
from supervisor.loop.lifecycle import Surroundings
from supervisor.loop.reload import reload
from supervisor.loop.session import CheckOwned, Connected, Session
from supervisor.loop.signals import SignalQueue
from supervisor.loop.talk import Talk
from supervisor.loop.telemetry import Telemetry, set_title
from supervisor.loop.write_refusal import WriteRefusal
from supervisor.metrics import MetricsServer
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.messages import Updates
from supervisor.runners.pool import Pool, log_counts
from supervisor.runners.state import KillReason, Runner
from supervisor.scheduling import periodic
from supervisor.store import statements as store
from supervisor.store import upkeep
from supervisor.store import write_and_claim as turn

EXIT_OK = 0
EXIT_JOBS_FAILED = 4  # a batch run (--max-jobs, --until-empty) in which some job ended failed


@dataclass(frozen=True)
class RunOptions:
    max_jobs: int | None = None
    until_empty: bool = False
    job_types: tuple[str, ...] = ()  # --job-type; (): the configured [supervisor] job_types
    log_level: str | None = None
    overrides: Overrides = field(default_factory=dict)


class Supervisor:
    def __init__(
        self, config: Config, options: RunOptions, url: str, forkserver: ForkServer | None = None
    ) -> None:
        """`forkserver`: the one the preflight started, for the pool to keep."""
        self.config = config
        self.options = options
        self.me = Identity.new()
        self.slots = config.supervisor.slots
        self.drain = Drain()
        self.selector = selectors.DefaultSelector()
        self.signals = SignalQueue()
        if forkserver is not None:
            forkserver.attach(self.selector)
        self.pool = Pool(config, self.selector, self.me, options.log_level, self.job_types,
                         spawner=forkserver)  # fmt: skip
        name = f"jobsup job_cron supervisor {self.me.host} {self.me.pid}"
        self.listen = listens(config)
        self.db = Database(url, config.database, self.listen, self._on_connect, name)
        self.outside = Surroundings(self.db, self.signals, self.selector)
        self.session = Session(self.me.id, config.supervisor.stale_after)
        self.claims = Claims(self.me.id, ClaimTiming(config.supervisor.interval))
        self.heartbeat = Heartbeat(config, self.me, self._schedules(config))
        self.keeper = Keeper(config.state_dir)  # outcomes a stopped supervisor could not write
        self.refusal = WriteRefusal()  # a database that answers but refuses writes
        self.registered = False  # the last connection registered (set on the database thread)
        self.talk = Talk(self.db, self.session, self.claims, self.heartbeat, self.keeper,
                         self.refusal)  # fmt: skip
        self.next_sample = 0.0
        self.telemetry = Telemetry(config, self.selector)

    @property
    def job_types(self) -> tuple[str, ...]:
        """The job types to claim: those this supervisor can run (`Config.served`)."""
        return self.config.served(self.options.job_types)

    # -- life ------------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until drained; the process exit code."""
        try:
            self._start()
        except Cancelled:
            logger.info("stop signal before the database answered: stopped")
            return EXIT_OK
        try:
            while self.drain.running or self.pool:
                self._tick()
        finally:
            self._stop()
        batch = self.options.max_jobs or self.options.until_empty
        return EXIT_JOBS_FAILED if batch and self.pool.counts.failed else EXIT_OK

    def _start(self) -> None:
        self.outside.install_signals()
        set_title(self._config_name, 0, self.slots, self.drain.state.value)  # pkill -f job_cron.py
        self.outside.open(self.config, self.pool, self.keeper)
        self._connected(self.session.connected_to(self.db.connection_number, time.monotonic()))
        types = ", ".join(self.job_types) or "none"
        sup = self.config.supervisor
        wake = "LISTEN/NOTIFY" if self.listen else "polling only"
        logger.info(
            "supervisor {} started: pid {}, {} slots, job types: {}; {}, poll every {:g} s",
            self.me.id, self.me.pid, self.slots, types, wake, sup.interval,
        )  # fmt: skip
        self.telemetry.ready(self.drain.state.value, len(self.pool), self.slots)

    def _on_connect(self, conn: Connection) -> None:
        """On the database thread, on each new connection: check, (re)register, prepare."""
        schema.require_current(conn)
        self.registered = True
        try:
            store.register(conn, self.me, self.slots, self.job_types, self._config_name)
        except psycopg2.Error as e:
            if conn.closed or not refuses_writes(e):
                raise
            self.registered = False
            # Read-only (a standby, disk full): no crash loop; the heartbeat says it, and
            # registers once writes go through.
        if self.config.database.pooler != "transaction":  # no session to keep them in
            store.prepare(conn)

    def _tick(self) -> None:
        self._wait(self._timeout(time.monotonic()))
        now = time.monotonic()
        self._handle_signals(now)
        running = len(self.pool)
        self.claims.concluded(now, self.pool.reap())
        if self.drain.batch_done(self.options.max_jobs, self.pool.counts.ended):
            self._drain(f"--max-jobs {self.options.max_jobs} reached: stopping")
        if running and not self.pool and (self.options.until_empty or self.options.max_jobs):
            self.claims.timing.want()  # the claim finds out whether the queue is empty
        self._talk(now)
        self._fence(now)
        self._enforce_limits(time.monotonic())  # after the claim: a new job waits for no sample
        set_title(self._config_name, len(self.pool), self.slots, self.drain.state.value)
        self.telemetry.tick(now, len(self.pool), self.slots)

    def _stop(self) -> None:
        """End the runners, write what waits, deregister, close."""
        self.telemetry.stopping(State.DRAINING.value, len(self.pool), self.slots)
        self.outside.stop_dashboard()
        self.pool.kill_all()  # no-op after a drain; after an unexpected error, no orphans
        while self.pool:
            self.pool.reap()
            time.sleep(0.01)
        self.pool.sweep()
        deadline = time.monotonic() + self.config.supervisor.kill_timeout
        self._finish_request(deadline)
        self.claims.unwritten += self.pool.reap()  # jobs claimed by the last request, not started
        self.claims.write_last(self.db, deadline, self.pool.updates(time.monotonic()))
        self.keeper.keep(self.me.id, self.claims.unwritten)
        self.telemetry.close()
        self.outside.close(self.me)
        log_counts(self.pool.counts)

    def _finish_request(self, deadline: float) -> None:
        """Wait for the request in flight, and take its answer (the outcomes it wrote)."""
        while not self.db.idle and time.monotonic() < deadline:
            self.db.overdue(time.monotonic())
            select.select([self.db.fileno()], [], [], max(0.0, deadline - time.monotonic()))
            self._take_events()

    # -- waiting ---------------------------------------------------------------------------

    def _timeout(self, now: float) -> float:
        deadlines = []
        if self.db.in_flight is not None:  # its answer wakes the loop; its deadline too
            deadlines.append(self.db.in_flight.deadline)
        elif not self.session.connected:
            deadlines.append(self.session.retry_at)
        elif self._writes_now(now):
            return 0.0
        else:
            if self.keeper.deadline() is not None:
                deadlines.append(self.keeper.retry_at)
            deadlines.append(self.heartbeat.next_at)
            if not self.refusal.active:
                deadlines.append(self.pool.progress_deadline())
            if self._may_claim():
                deadlines.append(self.claims.timing.deadline())
        if self.pool and not self.heartbeat.fenced:
            deadlines.append(self.heartbeat.lease_deadline())
        if self.pool or self.pool.orphans_possible:
            deadlines.append(self.next_sample)
        if self.drain.deadline is not None:
            deadlines.append(self.drain.deadline)
        watchdog = self.telemetry.deadline()
        if watchdog is not None:
            deadlines.append(watchdog)
        return max(0.0, min(deadlines) - now)

    def _wait(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            if isinstance(key.data, Runner):
                self.pool.read(key.data, key.fd)
            elif key.data is self.db:
                self._take_events()
            elif isinstance(key.data, MetricsServer):
                self.telemetry.handle(key.fd, events)

    # -- signals ---------------------------------------------------------------------------

    def _handle_signals(self, now: float) -> None:
        for signum in self.signals.pop_all():
            getattr(self, f"handle_{signum.name[3:].lower()}")(now)

    def handle_term(self, now: float) -> None:
        if self.drain.running:
            timeout = self.config.supervisor.drain_timeout
            self._drain(f"stop signal: draining {len(self.pool)} runners (up to {timeout:g} s)",
                        now + timeout)  # fmt: skip
        else:  # a second one: skip the wait
            logger.warning("second stop signal: terminating {} runners now", len(self.pool))
            self._terminate_all(now)

    handle_int = handle_term

    def handle_quit(self, now: float) -> None:
        self._drain(f"SIGQUIT: killing {len(self.pool)} runners, stopping now")
        self.pool.kill_all()

    def handle_hup(self, now: float) -> None:
        """Reload the config file; running jobs keep the limits they started with."""
        self.telemetry.reloading()
        new = reload(self.config, self.options.overrides, self.options.job_types)
        if new is not None:
            self._reconfigure(new)
            logger.info("SIGHUP: configuration reloaded ({} slots, job types: {})", self.slots,
                        ", ".join(self.job_types) or "none")  # fmt: skip
        self.telemetry.ready(self.drain.state.value, len(self.pool), self.slots)

    def _reconfigure(self, new: Config) -> None:
        self.config = new
        self.pool.configure(new, self.job_types)
        self.slots = new.supervisor.slots
        self.claims.timing.interval = new.supervisor.interval
        self.telemetry.reconfigure(new)
        self.heartbeat.reconfigure(new, self._schedules(new))
        logs.configure(new.logging, new.state_dir, self.options.log_level)
        self.claims.timing.want()

    def handle_ttin(self, now: float) -> None:
        self.slots += 1
        self.claims.timing.want()
        logger.info("SIGTTIN: {} slots", self.slots)

    def handle_ttou(self, now: float) -> None:
        self.slots = max(1, self.slots - 1)
        logger.info("SIGTTOU: {} slots", self.slots)

    def handle_chld(self, now: float) -> None:
        pass  # waking up was the point: every tick reaps

    def _drain(self, why: str, deadline: float | None = None) -> None:
        self.drain.begin(why, deadline)
        self.telemetry.stopping(self.drain.state.value, len(self.pool), self.slots)

    def _terminate_all(self, now: float) -> None:
        self.drain.deadline = None
        self.pool.terminate_all(now)

    # -- limits and the lease --------------------------------------------------------------

    def _enforce_limits(self, now: float) -> None:
        if self.drain.overdue(now, len(self.pool)):
            self.pool.terminate_all(now)
        self.pool.enforce(now)
        if (self.pool or self.pool.orphans_possible) and now >= self.next_sample:
            self.pool.sample()
            self.next_sample = now + self.pool.check_interval()

    def _fence(self, now: float) -> None:
        detail = self.heartbeat.fence(now, len(self.pool))
        if detail is not None:
            self.pool.kill_all(KillReason.LEASE, detail)

    # -- the database ----------------------------------------------------------------------

    def _may_claim(self) -> bool:
        free = self.slots - len(self.pool)
        running = self.drain.running and not self.refusal.active
        return running and not self.heartbeat.fenced and free > 0

    def _talk(self, now: float) -> None:
        self.talk.next(now, self._claim_ask, self._beat, self.pool.claims, self._reported)

    def _reported(self, now: float) -> Updates | None:
        """What the runners reported that is to be written now (progress, steps), if any."""
        return self.pool.updates(now) if self._updates_due(now) else None

    def _writes_now(self, now: float) -> bool:
        """Something to send the database at once: outcomes, an ownership check asked for,
        outcomes kept from the last stop, progress or steps."""
        return (self.talk.writes_wait() or self.heartbeat.check_owned or self.keeper.due(now)
                or self._updates_due(now))  # fmt: skip

    def _updates_due(self, now: float) -> bool:
        """Progress or steps to write (none while the database refuses writes: the heartbeat
        learns when it takes them again, as for outcomes)."""
        return self.pool.updates_due(now) and not self.refusal.active

    def _beat(self, now: float) -> upkeep.Beat:
        unwritten = {o.job_id: o.lease for o in self.claims.unwritten}
        return self.heartbeat.beat(
            now, self.pool.snapshot(now), unwritten, self.drain.state.value, self.slots,
            self.job_types, self._config_name, self.session.watched(now),
            self.telemetry.wants_queue(now),
        )  # fmt: skip

    def _claim_ask(self, now: float) -> turn.Ask | None:
        if not self._may_claim():
            return None
        free = self.slots - len(self.pool)
        if self.options.max_jobs:  # those running may all end and count: no more
            free = min(free, self.options.max_jobs - self.pool.counts.ended - len(self.pool))
        check_empty = bool(self.options.until_empty) and not self.pool and not self.claims.unwritten
        return self.claims.ask(now, free, list(self.pool.claims()), self.job_types, check_empty,
                               self.config.retry.backoff_max,
                               caps(self.config, self.job_types),
                               rates(self.config, self.job_types))  # fmt: skip

    def _take_events(self) -> None:
        now = time.monotonic()
        for notice in self.session.notices(self.db.events(), now):
            if isinstance(notice, Done):
                self._answered(notice)
            elif isinstance(notice, Connected):
                self._connected(notice)
            elif isinstance(notice, CheckOwned):
                self.heartbeat.check_owned = True
            elif self._serves(notice.job_type):
                logs.event("notify").debug("pending notification ({}): claiming",
                                           notice.job_type or "analysis")  # fmt: skip
                self.claims.timing.want()

    def _connected(self, connected: Connected) -> None:
        self.heartbeat.connected(connected.at, renewed=self.registered)
        self.claims.timing.want()

    def _answered(self, done: Done[Any]) -> None:
        """The answer to the request in flight, acted on: jobs to start, runners to kill."""
        now = time.monotonic()
        heard = self.talk.answered(done, now)
        if heard is None:  # kept results: the keeper took the answer
            return
        if isinstance(heard, Brought):
            if done.error is not None and refuses_writes(done.error):
                self.refusal.refused(now, describe(done.error), len(self.pool),
                                     len(self.claims.unwritten))  # fmt: skip
            self._brought(heard, now)
            return
        for kill in heard.kills:
            self.pool.kill_claim(kill.job_id, kill.lease, kill.reason, kill.detail)
        if heard.refused is not None:
            waiting = len(self.claims.unwritten)
            self.refusal.refused(now, heard.refused, len(self.pool), waiting)
        elif heard.found is not None and heard.found.renewed and self.refusal.accepted(now):
            self.session.since = now  # judge peers' silence only after stale_after of writes
            self.keeper.retry_at = now
            heard = dataclasses.replace(heard, claim_again=True)
        if heard.claim_again:
            self.claims.timing.want()
        if heard.found is not None:
            self.telemetry.heartbeat(heard.sent, self.drain.state.value, len(self.pool), self.slots,
                                     heard.found.queue)  # fmt: skip

    def _brought(self, brought: Brought, now: float) -> None:
        if brought.updates:
            self.pool.written(brought.updates, brought.steps)
        # An answer held up past the lease deadline (a frozen network that delivers it late)
        # brings claims peers may have reclaimed already: fence first, start none of them.
        self._fence(now)
        for job in brought.jobs:
            if self.heartbeat.fenced and isinstance(job, ClaimedJob):
                self.pool.forgo(job, "lease lost before the claim's answer came: not started")
            else:
                self.pool.start(job, now)
        idle = not self.pool and not self.claims.unwritten
        if brought.wrote and self.options.until_empty and idle:
            self.claims.timing.want()  # all written, nothing runs: the next claim says if empty
        if brought.empty and idle:
            self._drain("--until-empty: the queue is empty")

    def _serves(self, job_type: str) -> bool:
        if job_type == "*":  # `jobsup resume --all`
            return True
        return (job_type or "analysis") in self.job_types

    def _schedules(self, config: Config) -> list[periodic.Schedule]:
        """The periodic schedules to serve: those of the job types served (a slot's job is
        enqueued by a supervisor that can run it); none in a batch run (--max-jobs,
        --until-empty)."""
        batch = self.options.max_jobs or self.options.until_empty
        served = config.served(self.options.job_types)
        return [] if batch else [s for s in config.periodic.values() if s.job_type in served]

    @property
    def _config_name(self) -> str:
        return str(self.config.path) if self.config.path else "defaults"


def listens(config: Config) -> bool:
    """Whether wake-ups come by LISTEN: behind a transaction pooler only on a direct
    `[database] listen_url` (a notification needs a session of its own); said once if not."""
    if not config.supervisor.listen:
        return False
    if config.database.pooler == "transaction" and not config.database.listen_url:
        logger.warning("[database] pooler = \"transaction\" without listen_url: LISTEN needs a "
                       "session of its own, so wake-ups come by polling every {:g} s",
                       config.supervisor.interval)  # fmt: skip
        return False
    return True
