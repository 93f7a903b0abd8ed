"""From a claimed job to what its runner is given: the spec sent to the fork server and the
limits the supervisor holds the runner to."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.job import Job, Parent, RunnerSpec
from supervisor.config import Config, Limits
from supervisor.config.model import retry_for
from supervisor.runners import limits, privileges
from supervisor.runners.jobrow import ClaimedJob
from supervisor.runners.state import MB


@dataclass(frozen=True)
class Launch:
    spec: RunnerSpec
    limits: Limits


@dataclass(frozen=True)
class NotServed:
    """A job of a type this supervisor cannot run (a SIGHUP removed it between the claim
    and the start): it goes back to pending for a supervisor that serves it, never fails."""

    why: str


def launch(job: ClaimedJob, config: Config, log_level: str) -> Launch | NotServed | str:
    """How to run `job`, that it is not ours to run, or why it cannot run at all (then it
    fails without retry)."""
    job_type = config.job_types.get(job.job_type)
    if job_type is None:
        known = ", ".join(sorted(config.job_types))
        return NotServed(f"job type '{job.job_type}' is not served here (configured: {known})")
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
        nice=config.runner.nice,
    )
    return Launch(spec, job_limits)


def handler_settings(config: Config) -> dict[str, Any]:
    """The configuration a handler gets (`Job.settings`): the [ai] section when it is set."""
    return {"ai": dataclasses.asdict(config.ai)} if config.ai.base_url else {}


def _runner_job(job: ClaimedJob, config: Config, job_limits: Limits) -> Job:
    return Job(
        id=job.id,
        type=job.job_type,
        files=job.files,
        file_names=job.file_names,
        business_description=job.business_description,
        metadata=job.metadata,
        attempt=job.attempt,
        max_attempts=retry_for(config, job.job_type).max_retries + 1,
        lease=job.lease,
        memory_limit_mb=job_limits.memory_mb or None,
        settings=handler_settings(config),
        parents=tuple(_parent(p) for p in job.parents),
        batch_id=job.batch_id,
        steps=job.steps,
        trace_context=job.trace_context,
    )


def _parent(row: Mapping[str, Any]) -> Parent:
    """A parent as `claimed_parents` describes it (its own statement's JSON: trusted)."""
    return Parent(
        id=str(row["id"]), type=str(row["type"]), status=str(row["status"]),
        error=row.get("error"), description=row.get("description"),
        file_name=row.get("file_name"), insights=tuple(row.get("insights") or ()),
    )  # fmt: skip
