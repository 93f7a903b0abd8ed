"""From a claimed job to what a runner is given, and the figures kept about each attempt."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.job import Job, RunnerSpec
from supervisor import limits
from supervisor.config import Config, Limits
from supervisor.errors import ConfigError
from supervisor.outcome import Kind, Verdict
from supervisor.runners import Runner
from supervisor.store import ClaimedJob, Outcome
from supervisor.worker import Identity

MB = 1 << 20


@dataclass(frozen=True)
class Launch:
    spec: RunnerSpec
    limits: Limits


def check_handlers(config: Config) -> None:
    """ConfigError naming the first job type whose handler module cannot be found."""
    for name, job_type in config.job_types.items():
        module = job_type.handler.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package that does not exist
            found = False
        if not found:
            raise ConfigError(
                f"{config.path or 'configuration'}: [job_types.{name}] handler "
                f"{job_type.handler!r}: no module named {module!r} on this Python's path"
            )


def preload(config: Config) -> None:
    """Import the handlers shipped with jobsup (runner.*) once, in the supervisor, so a runner
    starts without importing them. Other handler modules are imported in each runner: a
    broken or heavy module of an application then cannot harm the supervisor."""
    for job_type in config.job_types.values():
        module = job_type.handler.partition(":")[0]
        if module.startswith("runner."):
            importlib.import_module(module)


def launch(
    job: ClaimedJob, config: Config, parent_pid: int, inherited_fds: tuple[int, ...] = ()
) -> Launch | str:
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
        parent_pid=parent_pid,
        inherited_fds=inherited_fds,
        result_max_bytes=config.supervisor.result_max_kb * 1024,
        hard_memory_bytes=job_limits.memory_mb * MB if job_limits.hard_memory else None,
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
        max_attempts=config.retry.max_retries + 1,
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
        "outcome": _attempt_outcome(verdict, outcome),
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


def _attempt_outcome(verdict: Verdict, outcome: Outcome) -> str:
    if verdict.kind is Kind.INTERRUPTED:
        return "interrupted"
    return "retry" if outcome.status == "pending" else outcome.status


def figures(runner: Runner, now: float, max_attempts: int) -> dict[str, Any]:
    """What `jobsup ps` shows of a runner (kept in jobsup_workers.runners)."""
    return {
        "job_id": runner.job_id,
        "job_type": runner.job.job_type,
        "pid": runner.pid,
        "state": runner.state.value,
        "elapsed": round(runner.elapsed(now), 1),
        "rss_mb": round(runner.memory / MB, 1),
        "peak_rss_mb": round(runner.peak_memory / MB, 1),
        "memory_metric": runner.limits.memory_metric,
        "memory_limit_mb": runner.limits.memory_mb,
        "cpu_seconds": round(runner.cpu_seconds, 2),
        "processes": runner.processes,
        "attempt": runner.job.attempt,
        "max_attempts": max_attempts,
    }
