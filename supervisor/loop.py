"""The supervisor: one thread, one selector, and a loop whose body reads like a sentence.

wait (signal | runner pipe | LISTEN socket | timer)
→ handle signals → reap exited runners → enforce limits
→ database upkeep (reconnect, notifications, heartbeat, reclaim)
→ write outcomes → claim and spawn → show the state
"""

from __future__ import annotations

import enum
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg2
import setproctitle
from loguru import logger

from runner import linux
from supervisor import config as configuration
from supervisor import jobs, logs, report, schema, store, writeback
from supervisor.config import Config, Overrides
from supervisor.db import Connection, describe
from supervisor.errors import ConfigError
from supervisor.logs import job_logger
from supervisor.metrics import METRICS, MetricsServer
from supervisor.pool import FORK_FAILED_DELAY, Pool, log_counts
from supervisor.runners import KillReason, Runner
from supervisor.session import Session, Unavailable
from supervisor.signals import SignalQueue
from supervisor.telemetry import Telemetry
from supervisor.web import process as web
from supervisor.worker import Identity

EXIT_OK = 0
EXIT_JOBS_FAILED = 4  # a batch run (--max-jobs, --until-empty) in which some job ended failed


class State(enum.Enum):
    RUNNING = "running"
    DRAINING = "draining"  # no more claims; the loop ends when the last runner has


@dataclass(frozen=True)
class RunOptions:
    max_jobs: int | None = None
    until_empty: bool = False
    job_types: tuple[str, ...] | None = None  # None: the configured [supervisor] job_types
    log_level: str | None = None
    overrides: Overrides = field(default_factory=dict)


class Supervisor:
    def __init__(self, config: Config, options: RunOptions, url: str) -> None:
        self.config = config
        self.options = options
        self.me = Identity.new()
        self.slots = config.supervisor.slots
        self.state = State.RUNNING
        self.drain_deadline: float | None = None
        self.selector = selectors.DefaultSelector()
        self.signals = SignalQueue()
        self.pool = Pool(config, self.selector, self.me, options.log_level)
        self.session = Session(
            url, config.database, self.selector, config.supervisor.listen, self._on_connect
        )
        self.claim_wanted = True
        self.next_poll = 0.0
        self.next_due: float | None = None
        self.next_heartbeat = 0.0
        self.next_sample = 0.0
        self.telemetry = Telemetry(config, self.selector)

    @property
    def job_types(self) -> tuple[str, ...] | None:
        """The job types to claim; None: any (a type not configured then fails at once)."""
        return self.options.job_types or self.config.supervisor.job_types or None

    # -- life ------------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until drained; the process exit code."""
        self._start()
        try:
            while not (self.state is State.DRAINING and not self.pool):
                self._tick()
        finally:
            self._stop()
        batch = self.options.max_jobs or self.options.until_empty
        return EXIT_JOBS_FAILED if batch and self.pool.counts.failed else EXIT_OK

    def _start(self) -> None:
        jobs.check_handlers(self.config)
        self.web = web.start(self.config)  # [web] listen: the dashboard, a child process
        self.pool.forkserver.preload = jobs.preload(self.config, self.job_types)
        try:
            self.pool.forkserver.start()  # now, so its start-up overlaps ours
        except OSError as e:
            logger.error("cannot start the fork server: {}; the first runner tries again", e)
        self.session.open()
        # Orphans of a runner's tree re-parent to us rather than to init: still ours to kill.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self.signals.install()
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, self.signals)
        types = ", ".join(self.job_types) if self.job_types else "all configured"
        sup = self.config.supervisor
        wake = "LISTEN/NOTIFY" if sup.listen else "polling only"
        logger.info(
            "supervisor {} started: pid {}, {} slots, job types: {}; {}, poll every {:g} s",
            self.me.id, self.me.pid, self.slots, types, wake, sup.interval,
        )  # fmt: skip
        self._heartbeat(time.monotonic())  # reclaims at once what a crashed predecessor held
        self.telemetry.ready(self.state.value, len(self.pool), self.slots)

    def _on_connect(self, conn: Connection) -> None:
        schema.require_current(conn)
        store.register(conn, self.me, self.slots, self.job_types, self._config_name)
        self.claim_wanted = True
        self.next_heartbeat = 0.0

    def _tick(self) -> None:
        self._wait(self._timeout(time.monotonic()))
        now = time.monotonic()
        self._handle_signals(now)
        running = len(self.pool)
        self.pool.reap()
        if self.options.until_empty and running and not self.pool:
            self.claim_wanted = True  # the claim finds out whether the queue is empty
        self._upkeep(now)
        self._write_outcomes()
        self._claim(now)
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
        while self.pool.outcomes and time.monotonic() < deadline:
            if self.session.reconnect(time.monotonic()):
                self._write_outcomes()
            if self.pool.outcomes:
                time.sleep(0.2)
        if self.pool.outcomes:
            logger.error(
                "{} results not written (database unreachable): those jobs will be reclaimed",
                len(self.pool.outcomes),
            )
        self._db("deregister", store.deregister, self.me)
        self.session.close()
        self.signals.uninstall()
        self.telemetry.close()
        self.selector.close()
        log_counts(self.pool.counts)

    # -- waiting ---------------------------------------------------------------------------

    def _timeout(self, now: float) -> float:
        deadlines = [self.next_heartbeat]
        if self.state is State.RUNNING and len(self.pool) < self.slots:
            if self.claim_wanted and self.session.connected:
                return 0.0
            deadlines.append(self.next_poll)
            if self.next_due is not None:
                deadlines.append(self.next_due)
        if self.pool or self.pool.orphans_possible:
            deadlines.append(self.next_sample)
        if self.drain_deadline is not None:
            deadlines.append(self.drain_deadline)
        if not self.session.connected:
            deadlines.append(self.session.retry_at)
        watchdog = self.telemetry.deadline()
        if watchdog is not None:
            deadlines.append(watchdog)
        return max(0.0, min(deadlines) - now)

    def _wait(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            if isinstance(key.data, Runner):
                self.pool.read(key.data, key.fd)
            elif key.data is self.session:
                self.session.poll()
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
            jobs.check_handlers(new)
        except ConfigError as e:
            logger.error("SIGHUP: {}; keeping the running configuration", e)
            self.telemetry.ready(self.state.value, len(self.pool), self.slots)
            return
        if new.database.url != self.config.database.url:
            logger.warning("SIGHUP: the database URL changed; restart to use the new one")
        self.config = self.pool.config = new
        self.pool.forkserver.preload = jobs.preload(new, self.job_types)  # for a new server
        self.slots = new.supervisor.slots
        logs.configure(new.logging, new.state_dir, self.options.log_level)
        self.claim_wanted = True
        logger.info("SIGHUP: configuration reloaded ({} slots)", self.slots)
        self.telemetry.ready(self.state.value, len(self.pool), self.slots)

    def handle_ttin(self, now: float) -> None:
        self.slots += 1
        self.claim_wanted = True
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

    def _enforce_limits(self, now: float) -> None:
        if self.drain_deadline is not None and now >= self.drain_deadline:
            logger.warning("drain timeout: terminating {} runners", len(self.pool))
            self._terminate_all(now)
        self.pool.enforce(now)
        if (self.pool or self.pool.orphans_possible) and now >= self.next_sample:
            self.pool.sample()
            self.next_sample = now + self.pool.check_interval()
        if self.pool.earliest_retry is not None:
            due = self.pool.earliest_retry
            self.next_due = due if self.next_due is None else min(self.next_due, due)
            self.pool.earliest_retry = None

    # -- database --------------------------------------------------------------------------

    def _db(self, what: str, action: Callable[..., Any], *args: Any) -> Any:
        """`action(conn, *args)`, or None when the database is unavailable or refuses."""
        try:
            return self.session.call(action, *args)
        except Unavailable:
            return None
        except psycopg2.Error as e:
            logger.error("{} failed: {}", what, describe(e))
            return None

    def _upkeep(self, now: float) -> None:
        if not self.session.reconnect(now):
            return
        for notify in self.session.take_notifies():
            if notify.channel == "jobsup_control" and notify.payload == self.me.id:
                self._check_ownership()
            elif notify.channel == "jobsup_pending" and self._serves(notify.payload):
                self.claim_wanted = True
        if now >= self.next_heartbeat:
            self._heartbeat(now)

    def _serves(self, job_type: str) -> bool:
        return self.job_types is None or (job_type or "analysis") in self.job_types

    def _heartbeat(self, now: float) -> None:
        self.next_heartbeat = now + self.config.supervisor.heartbeat_interval
        attempts = self.config.retry.max_retries + 1
        figures = [jobs.figures(r, now, attempts) for r in self.pool]
        state = self.state.value
        if self._db("heartbeat", store.heartbeat, self.me, state, self.slots, figures) is False:
            self._db("register", store.register, self.me, self.slots, self.job_types,
                     self._config_name)  # fmt: skip
        self._reclaim()
        self._check_ownership()
        self._release_unrun()
        if self.pool:
            pids = {r.job_id: r.pid for r in self.pool}
            self._db("set runner pids", store.set_runner_pids, self.me.id, pids)
        queue = partial(self._db, "queue", report.queue)
        self.telemetry.heartbeat(now, state, len(self.pool), self.slots, queue)

    def _reclaim(self) -> None:
        sup = self.config.supervisor
        found = self._db("reclaim", store.reclaim, self.me, sup.stale_after, sup.orphan_after,
                         self.config.retry.max_retries)  # fmt: skip
        if found is None:
            return
        for worker_id, host, pid in found.dead_workers:
            logger.warning("supervisor {} ({} pid {}) is dead", worker_id, host, pid)
        for job_id, status, error, job_type in found.jobs:
            job_logger(job_id).warning("reclaimed, now {}: {}", status, error)
            METRICS.reclaimed(job_type)
        if found.jobs:
            self.claim_wanted = True

    def _check_ownership(self) -> None:
        """Kill the runners of jobs cancelled, or taken back by another supervisor."""
        if not self.pool:
            return
        lost = self._db("ownership check", store.owned, self.me.id, [r.job_id for r in self.pool])
        for runner in self.pool:
            if lost and runner.job_id in lost:
                status = lost[runner.job_id]
                job_logger(runner.job_id).warning("job is {}: killing its runner", status or "gone")
                runner.kill(KillReason.CANCELLED if status == "cancelled" else KillReason.LOST)

    def _release_unrun(self) -> None:
        known = self.pool.job_ids() + [o.job_id for o in self.pool.outcomes]
        released = self._db("release unrun jobs", store.release_unrun, self.me.id, known)
        for job_id in released or ():
            job_logger(job_id).warning("held but never started here (claim lost): back to pending")
        if released:
            self.claim_wanted = True

    def _write_outcomes(self) -> None:
        if self.pool.outcomes and self.session.connected:
            batch, self.pool.outcomes = self.pool.outcomes, []
            self.pool.outcomes = (
                writeback.write(self.session, self.me.id, batch) + self.pool.outcomes
            )

    def _claim(self, now: float) -> None:
        if self.pool.refused:  # no runner could be started (short of processes or memory)
            self.pool.refused = False
            self.claim_wanted = False
            self.next_poll = now + FORK_FAILED_DELAY
        if self.state is not State.RUNNING or not self.session.connected:
            return
        free = self.slots - len(self.pool)
        if self.options.max_jobs:
            free = min(free, self.options.max_jobs - self.pool.counts.started)
        due = self.next_due is not None and now >= self.next_due
        if free <= 0 or not (self.claim_wanted or now >= self.next_poll or due):
            return
        self.claim_wanted = False
        self.next_poll = now + self.config.supervisor.interval
        claimed = self._db("claim", store.claim, self.me.id, free, self.job_types)
        if claimed is None:
            self.next_poll = now + 1.0  # the database refused: try again shortly
            return
        METRICS.claim_took(time.monotonic() - now)
        for job in claimed:
            METRICS.claimed(job.job_type)
            self.pool.start(job, now)
        if len(claimed) == free:
            self.claim_wanted = True  # there may be more
        else:
            self._after_short_claim(now)
        if self.options.max_jobs and self.pool.counts.started >= self.options.max_jobs:
            self._drain(f"--max-jobs {self.options.max_jobs} reached: stopping after these")

    def _after_short_claim(self, now: float) -> None:
        wait = self._db("next due", store.next_due, self.job_types)
        self.next_due = None if wait is None else now + max(0.0, wait)
        if self.options.until_empty and not self.pool and not self.pool.outcomes:
            horizon = self.config.retry.backoff_max
            if self._db("queue check", store.runnable_within, horizon, self.job_types) is False:
                self._drain("--until-empty: the queue is empty")

    @property
    def _config_name(self) -> str:
        return str(self.config.path) if self.config.path else "defaults"


_title = ""


def _set_title(config_name: str, running: int, slots: int, state: State) -> None:
    """`jobsup: supervisor [conf/prod.toml] 3/4`, set only when it changes."""
    global _title
    title = f"jobsup: supervisor [{config_name}] {running}/{slots}"
    if state is State.DRAINING:
        title += " draining"
    if title != _title:
        setproctitle.setproctitle(title)
        _title = title
