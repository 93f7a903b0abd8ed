"""The supervisor: one loop, one selector, and a body that reads like a sentence.

wait (signal | runner pipe | database answer | timer)
→ handle signals → reap exited runners → talk to the database (one request at a time, on
its own thread: write outcomes and claim, heartbeat, ownership) → fence itself when its
lease is lost → enforce limits → show the state

The loop never blocks on the network: the database thread does (`supervisor/database.py`).
"""

from __future__ import annotations

import enum
import select
import selectors
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import setproctitle
from loguru import logger

from runner import linux
from supervisor import (
    caps,
    config_rules,
    handler_modules,
    health,
    logs,
    periodic,
    schema,
    store,
    turn,
    upkeep,
)
from supervisor import config as configuration
from supervisor.claim_timing import ClaimTiming
from supervisor.config import Config, Overrides
from supervisor.database import MARGIN, Cancelled, Database, Done, Lost, Request, Unavailable
from supervisor.db import Backoff, Connection
from supervisor.errors import ConfigError, DatabaseError
from supervisor.identity import Identity
from supervisor.jobrow import Unusable
from supervisor.logs import job_logger
from supervisor.metrics import METRICS, MetricsServer
from supervisor.outcome import Outcome
from supervisor.pool import Pool, log_counts
from supervisor.retry_policy import retry_for
from supervisor.runner_state import KillReason, Runner
from supervisor.signals import SignalQueue
from supervisor.spawn import ForkServer
from supervisor.telemetry import Telemetry
from supervisor.web import process as web
from supervisor.writeback import Written

EXIT_OK = 0
EXIT_JOBS_FAILED = 4  # a batch run (--max-jobs, --until-empty) in which some job ended failed


class State(enum.Enum):
    RUNNING = "running"
    DRAINING = "draining"  # no more claims; the loop ends when the last runner has


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
        self.state = State.RUNNING
        self.drain_deadline: float | None = None
        self.selector = selectors.DefaultSelector()
        self.signals = SignalQueue()
        if forkserver is not None:
            forkserver.attach(self.selector)
        self.pool = Pool(config, self.selector, self.me, options.log_level, self.job_types,
                         spawner=forkserver)  # fmt: skip
        self.unwritten: list[Outcome] = []  # concluded, not yet stored
        name = f"jobsup job_cron supervisor {self.me.host} {self.me.pid}"
        self.db = Database(url, config.database, config.supervisor.listen, self._on_connect, name)
        self.connection = 0  # the number of the connection last seen; 0: none yet
        self.connected_since: float | None = None  # monotonic; None: not connected
        self.backoff = Backoff(base=0.5, maximum=30.0)
        self.retry_at = 0.0
        self.timing = ClaimTiming(config.supervisor.interval)
        self.next_heartbeat = 0.0
        self.check_owned = False  # a control notification asks for an ownership check now
        self.renewed = 0.0  # monotonic: when the last heartbeat that went through was sent
        self.fenced = False  # the lease is lost: no claims (and, by default, no runners)
        self.next_sample = 0.0
        self.telemetry = Telemetry(config, self.selector)
        self.timetable = periodic.Timetable(self._schedules(config), datetime.now(UTC))

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
            while not (self.state is State.DRAINING and not self.pool):
                self._tick()
        finally:
            self._stop()
        batch = self.options.max_jobs or self.options.until_empty
        return EXIT_JOBS_FAILED if batch and self.pool.counts.failed else EXIT_OK

    def _start(self) -> None:
        # First: a stop signal from now on is the loop's to handle, not Python's to die of.
        self.signals.install()
        _set_title(self._config_name, 0, self.slots, self.state)  # pkill -f job_cron.py: a drain
        handler_modules.check(self.config)
        self.web = web.start(self.config)  # [web] listen: the dashboard, a child process
        try:
            self.pool.warm_up()
        except OSError as e:
            logger.error("cannot start the fork server: {}; the first runner tries again", e)
        self.db.start()
        stop = (self.signals.fileno(), self.signals.stop_asked)
        try:
            self.db.call("connect", None, self._request_timeout(connecting=True), stop)
        except (Unavailable, Cancelled) as e:
            web.stop(self.web)
            self.pool.forkserver.close()
            self.db.close()
            self.signals.uninstall()
            if isinstance(e, Cancelled):
                raise
            raise DatabaseError(str(e)) from None
        self._connected(time.monotonic(), self.db.connection_number)
        # Orphans of a runner's tree re-parent to us rather than to init: still ours to kill.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, self.signals)
        self.selector.register(self.db.fileno(), selectors.EVENT_READ, self.db)
        types = ", ".join(self.job_types) or "none"
        sup = self.config.supervisor
        wake = "LISTEN/NOTIFY" if sup.listen else "polling only"
        logger.info(
            "supervisor {} started: pid {}, {} slots, job types: {}; {}, poll every {:g} s",
            self.me.id, self.me.pid, self.slots, types, wake, sup.interval,
        )  # fmt: skip
        self.telemetry.ready(self.state.value, len(self.pool), self.slots)

    def _on_connect(self, conn: Connection) -> None:
        """On the database thread, on each new connection: check, (re)register, prepare."""
        schema.require_current(conn)
        store.register(conn, self.me, self.slots, self.job_types, self._config_name)
        store.prepare(conn)

    def _tick(self) -> None:
        self._wait(self._timeout(time.monotonic()))
        now = time.monotonic()
        self._handle_signals(now)
        running = len(self.pool)
        ended = self.pool.reap()
        self.unwritten += ended
        self.timing.concluded(now, ended)
        if running and not self.pool and (self.options.until_empty or self.options.max_jobs):
            self.timing.want()  # the claim finds out whether the queue is empty
        self._talk(now)
        self._fence(now)
        self._enforce_limits(time.monotonic())  # after the claim: a new job waits for no sample
        _set_title(self._config_name, len(self.pool), self.slots, self.state)
        self.telemetry.tick(now, len(self.pool), self.slots)

    def _stop(self) -> None:
        self.telemetry.stopping(State.DRAINING.value, len(self.pool), self.slots)
        web.stop(self.web)
        self.pool.kill_all()  # no-op after a drain; after an unexpected error, no orphans
        while self.pool:
            self.pool.reap()
            time.sleep(0.01)
        self.pool.sweep()
        deadline = time.monotonic() + self.config.supervisor.kill_timeout
        self._finish_request(deadline)
        self._write_last_outcomes(deadline)
        try:
            self.db.call("deregister", partial(store.deregister, me=self.me), 2.0)
        except Exception as e:  # a stopping supervisor reports and goes: its row goes stale
            logger.warning("could not deregister: {}", e)
        self.db.close()
        self.signals.uninstall()
        self.telemetry.close()
        self.selector.close()
        log_counts(self.pool.counts)

    def _finish_request(self, deadline: float) -> None:
        """Wait for the request in flight, and take its answer (the outcomes it wrote)."""
        while not self.db.idle and time.monotonic() < deadline:
            self.db.overdue(time.monotonic())
            select.select([self.db.fileno()], [], [], max(0.0, deadline - time.monotonic()))
            self._take_events()

    def _write_last_outcomes(self, deadline: float) -> None:
        self.unwritten += self.pool.reap()  # jobs claimed by the last request, not started
        while self.unwritten and time.monotonic() < deadline:
            batch, self.unwritten = self.unwritten, []
            action = partial(turn.run, worker_id=self.me.id, outcomes=batch, ask=None)
            try:
                written = self.db.call("write", action, max(0.1, deadline - time.monotonic()))
            except Unavailable:
                self.unwritten = batch + self.unwritten
                time.sleep(0.2)
                continue
            except Exception as e:
                logger.error("writing the last results failed: {}", e)
                self.unwritten = batch + self.unwritten
                break
            self._report_written(batch, written.written)
        if self.unwritten:
            logger.error(
                "{} results not written (database unreachable): those jobs will be reclaimed",
                len(self.unwritten),
            )

    # -- waiting ---------------------------------------------------------------------------

    def _timeout(self, now: float) -> float:
        deadlines = []
        if self.db.in_flight is not None:  # its answer wakes the loop; its deadline too
            deadlines.append(self.db.in_flight.deadline)
        elif not self.connected:
            deadlines.append(self.retry_at)
        elif self.unwritten or self.check_owned:
            return 0.0
        else:
            deadlines.append(self.next_heartbeat)
            if self._may_claim():
                deadlines.append(self.timing.deadline())
        if self.pool and not self.fenced:
            deadlines.append(self.renewed + self.config.supervisor.lease_after)
        if self.pool or self.pool.orphans_possible:
            deadlines.append(self.next_sample)
        if self.drain_deadline is not None:
            deadlines.append(self.drain_deadline)
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
        if self.state is State.RUNNING:
            timeout = self.config.supervisor.drain_timeout
            self.drain_deadline = now + timeout
            self._drain(f"stop signal: draining {len(self.pool)} runners (up to {timeout:g} s)")
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
        try:
            new = configuration.load(self.config.path, self.options.overrides)
            handler_modules.check(new)
            _check_chosen(self.options.job_types, new)
        except ConfigError as e:
            logger.error("SIGHUP: {}; keeping the running configuration", e)
            self.telemetry.ready(self.state.value, len(self.pool), self.slots)
            return
        if new.database.url != self.config.database.url:
            logger.warning("SIGHUP: the database URL changed; restart to use the new one")
        self.config = new
        self.pool.configure(new, self.job_types)
        self.slots = new.supervisor.slots
        self.timing.interval = new.supervisor.interval
        self.telemetry.overdue = health.overdue(new.supervisor)
        self.timetable.reload(self._schedules(new), datetime.now(UTC))
        logs.configure(new.logging, new.state_dir, self.options.log_level)
        self.timing.want()
        logger.info("SIGHUP: configuration reloaded ({} slots, job types: {})", self.slots,
                    ", ".join(self.job_types) or "none")  # fmt: skip
        self.telemetry.ready(self.state.value, len(self.pool), self.slots)

    def handle_ttin(self, now: float) -> None:
        self.slots += 1
        self.timing.want()
        logger.info("SIGTTIN: {} slots", self.slots)

    def handle_ttou(self, now: float) -> None:
        self.slots = max(1, self.slots - 1)
        logger.info("SIGTTOU: {} slots", self.slots)

    def handle_chld(self, now: float) -> None:
        pass  # waking up was the point: every tick reaps

    def _drain(self, why: str) -> None:
        self.state = State.DRAINING
        logger.info(why)
        self.telemetry.stopping(self.state.value, len(self.pool), self.slots)

    def _terminate_all(self, now: float) -> None:
        self.drain_deadline = None
        self.pool.terminate_all(now)

    # -- limits and the lease --------------------------------------------------------------

    def _enforce_limits(self, now: float) -> None:
        if self.drain_deadline is not None and now >= self.drain_deadline:
            logger.warning("drain timeout: terminating {} runners", len(self.pool))
            self._terminate_all(now)
        self.pool.enforce(now)
        if (self.pool or self.pool.orphans_possible) and now >= self.next_sample:
            self.pool.sample()
            self.next_sample = now + self.pool.check_interval()

    def _fence(self, now: float) -> None:
        """A supervisor whose heartbeat has not gone through for `lease_after` seconds may
        soon be declared dead by its peers: it stops claiming and, unless told to let them
        finish, kills its runners before those peers may reclaim their jobs."""
        silent = now - self.renewed
        lease_after = self.config.supervisor.lease_after
        if self.fenced or silent < lease_after:
            return
        self.fenced = True
        if self.config.supervisor.on_lost_lease == "finish" or not self.pool:
            logger.error("no heartbeat went through for {:.0f} s (lease_timeout {:g} s): "
                         "claiming nothing until one does", silent, lease_after)  # fmt: skip
            return
        logger.error("no heartbeat went through for {:.0f} s (lease_timeout {:g} s): killing "
                     "{} runners before peers may reclaim their jobs",
                     silent, lease_after, len(self.pool))  # fmt: skip
        detail = f"lease lost: no heartbeat went through for {silent:.0f} s; runner killed"
        self.pool.kill_all(KillReason.LEASE, detail)

    # -- the database ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connected_since is not None

    def _may_claim(self) -> bool:
        free = self.slots - len(self.pool)
        return self.state is State.RUNNING and not self.fenced and free > 0

    def _talk(self, now: float) -> None:
        """Give the database thread its next request, if it has none."""
        late = self.db.overdue(now)
        if late is not None:
            logger.warning("the database did not answer ({}) in time: dropping the connection",
                           late.name)  # fmt: skip
        if not self.db.idle:
            return
        request = self._next_request(now)
        if request is not None:
            self.db.submit(request, now)

    def _next_request(self, now: float) -> Request | None:
        if not self.connected:
            return Request("connect", None, self._on_done) if now >= self.retry_at else None
        # A heartbeat due goes before claims: after a freeze, learn what is still ours first.
        ask = self._claim_ask(now) if now < self.next_heartbeat else None
        if self.unwritten or ask is not None:
            return self._turn_request(ask)
        if now >= self.next_heartbeat:
            return self._heartbeat_request(now)
        if self.check_owned:
            self.check_owned = False
            claims = self.pool.claims()
            if claims:
                action = partial(store.owned, worker_id=self.me.id, claims=claims)
                return Request("ownership check", action, partial(self._on_owned, claims))
        return None

    def _on_done(self, done: Done) -> None:
        """The common end of every request: the connection it found, or its loss."""
        if isinstance(done.error, Unavailable):
            self._lost(str(done.error))
        elif done.connection and done.connection != self.connection:
            self._connected(time.monotonic(), done.connection)

    def _take_events(self) -> None:
        for event in self.db.events():
            if isinstance(event, Done):
                self._on_done(event)
                if event.request.on_done is not self._on_done:
                    event.request.on_done(event)
            elif isinstance(event, Lost):
                self._lost(event.reason)
            else:
                self._notified(event.channel, event.payload)

    def _connected(self, now: float, number: int) -> None:
        if self.connection:
            METRICS.reconnected()
            logger.success("database connection re-established")
        self.connection = number
        self.connected_since = now
        self.backoff.reset()
        self.renewed = max(self.renewed, now)  # on_connect registered: as good as a heartbeat
        self.timing.want()
        self.next_heartbeat = now

    def _lost(self, why: str) -> None:
        """No connection: `why` is how it was lost, or why it could not be made."""
        delay = self.backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        was = "database connection lost: " if self.connected else ""
        self.connected_since = None
        logger.warning("{}{}; retrying in {:.1f} s", was, why, delay)

    def _notified(self, channel: str, payload: str) -> None:
        if channel == "jobsup_control" and payload == self.me.id:
            logs.event("notify").debug("control notification: checking which jobs are still ours")
            self.check_owned = True
        elif channel == "jobsup_pending" and self._serves(payload):
            logs.event("notify").debug("pending notification ({}): claiming", payload or "analysis")
            self.timing.want()

    def _serves(self, job_type: str) -> bool:
        if job_type == "*":  # `jobsup resume --all`
            return True
        return (job_type or "analysis") in self.job_types

    def _request_timeout(self, connecting: bool = False) -> float:
        db = self.config.database
        return (db.connect_timeout if connecting else 0.0) + db.statement_timeout + MARGIN

    # -- write and claim -------------------------------------------------------------------

    def _claim_ask(self, now: float) -> turn.Ask | None:
        if not self._may_claim() or not self.timing.due(now):
            return None
        free = self.slots - len(self.pool)
        if self.options.max_jobs:
            free = min(free, self.options.max_jobs - self.pool.counts.started)
        if free <= 0:
            return None
        check_empty = self.options.until_empty and not self.pool and not self.unwritten
        return turn.Ask(free, self.job_types, list(self.pool.claims()), check_empty,
                        self.config.retry.backoff_max,
                        caps.caps(self.config, self.job_types))  # fmt: skip

    def _turn_request(self, ask: turn.Ask | None) -> Request:
        batch, self.unwritten = self.unwritten, []
        action = partial(turn.run, worker_id=self.me.id, outcomes=batch, ask=ask)
        name = "claim" if not batch else "write-back" if ask is None else "write-back and claim"
        sent = time.monotonic()
        return Request(name, action, partial(self._on_turn, batch, ask, sent, self.timing.wants))

    def _on_turn(self, batch: list[Outcome], ask: turn.Ask | None, sent: float, wants: int,
                 done: Done) -> None:  # fmt: skip
        now = time.monotonic()
        if not done.ok:
            self.unwritten = batch + self.unwritten  # written later
            if not isinstance(done.error, Unavailable):
                logger.opt(exception=done.error).error("{} failed", done.request.name)
                self.timing.failed(now)
            return
        result: turn.Turn = done.value
        self._report_written(batch, result.written)
        if ask is not None:
            self._claimed(now, sent, wants, ask, result)
        if batch and self.options.until_empty and not self.pool and not self.unwritten:
            self.timing.want()  # all written, nothing runs: the next claim says if it is empty

    def _report_written(self, batch: list[Outcome], written: Written) -> None:
        for outcome in batch:
            log = job_logger(outcome.job_id)
            if outcome.job_id in written.refused:
                log.error("failed: {}", written.refused[outcome.job_id])
            elif outcome.job_id not in written.ids:
                log.warning("result not written: the job is no longer under this claim "
                            "(reset, reclaimed or cancelled meanwhile)")  # fmt: skip
        if batch:
            logs.event("write-back").debug(
                "wrote {} results ({} stored)", len(batch), len(written.ids)
            )

    def _claimed(self, now: float, sent: float, wants: int, ask: turn.Ask, result: turn.Turn
                 ) -> None:  # fmt: skip
        if result.claimed is None:
            logger.error(result.error or "claim failed")
            self.timing.failed(now)
            return
        if result.error:
            logger.error(result.error)
        METRICS.claim_took(now - sent)
        logs.event("claim").debug("claimed {} of {} asked", len(result.claimed), ask.limit)
        for job in result.claimed:
            METRICS.claimed((job.job if isinstance(job, Unusable) else job).job_type)
            self.pool.start(job, now)
        self.timing.claimed(now, ask.limit, len(result.claimed), result.next_due, wants)
        idle = not result.claimed and not self.pool and not self.unwritten
        if ask.until_empty and idle and not result.anything_soon:
            self._drain("--until-empty: the queue is empty")
        if self.options.max_jobs and self.pool.counts.started >= self.options.max_jobs:
            self._drain(f"--max-jobs {self.options.max_jobs} reached: stopping after these")

    # -- heartbeat -------------------------------------------------------------------------

    def _heartbeat_request(self, now: float) -> Request:
        self.next_heartbeat = now + self.config.supervisor.heartbeat_interval
        slot_in = self.timetable.seconds_to_next(datetime.now(UTC))  # periodic: on time
        if slot_in is not None:
            self.next_heartbeat = min(self.next_heartbeat, now + slot_in)
        sup = self.config.supervisor
        claims = self.pool.claims()
        asked = upkeep.Beat(
            state=self.state.value,
            slots=self.slots,
            job_types=self.job_types,
            config_name=self._config_name,
            figures=[r.figures(now, self._attempts(r.job.job_type)) for r in self.pool.started()],
            claims=claims,
            known={**claims, **{o.job_id: o.lease for o in self.unwritten}},
            pids={(r.job_id, r.job.lease): r.pid for r in self.pool.started()},
            watched=now - (self.connected_since or now),
            stale_after=sup.stale_after,
            orphan_after=sup.orphan_after,
            max_retries=self.config.retry.max_retries,
            count_queue=self.telemetry.wants_queue(now),
            type_retries={n: t.retry.max_retries for n, t in self.config.job_types.items()},
            periodic=self.timetable.entries(),
        )
        action = partial(upkeep.beat, me=self.me, asked=asked)
        return Request("heartbeat", action, partial(self._on_heartbeat, now, asked))

    def _on_heartbeat(self, sent: float, asked: upkeep.Beat, done: Done) -> None:
        if not done.ok:
            if not isinstance(done.error, Unavailable):
                logger.opt(exception=done.error).error("heartbeat failed")
            return
        found: upkeep.Found = done.value
        for error in found.errors:
            logger.error(error)
        if found.renewed:
            self.renewed = max(self.renewed, sent)
            if self.fenced:
                self.fenced = False
                logger.success("heartbeat went through again: claiming again")
                self.timing.want()
        if found.registered_again:
            logger.warning("this supervisor had been declared dead: registered again")
        self._reclaimed(found)
        self._kill_lost(asked.claims, found.lost)
        for job_id in found.released:
            job_logger(job_id).warning("held but never started here (claim lost): back to pending")
        if found.released:
            self.timing.want()
        logs.event("heartbeat").debug("heartbeat: {} runners, {} reclaimed, {} no longer ours",
                     len(self.pool), len(found.reclaimed.jobs) if found.reclaimed else 0,
                     len(found.lost))  # fmt: skip
        for slot in found.enqueued:
            job_logger(slot.job_id).info("periodic {}: enqueued the slot of {}", slot.name,
                                         periodic.iso(slot.slot))  # fmt: skip
        if found.paused is not None:
            METRICS.set_paused([p.job_type for p in found.paused])
        queue = found.queue
        self.telemetry.heartbeat(sent, self.state.value, len(self.pool), self.slots, queue)

    def _reclaimed(self, found: upkeep.Found) -> None:
        if found.reclaimed is None:
            return
        for worker_id, host, pid, why in found.reclaimed.dead_workers:
            logger.warning("supervisor {} ({} pid {}) declared dead: {}", worker_id, host, pid, why)
        for job_id, status, error, job_type in found.reclaimed.jobs:
            job_logger(job_id).warning("reclaimed, now {}: {}", status, error)
            METRICS.reclaimed(job_type)
        if found.reclaimed.jobs:
            self.timing.want()

    def _on_owned(self, claims: dict[str, int], done: Done) -> None:
        if done.ok:
            self._kill_lost(claims, done.value)
        elif not isinstance(done.error, Unavailable):
            logger.opt(exception=done.error).error("ownership check failed")

    def _kill_lost(self, claims: Mapping[str, int], lost: dict[str, str | None]) -> None:
        """Kill the runners of those `claims` (job id: lease) that no longer hold their job;
        one still starting is killed as soon as it has started."""
        for job_id, status in lost.items():
            log = job_logger(job_id)
            if status == "cancelled":
                log.warning("job is cancelled: killing its runner")
                self.pool.kill_claim(job_id, claims[job_id], KillReason.CANCELLED)
                continue
            why = f"the job is {status} under another claim" if status else "the job was deleted"
            log.warning("{}: killing its runner", why)
            detail = f"{why} (reset, reclaimed or deleted): runner killed"
            self.pool.kill_claim(job_id, claims[job_id], KillReason.LOST, detail)

    def _schedules(self, config: Config) -> list[periodic.Schedule]:
        """The periodic schedules to serve: those of the job types served (a slot's job is
        enqueued by a supervisor that can run it); none in a batch run (--max-jobs,
        --until-empty)."""
        batch = self.options.max_jobs or self.options.until_empty
        served = config.served(self.options.job_types)
        return [] if batch else [s for s in config.periodic.values() if s.job_type in served]

    def _attempts(self, job_type: str) -> int:
        return retry_for(self.config, job_type).max_retries + 1

    @property
    def _config_name(self) -> str:
        return str(self.config.path) if self.config.path else "defaults"


_title = ""
# The original cron's process was `python job_cron.py`: its runbook finds it with `ps aux | grep
# job_cron` and `pgrep -f job_cron.py`, and stops it with `pkill -f job_cron.py`. Only the
# supervisor's title carries the name, so that pkill sends SIGTERM to supervisors alone, which
# drain; runners, the fork server and the dashboard never match it.
SEED_NAME = "job_cron.py"


def _set_title(config_name: str, running: int, slots: int, state: State) -> None:
    """`jobsup: supervisor job_cron.py [conf/prod.toml] 3/4`, set only when it changes."""
    global _title
    title = f"jobsup: supervisor {SEED_NAME} [{config_name}] {running}/{slots}"
    if state is State.DRAINING:
        title += " draining"
    if title != _title:
        setproctitle.setproctitle(title)
        _title = title


def _check_chosen(chosen: tuple[str, ...], config: Config) -> None:
    """ConfigError when a `--job-type` of the command line is not configured in `config`
    (a reload would leave this supervisor serving less than it was started for)."""
    for name in chosen:
        if name not in config.job_types:
            why = config_rules.unknown_job_type(name, config)
            raise ConfigError(f"--job-type {name}: {why}")
