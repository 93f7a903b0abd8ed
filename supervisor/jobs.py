"""From a claimed job to what a runner is given, and the figures kept about each attempt."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.job import Job, RunnerSpec
from supervisor import limits, privileges
from supervisor.config import Config, Limits
from supervisor.errors import ConfigError
from supervisor.jobrow import ClaimedJob
from supervisor.outcome import Kind, Verdict
from supervisor.retry_policy import retry_for
from supervisor.runners import KillReason, Runner
from supervisor.store import Outcome
from supervisor.worker import Identity

MB = 1 << 20


@dataclass(frozen=True)
class Launch:
    spec: RunnerSpec
    limits: Limits


def check_handlers(config: Config) -> None:
    """ConfigError naming the first handler or preload module that cannot be found, or why
    runners could not run as configured (`supervisor.privileges`)."""
    where = config.path or "configuration"
    for name, job_type in config.job_types.items():
        module = job_type.handler.partition(":")[0]
        if not _findable(module):
            raise ConfigError(
                f"{where}: [job_types.{name}] handler {job_type.handler!r}: "
                f"no module named {module!r} on this Python's path"
            )
    for module in config.supervisor.preload:
        if not _findable(module):
            raise ConfigError(
                f"{where}: [supervisor] preload: no module named {module!r} on this Python's path"
            )
    privileges.check(config)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that does not exist
        return False


def preload(config: Config, served: Sequence[str] | None) -> list[str]:
    """The modules the fork server imports once, so runners start without importing them:
    the handlers shipped with jobsup (runner.*) of the job types served (None: all), and
    the configured `preload`. Other handler modules are imported in each runner: one that
    starts threads or opens connections at import must stay out of the server."""
    types = [config.job_types[t] for t in served or config.job_types if t in config.job_types]
    modules = {t.handler.partition(":")[0] for t in types}
    own = {m for m in modules if m.startswith("runner.")}
    return sorted(own | set(config.supervisor.preload))


def launch(job: ClaimedJob, config: Config, log_level: str) -> Launch | str:
    """How to run `job`, or why it cannot run at all (then it fails without retry)."""
    job_type = config.job_types.get(job.job_type)
    if job_type is None:
        known = ", ".join(sorted(config.job_types))
        return f"unknown job type '{job.job_type}' (configured: {known})"
    if job.has_file and job.file_path is None:
        return "the job's file_id names no row in files"
    job_limits = limits.for_job(job_type.limits, job.metadata)
    spec = RunnerSpec(
        job=_runner_job(job, config, job_limits),
        handler=job_type.handler,
        parent_pid=0,  # the fork server's pid, set when it is sent
        result_max_bytes=config.supervisor.result_max_kb * 1024,
        hard_memory_bytes=job_limits.memory_mb * MB if job_limits.hard_memory else None,
        log_level=log_level,
        files_root=privileges.files_root(config),
        run_as=privileges.run_as(config),
    )
    return Launch(spec, job_limits)


def _runner_job(job: ClaimedJob, config: Config, job_limits: Limits) -> Job:
    settings = {"ai": dataclasses.asdict(config.ai)} if config.ai.base_url else {}
    return Job(
        id=job.id,
        type=job.job_type,
        files=(job.file_path,) if job.file_path else (),
        business_description=job.business_description,
        metadata=job.metadata,
        attempt=job.attempt,
        max_attempts=retry_for(config, job.job_type).max_retries + 1,
        lease=job.lease,
        memory_limit_mb=job_limits.memory_mb or None,
        settings=settings,
    )


def attempt_record(
    job: ClaimedJob, verdict: Verdict, outcome: Outcome, me: Identity, runner: Runner | None
) -> dict[str, Any]:
    """One entry of processing_jobs.attempts (a job that never got a runner has no figures)."""
    record: dict[str, Any] = {
        "attempt": job.attempt,
        "worker": me.id,
        "host": me.host,
        "outcome": _attempt_outcome(job, verdict, outcome, runner),
        "error": verdict.message.split("\n", 1)[0] or None,
    }
    if runner is not None:
        record |= {
            "pid": runner.pid,
            "started": _iso(runner.started_wall),
            "seconds": round(runner.elapsed(time.monotonic()), 3),
            "peak_memory_mb": round(runner.peak_memory / MB, 1),
            "cpu_seconds": round(runner.cpu_seconds, 3),
        }
        if runner.killed_at is not None:
            record["killed_at"] = _iso(runner.killed_at)
    return record


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _attempt_outcome(
    job: ClaimedJob, verdict: Verdict, outcome: Outcome, runner: Runner | None
) -> str:
    if verdict.kind is Kind.INTERRUPTED:
        return "interrupted"
    if verdict.kind is Kind.LOST:
        cancelled = runner is not None and runner.reason is KillReason.CANCELLED
        return "cancelled" if cancelled else "lost"
    if snoozed(job, verdict, outcome):
        return "snoozed"  # counted by the claim against max_snoozes
    return "retry" if outcome.status == "pending" else outcome.status or "lost"


def snoozed(job: ClaimedJob, verdict: Verdict, outcome: Outcome) -> bool:
    """Whether `outcome` puts `job` back after a runner.Retry without spending an attempt."""
    unspent = outcome.status == "pending" and outcome.retry_count == job.retry_count
    return verdict.kind is Kind.SNOOZED and unspent


def figures(runner: Runner, now: float, max_attempts: int) -> dict[str, Any]:
    """What `jobsup ps` shows of a runner (kept in jobsup_workers.runners)."""
    return {
        "job_id": runner.job_id,
        "lease": runner.job.lease,
        "job_type": runner.job.job_type,
        "pid": runner.pid,
        "state": runner.state.value,
        "elapsed": round(runner.elapsed(now), 1),
        "rss_mb": round(runner.memory / MB, 1),
        "peak_rss_mb": round(runner.peak_memory / MB, 1),
        "memory_metric": runner.memory_metric,  # pss or uss only once RSS nears the limit
        "memory_limit_mb": runner.limits.memory_mb,
        "cpu_seconds": round(runner.cpu_seconds, 2),
        "processes": runner.processes,
        "attempt": runner.job.attempt,
        "max_attempts": max_attempts,
    }
