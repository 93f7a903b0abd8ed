"""The runners of one supervisor: start them, read their pipes, reap them, and conclude each
attempt into the outcome to write for its job.

One `Runner` per job from the moment it is asked of the fork server (STARTING) until it is
reaped; `reap()` hands the loop every outcome concluded since the last call, and the loop
writes them.
"""

from __future__ import annotations

import os
import selectors
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from runner.job import RunnerSpec
from runner.parent import Event, Exited, ForkServer, Refused, Started, how_it_ended
from supervisor import logs
from supervisor.config import Config
from supervisor.config.model import retry_for
from supervisor.identity import Identity
from supervisor.metrics import METRICS
from supervisor.runners import handler_modules, limits, messages, proctree, runenv
from supervisor.runners.jobrow import ClaimedJob, Unusable
from supervisor.runners.launch import NotServed, launch
from supervisor.runners.messages import Updates
from supervisor.runners.outcome import (
    Kind,
    Outcome,
    Verdict,
    conclude,
    judge,
    not_served,
    not_started,
)
from supervisor.runners.state import (
    KillReason,
    Output,
    ProcessOps,
    RealProcessOps,
    Runner,
    RunnerState,
)

READ_CHUNK = 65536
FINISHED = {"completed": "completed", "failed": "failed", "pending": "retried"}  # metrics
NOT_STARTED_DELAY = 5.0  # seconds before a job refused a runner may run again


class Spawner(Protocol):
    """What the pool needs of the fork server (`runner.parent.ForkServer`; a fake in unit tests)."""

    preload: list[str]
    environment: dict[str, str] | None

    def start(self) -> None: ...
    def request(self, spec: RunnerSpec) -> tuple[int, int]: ...
    def events(self, settle: bool = False) -> list[Event]: ...
    def reaped(self, pid: int, status: int) -> bool: ...
    def pids(self) -> set[int]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Snapshot:
    """The pool at one moment, in plain data: what a heartbeat reports and checks."""

    claims: dict[str, int]  # job id: lease, of every runner, started or asked for
    figures: list[dict[str, Any]]  # per started runner, for `jobsup ps`
    pids: dict[tuple[str, int], int]  # (job id, lease): the pid of each started runner


@dataclass
class Counts:
    started: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    interrupted: int = 0
    # Attempts that ran to an end of their own: completed, failed, or failed and retried
    # (what --max-jobs counts). Not those taken away (reset, reclaimed, cancelled, fenced),
    # drained, snoozed, or never started.
    ended: int = 0


class Pool:
    def __init__(
        self,
        config: Config,
        selector: selectors.BaseSelector,
        me: Identity,
        log_level: str | None = None,
        served: tuple[str, ...] = (),
        spawner: Spawner | None = None,
        ops: ProcessOps | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log_level = log_level  # --log-level: over the configured one
        self.selector = selector
        self.me = me
        self.forkserver: Spawner = spawner or ForkServer(selector)
        self.ops = ops or RealProcessOps()
        self.clock = clock
        self.runners: dict[str, Runner] = {}  # by job id: every runner, starting or not
        self._asked: deque[Runner] = deque()  # STARTING, in the order asked of the server
        self._by_pid: dict[int, Runner] = {}
        self._concluded: list[Outcome] = []  # since the last reap()
        self.reports = messages.Reports()  # progress and steps, until they are written
        self.counts = Counts()
        self.orphans_possible = False  # a runner ended since the last sample: look for orphans
        self.configure(config, served)

    def configure(self, config: Config, served: tuple[str, ...]) -> None:
        """Take `config` (at start and on SIGHUP); a fork server started from now on preloads
        the handlers of the job types `served` in the runners' environment.
        Running jobs keep the limits they started with."""
        self.config = config
        self.forkserver.preload = handler_modules.preload(config, served)
        self.forkserver.environment = runenv.environment(config)

    def warm_up(self) -> None:
        """Start the fork server now, so that its start-up overlaps the supervisor's (unless
        the preflight has started it already)."""
        if not self.forkserver.pids():
            self.forkserver.start()

    def __len__(self) -> int:
        return len(self.runners)

    def __iter__(self) -> Iterator[Runner]:
        return iter(list(self.runners.values()))

    def started(self) -> list[Runner]:
        """The runners past STARTING (they have a pid)."""
        return [r for r in self.runners.values() if r.pid]

    def check_interval(self) -> float:
        """Seconds until the next sample: the shortest of the runners' `check_interval`,
        shorter for one growing toward its memory limit (`limits.sample_interval`)."""
        return min((limits.sample_interval(r) for r in self.runners.values()), default=1.0)

    def claims(self) -> dict[str, int]:
        """The claim (job id: lease) of every runner, started or asked for."""
        return {job_id: runner.job.lease for job_id, runner in self.runners.items()}

    def snapshot(self, now: float) -> Snapshot:
        """The runners as the heartbeat tells the database of them."""
        started = self.started()
        return Snapshot(
            claims=self.claims(),
            figures=[r.figures(now, self._attempts(r.job.job_type)) for r in started],
            pids={(r.job_id, r.job.lease): r.pid for r in started},
        )

    def _attempts(self, job_type: str) -> int:
        return retry_for(self.config, job_type).max_retries + 1

    def kill_claim(self, job_id: str, lease: int, reason: KillReason, detail: str = "") -> None:
        """Kill the runner of claim (`job_id`, `lease`), at once or as soon as it starts.
        One still starting is also cut off: its pipes' read ends closed, it finds no reader
        before it runs its handler and exits (else it would run until the loop reads the
        fork server's answer, the job meanwhile someone else's)."""
        runner = self.runners.get(job_id)
        if runner is None or runner.job.lease != lease:
            return
        self._cut_off_starting(runner)
        runner.kill(reason, detail)

    def _cut_off_starting(self, runner: Runner) -> None:
        if runner.state is RunnerState.STARTING:
            self._cut_off(runner)

    def _cut_off(self, runner: Runner) -> None:
        for fd in (runner.result_fd, runner.output_fd):
            if fd >= 0:
                os.close(fd)
        runner.result_fd = runner.output_fd = -1

    # -- starting --------------------------------------------------------------------------

    def start(self, job: ClaimedJob | Unusable, now: float) -> None:
        """Ask the fork server for a runner for `job`. An unusable job fails at once, and so
        does one whose start raised (a bug), alone; their outcomes come with the next reap."""
        self.counts.started += 1
        if isinstance(job, Unusable):
            job.job.log.error("unusable job row: {}", job.reason)
            self._conclude(job.job, Verdict(Kind.PERMANENT, f"unusable job row: {job.reason}"))
            return
        try:
            self._request(job, now)
        except Exception as e:  # nothing about one job may stop the supervisor
            logger.opt(exception=True).bind(job=job.id).error("error starting a runner")
            message = f"supervisor error starting the runner: {type(e).__name__}: {e}"
            self._conclude(job, Verdict(Kind.RETRYABLE, message))

    def _request(self, job: ClaimedJob, now: float) -> None:
        how = launch(job, self.config, self.log_level or self.config.logging.level)
        if isinstance(how, NotServed):
            job.log.warning("{}: back to pending, no attempt spent", how.why)
            self._concluded.append(not_served(job))
            return
        if isinstance(how, str):
            self._conclude(job, Verdict(Kind.PERMANENT, how))
            return
        try:
            result_fd, output_fd = self.forkserver.request(how.spec)
        except OSError as e:
            self._not_started(job, e)
            return
        output = Output(limit=self.config.logging.output_limit_kb * 1024)
        wall = time.time() - (self.clock() - now)  # the same moment as `now`: limits count
        runner = Runner(job, how.limits, result_fd, output_fd, now, wall, output,  # from it
                        ops=self.ops)  # fmt: skip
        self.runners[job.id] = runner
        self._asked.append(runner)
        logs.event("spawn", job.log).debug(
            "runner requested from the fork server (lease {})", job.lease
        )

    def _running(self, runner: Runner, pid: int) -> None:
        runner.running(pid)  # a kill asked while it was starting is done now
        self._by_pid[pid] = runner
        for fd in (runner.result_fd, runner.output_fd):
            if fd >= 0:  # not cut off
                self.selector.register(fd, selectors.EVENT_READ, runner)
        job = runner.job
        attempts = self._attempts(job.job_type)
        job.log.info(
            "started {}: attempt {}/{}, runner pid {}", job.job_type, job.attempt, attempts, pid
        )

    def _refused(self, runner: Runner, error: OSError) -> None:
        logs.event("spawn", runner.job.log).debug("the fork server refused: {}", error)
        runner.never_started()
        del self.runners[runner.job_id]
        self._cut_off(runner)
        self._not_started(runner.job, error)

    def _not_started(self, job: ClaimedJob, error: OSError) -> None:
        """No runner for `job` (out of processes or memory, no fork server): back to pending."""
        job.log.error("cannot start a runner: {}; job back to pending", error.strerror or error)
        self._concluded.append(not_started(job, NOT_STARTED_DELAY))

    # -- running ---------------------------------------------------------------------------

    def read(self, runner: Runner, fd: int) -> None:
        """Take what `runner` wrote on `fd`; close the fd at end of file."""
        while True:
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except ConnectionResetError:  # the result socket: the runner died unanswered
                data = b""
            if not data:
                self._close(runner, fd)
                return
            if fd == runner.result_fd:
                runner.add_result(data, self.config.supervisor.result_max_kb * 1024)
            else:
                runner.output.feed(data, runner.job.log)

    # -- progress and steps (runners/messages.py) ----------------------------------------

    def updates_due(self, now: float) -> bool:
        """Whether a step's result waits (a handler waits for it) or a progress may be
        written now."""
        return self.reports.due(self.runners.values(), now)

    def progress_deadline(self) -> float:
        """When the next progress that waits may be written (inf: none waits)."""
        return self.reports.deadline(self.runners.values())

    def updates(self, now: float) -> Updates:
        """What is to be written now: every step's result that waits, and the progress of
        the jobs whose last write is a second old (of an ended job, whatever its age)."""
        return self.reports.take(self.runners.values(), now)

    def written(self, updates: Updates, errors: messages.Answers | None) -> None:
        """Answer the handlers waiting for `updates`' steps: stored, or why not (`errors`:
        None when nothing could be written; then all is written again later)."""
        self.reports.written(self.runners, updates, errors)

    def sample(self) -> None:
        """Measure every started runner's tree against its memory and process limits."""
        limits.sample(self.started(), self.me.pid, self.forkserver.pids())
        self.orphans_possible = False

    def enforce(self, now: float) -> None:
        for runner in self.started():
            if runner.state is not RunnerState.EXITED:
                limits.enforce_time(runner, now, self.config.supervisor.kill_timeout)

    def terminate_all(self, now: float) -> None:
        """SIGTERM every runner; one still starting is cut off (it exits before its
        handler: it has nothing to clean up) without waiting for the fork server."""
        for runner in self:
            self._cut_off_starting(runner)
            runner.terminate(KillReason.SHUTDOWN, now, self.config.supervisor.kill_timeout)

    def kill_all(self, reason: KillReason = KillReason.SHUTDOWN, detail: str = "") -> None:
        """SIGKILL every runner; one still starting is cut off and killed once the fork
        server names it. Never waits for a slow fork server: a lease fence must not wait,
        and a runner released meanwhile would run its handler on a claim given up."""
        for runner in self:
            self._cut_off_starting(runner)
            runner.kill(reason, detail)

    def forgo(self, job: ClaimedJob, why: str) -> None:
        """Start no runner for `job`, claimed but no longer safely ours (its claim's answer
        came after the lease ran out): back to pending, no attempt spent."""
        self._conclude(job, Verdict(Kind.INTERRUPTED, why))

    # -- ending ----------------------------------------------------------------------------

    def reap(self) -> list[Outcome]:
        """Take note of every runner that has exited: those the fork server reaped, and
        those reaped here (a fork server that died leaves its runners to us, a subreaper),
        along with what the runners' trees left behind. Every outcome concluded since the
        last call (runners ended, jobs that could not start)."""
        self._handle(self.forkserver.events())
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:  # no children at all
                break
            if pid == 0:
                break
            if not self.forkserver.reaped(pid, status):
                self._exited(Exited(pid, status, usage.ru_utime + usage.ru_stime,
                                    usage.ru_maxrss * 1024))  # fmt: skip
        concluded, self._concluded = self._concluded, []
        return concluded

    def sweep(self) -> None:
        """At exit, once every runner is reaped: end the fork server, and kill and reap what
        the runners' trees left behind."""
        self.forkserver.close()
        limits.kill_orphans(proctree.snapshot(), self.me.pid, self.forkserver.pids())
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.01)
            else:
                self.forkserver.reaped(pid, status)

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Started):
                self._running(self._asked.popleft(), event.pid)
            elif isinstance(event, Refused):
                self._refused(self._asked.popleft(), event.error)
            else:
                self._exited(event)

    def _exited(self, exited: Exited) -> None:
        runner = self._by_pid.pop(exited.pid, None)
        if runner is None:
            return
        runner.exited(exited.status, exited.cpu_seconds, exited.peak_rss)
        del self.runners[runner.job_id]
        try:
            self._finish(runner)
        except Exception as e:  # nothing about one job may stop the supervisor
            logger.opt(exception=True).bind(job=runner.job_id).error("error ending a runner")
            message = f"supervisor error reading the runner's end: {type(e).__name__}: {e}"
            self._conclude(runner.job, Verdict(Kind.RETRYABLE, message), runner)

    def _finish(self, runner: Runner) -> None:
        how = "" if runner.status is None else how_it_ended(runner.status)
        logs.event("reap", runner.job.log).debug(
            "runner pid {} reaped: {}", runner.pid, how or "gone"
        )
        for fd in (runner.result_fd, runner.output_fd):
            if fd >= 0:
                self.read(runner, fd)  # what is left; closes the fd at end of file
                if fd in (runner.result_fd, runner.output_fd):  # a descendant still holds it
                    self._close(runner, fd)
        self.reports.leave(runner, self.clock())
        runner.kill_tree()  # whatever the handler left running
        self.orphans_possible = True
        if runner.reason not in (None, KillReason.SHUTDOWN):
            METRICS.killed(runner.job.job_type, str(runner.reason))
        runner.output.close(runner.job.log)
        self._conclude(runner.job, judge(runner, self.config.supervisor.result_max_kb), runner)

    def _close(self, runner: Runner, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        if fd == runner.result_fd:
            runner.result_fd = -1
        else:
            runner.output_fd = -1

    def _conclude(self, job: ClaimedJob, verdict: Verdict, runner: Runner | None = None) -> None:
        """The outcome of `verdict`, kept for the next reap; counted and logged."""
        now = self.clock()
        outcome = conclude(job, verdict, retry_for(self.config, job.job_type), self.me, runner, now)
        seconds = runner.elapsed(now) if runner else None
        if outcome.status is not None and verdict.kind is not Kind.INTERRUPTED:
            METRICS.finished(job.job_type, FINISHED[outcome.status], seconds)
        self._log(job, outcome, verdict, seconds or 0.0)
        self._concluded.append(outcome)

    def _log(self, job: ClaimedJob, outcome: Outcome, verdict: Verdict, seconds: float) -> None:
        log = job.log
        first_line = verdict.message.split("\n", 1)[0]
        if verdict.kind is Kind.LOST:
            log.warning("runner ended: {}", first_line)
        elif outcome.status == "completed":
            self.counts.completed += 1
            self.counts.ended += 1
            log.info("completed in {:.2f} s ({} insights)", seconds, len(outcome.insights))
        elif verdict.kind is Kind.INTERRUPTED:
            self.counts.interrupted += 1
            log.warning("{}: back to pending, no attempt spent", first_line)
        elif outcome.kind is Kind.SNOOZED:
            self.counts.retried += 1
            log.info("{}: again in {:.1f} s, no attempt spent", first_line, outcome.delay)
        elif outcome.status == "pending":
            self.counts.retried += 1
            self.counts.ended += 1
            log.warning("attempt failed, retry in {:.1f} s: {}", outcome.delay, first_line)
        else:
            self.counts.failed += 1
            self.counts.ended += 1
            log.error("failed: {}", first_line)


def log_counts(counts: Counts) -> None:
    logger.info(
        "supervisor stopped: {} completed, {} failed, {} retried, {} returned to pending",
        counts.completed, counts.failed, counts.retried, counts.interrupted,
    )  # fmt: skip
