"""The runners of one supervisor: start them, read their pipes, reap them, and turn each
ending into the outcome to write for its job."""

from __future__ import annotations

import dataclasses
import os
import selectors
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from loguru import logger

from supervisor import jobs, limits, logs, proctree
from supervisor.config import Config, Limits
from supervisor.jobrow import ClaimedJob, Unusable
from supervisor.metrics import METRICS
from supervisor.outcome import Kind, Verdict, decide, how_it_ended, judge
from supervisor.retry_policy import retry_for
from supervisor.runners import KillReason, Output, Runner, RunnerState
from supervisor.spawn import Event, Exited, ForkServer, Refused, Started
from supervisor.store import Outcome
from supervisor.worker import Identity

READ_CHUNK = 65536
FINISHED = {"completed": "completed", "failed": "failed", "pending": "retried"}  # metrics
FORK_FAILED_DELAY = 5.0  # seconds before a job refused a runner may run again


@dataclass(frozen=True)
class Starting:
    """A runner asked of the fork server, its pid not yet known."""

    job: ClaimedJob
    limits: Limits
    result_fd: int
    output_fd: int
    requested: float  # monotonic
    requested_wall: float


@dataclass
class Counts:
    started: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    interrupted: int = 0


class Pool:
    def __init__(self, config: Config, selector: selectors.BaseSelector, me: Identity,
                 log_level: str | None = None) -> None:  # fmt: skip
        self.config = config
        self.log_level = log_level  # --log-level: over the configured one
        self.selector = selector
        self.me = me
        self.runners: dict[int, Runner] = {}
        self.starting: deque[Starting] = deque()  # in the order asked
        self.refused = False  # a runner could not be started: claim less for a while
        self.outcomes: list[Outcome] = []  # waiting to be written
        self.counts = Counts()
        self.earliest_retry: float | None = None  # monotonic time the soonest retry falls due
        self.orphans_possible = False  # a runner ended since the last sample: look for orphans
        self.forkserver = ForkServer(selector)
        self.doomed: dict[str, tuple[KillReason, str]] = {}  # to kill once started

    def __len__(self) -> int:
        return len(self.runners) + len(self.starting)

    def __iter__(self) -> Iterator[Runner]:
        return iter(list(self.runners.values()))

    def check_interval(self) -> float:
        """Seconds until the next sample: the shortest `check_interval` of the runners."""
        limits = [r.limits for r in self.runners.values()] + [s.limits for s in self.starting]
        return min((lim.check_interval for lim in limits), default=1.0)

    def kill_claim(self, job_id: str, lease: int, reason: KillReason, detail: str = "") -> None:
        """Kill the runner of claim (`job_id`, `lease`), at once or as soon as it starts."""
        for runner in self.runners.values():
            if runner.job_id == job_id and runner.job.lease == lease:
                runner.kill(reason, detail)
        if any(s.job.id == job_id and s.job.lease == lease for s in self.starting):
            self.doomed[job_id] = (reason, detail)

    def claims(self) -> dict[str, int]:
        """The claim (job id: lease) of every runner, started or asked for."""
        jobs = [r.job for r in self.runners.values()] + [s.job for s in self.starting]
        return {job.id: job.lease for job in jobs}

    def start(self, job: ClaimedJob | Unusable, now: float) -> None:
        """Ask the fork server for a runner for `job`; an unusable job fails at once, and so
        does one whose start raised (a bug), alone."""
        self.counts.started += 1
        if isinstance(job, Unusable):
            job.job.log.error("unusable job row: {}", job.reason)
            self._record(job.job, Verdict(Kind.PERMANENT, f"unusable job row: {job.reason}"), None)
            return
        try:
            self._request(job, now)
        except Exception as e:  # nothing about one job may stop the supervisor
            logger.opt(exception=True).bind(job=job.id).error("error starting a runner")
            message = f"supervisor error starting the runner: {type(e).__name__}: {e}"
            self._record(job, Verdict(Kind.RETRYABLE, message), None)

    def _request(self, job: ClaimedJob, now: float) -> None:
        launch = jobs.launch(job, self.config, self.log_level or self.config.logging.level)
        if isinstance(launch, str):
            self._record(job, Verdict(Kind.PERMANENT, launch), None)
            return
        try:
            result_fd, output_fd = self.forkserver.request(launch.spec)
        except OSError as e:
            self._give_back(job, e)
            return
        self.starting.append(Starting(job, launch.limits, result_fd, output_fd, now, time.time()))
        logs.event("spawn", job.log).debug(
            "runner requested from the fork server (lease {})", job.lease
        )

    def _started(self, starting: Starting, pid: int) -> None:
        output = Output(limit=self.config.logging.output_limit_kb * 1024)
        runner = Runner(starting.job, starting.limits, pid, starting.result_fd,
                        starting.output_fd, starting.requested, starting.requested_wall,
                        output)  # fmt: skip
        self.runners[pid] = runner
        for fd in (runner.result_fd, runner.output_fd):
            self.selector.register(fd, selectors.EVENT_READ, runner)
        job = runner.job
        attempts = retry_for(self.config, job.job_type).max_retries + 1
        job.log.info(
            "started {}: attempt {}/{}, runner pid {}", job.job_type, job.attempt, attempts, pid
        )
        if job.id in self.doomed:  # taken from us while it was starting
            runner.kill(*self.doomed.pop(job.id))

    def _give_back(self, job: ClaimedJob, error: OSError) -> None:
        """No runner for `job` (out of processes or memory, no fork server): back to pending."""
        reason = error.strerror or error
        job.log.error("cannot start a runner: {}; job back to pending", reason)
        self.outcomes.append(
            Outcome(job.id, job.lease, "pending", job.retry_count, keep_error=True,
                    delay=FORK_FAILED_DELAY)
        )  # fmt: skip
        self.refused = True

    def read(self, runner: Runner, fd: int) -> None:
        """Take what `runner` wrote on `fd`; close the fd at end of file."""
        while True:
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not data:
                self._close(runner, fd)
                return
            if fd == runner.result_fd:
                runner.add_result(data, self.config.supervisor.result_max_kb * 1024)
            else:
                runner.output.feed(data, runner.job.log)

    def reap(self) -> list[Outcome]:
        """Take note of every runner that has exited: those the fork server reaped, and
        those reaped here (a fork server that died leaves its runners to us, a subreaper),
        along with what the runners' trees left behind. The outcomes concluded."""
        waiting = len(self.outcomes)
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
        return self.outcomes[waiting:]

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

    def sample(self) -> None:
        """Measure every runner's tree against its memory and process limits."""
        limits.sample(self.runners.values(), self.me.pid, self.forkserver.pids())
        self.orphans_possible = False

    def enforce(self, now: float) -> None:
        for runner in self:
            if runner.state is not RunnerState.EXITED:
                limits.enforce_time(runner, now, self.config.supervisor.kill_timeout)

    def settle(self) -> None:
        """Wait for the answer to every runner asked for: then all are in `runners`."""
        self._handle(self.forkserver.events(settle=True))

    def terminate_all(self, now: float) -> None:
        self.settle()
        for runner in self:
            runner.terminate(KillReason.SHUTDOWN, now, self.config.supervisor.kill_timeout)

    def kill_all(self, reason: KillReason = KillReason.SHUTDOWN, detail: str = "") -> None:
        self.settle()
        for runner in self:
            runner.kill(reason, detail)

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Started):
                self._started(self.starting.popleft(), event.pid)
            elif isinstance(event, Refused):
                starting = self.starting.popleft()
                self.doomed.pop(starting.job.id, None)
                logs.event("spawn", starting.job.log).debug(
                    "the fork server refused: {}", event.error
                )
                os.close(starting.result_fd)
                os.close(starting.output_fd)
                self._give_back(starting.job, event.error)
            else:
                self._exited(event)

    def _exited(self, exited: Exited) -> None:
        runner = self.runners.get(exited.pid)
        if runner is None:
            return
        runner.exited(exited.status, exited.cpu_seconds, exited.peak_rss)
        try:
            self._finish(runner)
        except Exception as e:  # nothing about one job may stop the supervisor
            logger.opt(exception=True).bind(job=runner.job_id).error("error ending a runner")
            self.runners.pop(runner.pid, None)
            message = f"supervisor error reading the runner's end: {type(e).__name__}: {e}"
            self._record(runner.job, Verdict(Kind.RETRYABLE, message), runner)

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
        runner.kill_tree()  # whatever the handler left running
        self.orphans_possible = True
        if runner.reason not in (None, KillReason.SHUTDOWN):
            METRICS.killed(runner.job.job_type, str(runner.reason))
        del self.runners[runner.pid]
        runner.output.close(runner.job.log)
        self._record(runner.job, judge(runner, self.config.supervisor.result_max_kb), runner)

    def _close(self, runner: Runner, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        if fd == runner.result_fd:
            runner.result_fd = -1
        else:
            runner.output_fd = -1

    def _record(self, job: ClaimedJob, verdict: Verdict, runner: Runner | None) -> None:
        """Queue the outcome of `verdict` for writing; count it and log it."""
        outcome = decide(job, verdict, retry_for(self.config, job.job_type))
        seconds = runner.elapsed(time.monotonic()) if runner else 0.0
        if outcome.status is not None and verdict.kind is not Kind.INTERRUPTED:
            METRICS.finished(job.job_type, FINISHED[outcome.status], seconds if runner else None)
        record = jobs.attempt_record(job, verdict, outcome, self.me, runner)
        outcome = dataclasses.replace(outcome, attempt=record)
        self._log(job, outcome, verdict, seconds)
        self.outcomes.append(outcome)

    def _log(self, job: ClaimedJob, outcome: Outcome, verdict: Verdict, seconds: float) -> None:
        log = job.log
        first_line = verdict.message.split("\n", 1)[0]
        if verdict.kind is Kind.LOST:
            log.warning("runner ended: {}", first_line)
        elif outcome.status == "completed":
            self.counts.completed += 1
            log.info("completed in {:.2f} s ({} insights)", seconds, len(outcome.insights))
        elif verdict.kind is Kind.INTERRUPTED:
            self.counts.interrupted += 1
            log.warning("{}: back to pending, no attempt spent", first_line)
        elif jobs.snoozed(job, verdict, outcome):
            self.counts.retried += 1
            log.info("{}: again in {:.1f} s, no attempt spent", first_line, outcome.delay)
            due = time.monotonic() + outcome.delay
            self.earliest_retry = min(due, self.earliest_retry or due)
        elif outcome.status == "pending":
            self.counts.retried += 1
            log.warning("attempt failed, retry in {:.1f} s: {}", outcome.delay, first_line)
            due = time.monotonic() + outcome.delay
            self.earliest_retry = min(due, self.earliest_retry or due)
        else:
            self.counts.failed += 1
            log.error("failed: {}", first_line)


def log_counts(counts: Counts) -> None:
    logger.info(
        "supervisor stopped: {} completed, {} failed, {} retried, {} returned to pending",
        counts.completed, counts.failed, counts.retried, counts.interrupted,
    )  # fmt: skip
