"""The configuration's shape: frozen dataclasses, one per TOML section, and what a job
type's settings mean for the claim (its cluster-wide cap) and for its retries.

`load` (config/load.py) builds a `Config` from a file, the environment and flags; the rules
across keys are config/rules.py's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.config.flow import RateLimit
from supervisor.scheduling import periodic


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    statement_timeout: float = 30.0
    connect_timeout: float = 10.0
    synchronous_commit: bool = True
    # "session" / "transaction": the URL reaches PgBouncer (or another pooler) in that pool
    # mode: no startup `options`; in transaction mode no session state at all.
    pooler: str = "none"
    listen_url: str = ""  # transaction pooler: a direct URL for LISTEN (else: polling)


@dataclass(frozen=True)
class SupervisorConfig:
    concurrency: int = 0
    interval: float = 30.0
    listen: bool = True
    heartbeat_interval: float = 5.0
    stale_after: float = 60.0
    lease_timeout: float = 0.0  # 0: three quarters of stale_after
    on_lost_lease: str = "kill"
    orphan_after: float = 3600.0
    drain_timeout: float = 60.0
    kill_timeout: float = 10.0
    job_types: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    result_max_kb: int = 16384
    state_dir: str = ".jobsup"

    @property
    def slots(self) -> int:
        """The number of runners to keep busy: `concurrency`, or the CPU count when it is 0."""
        return self.concurrency or os.cpu_count() or 1

    @property
    def lease_after(self) -> float:
        """Seconds without a renewed heartbeat after which this supervisor fences itself:
        `lease_timeout`, or three quarters of `stale_after`, so that it has stopped before
        its peers may declare it dead."""
        return self.lease_timeout or 0.75 * self.stale_after


@dataclass(frozen=True)
class RetryConfig:
    max_retries: int = 3
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    on_memory_limit: str = "retry"
    on_time_limit: str = "retry"
    # Exception class names a handler's failure is retried for (a base class name matches
    # its subclasses); empty: every exception. Crashes and limit kills are not exceptions.
    retry_on: tuple[str, ...] = ()
    # How often a handler may raise runner.Retry(delay=…) without spending an attempt.
    max_snoozes: int = 10


@dataclass(frozen=True)
class Limits:
    """Per-runner limits; 0 means no limit."""

    memory_mb: int = 1024
    # pss: pages shared between a runner and its forked children count once, not per child.
    memory_metric: str = "pss"
    check_interval: float = 0.1
    hard_memory: bool = False
    soft_time_limit: float = 0.0
    time_limit: float = 3600.0
    max_processes: int = 0
    max_memory_mb: int = 0


@dataclass(frozen=True)
class JobType:
    handler: str
    limits: Limits = field(default_factory=Limits)
    retry: RetryConfig = field(default_factory=RetryConfig)  # [retry], with this type's keys
    max_running: int = 0  # at most this many running at once across all supervisors; 0: any
    rate_limit: RateLimit | None = None  # at most this many started per period; None: any


# The keys of a [job_types.<name>] table beside its handler and its [limits] keys.
JOB_TYPE_RETRY_KEYS = tuple(f.name for f in dataclasses.fields(RetryConfig))


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    file: str = ""
    json: bool = False
    rotation: str = "100 MB"
    retention: int = 10
    output_limit_kb: int = 1024


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = ""


@dataclass(frozen=True)
class WebConfig:
    listen: str = ""  # "": `jobsup start` serves no dashboard, `jobsup web` 127.0.0.1:8080
    token_env: str = "JOBSUP_WEB_TOKEN"
    refresh: float = 2.0  # seconds between refreshes of the live pages


@dataclass(frozen=True)
class AiConfig:
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 30.0


# What a runner's environment holds by default: enough to find Python, its packages and the
# locale; never the database URL (see supervisor.runners.runenv).
RUNNER_ENV = ("PATH", "HOME", "LANG", "LC_*", "TZ", "TMPDIR", "PYTHON*", "VIRTUAL_ENV")


@dataclass(frozen=True)
class RunnerConfig:
    """Who runners are and what they see (least privilege)."""

    env: tuple[str, ...] = RUNNER_ENV  # variables passed through; a trailing * matches a prefix
    set: Mapping[str, str] = field(default_factory=dict)  # fixed variables added
    user: str = ""  # a root supervisor's runners drop to this user ...
    group: str = ""  # ... and group (default: the user's own)
    allow_root: bool = False  # let a root supervisor run runners as root
    # Runners' nice value above the supervisor's: CPU-bound runners cannot starve the loop
    # that samples their memory (7 hogs on 2 cores overshot a 200 MiB limit 2.5 times at 0).
    nice: int = 10


@dataclass(frozen=True)
class RetentionConfig:
    """How long finished jobs are kept, by status, in seconds (the file may say "14d"; 0
    keeps them for ever), and how the supervisors prune the older ones: one at a time (an
    advisory lock), `batch_size` jobs per transaction, for at most `budget` seconds of the
    database thread every `interval` seconds, so that a claim never waits long behind it."""

    completed: float = 14 * 86400.0
    failed: float = 30 * 86400.0
    cancelled: float = 7 * 86400.0
    batch_size: int = 500
    budget: float = 0.2
    interval: float = 60.0

    def ages(self) -> dict[str, float]:
        """status: seconds after its end a job is deleted, for the statuses pruned."""
        kept = {"completed": self.completed, "failed": self.failed, "cancelled": self.cancelled}
        return {status: age for status, age in kept.items() if age > 0}


@dataclass(frozen=True)
class FilesConfig:
    root: str = ""  # a job's files must resolve inside this directory; "" = anywhere


BUILTIN_JOB_TYPES = {
    "analysis": "runner.insights:analysis",
    # A batch's then-job: the analysed files' insights combined (runner/report.py).
    "analysis.report": "runner.report:report",
}


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    limits: Limits = field(default_factory=Limits)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ai: AiConfig = field(default_factory=AiConfig)
    web: WebConfig = field(default_factory=WebConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    job_types: Mapping[str, JobType] = field(default_factory=dict)
    periodic: Mapping[str, periodic.Schedule] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return Path(self.supervisor.state_dir).expanduser().absolute()

    def served(self, chosen: Sequence[str] = ()) -> tuple[str, ...]:
        """The job types a supervisor of this configuration claims, always a list: those it
        can run (`[job_types]`, `analysis` built in), narrowed to `chosen` (`--job-type`)
        or else to `[supervisor] job_types` when either is given. A type it cannot run is
        never claimed: in a mixed fleet its jobs wait for a supervisor that serves it."""
        narrowed = chosen or self.supervisor.job_types or tuple(self.job_types)
        return tuple(name for name in dict.fromkeys(narrowed) if name in self.job_types)


SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseConfig,
    "supervisor": SupervisorConfig,
    "retry": RetryConfig,
    "limits": Limits,
    "logging": LoggingConfig,
    "metrics": MetricsConfig,
    "ai": AiConfig,
    "web": WebConfig,
    "runner": RunnerConfig,
    "files": FilesConfig,
    "retention": RetentionConfig,
}

# Command-line overrides are keyed "section.key", e.g. {"supervisor.interval": 10}.
Overrides = Mapping[str, Any]


# Cluster-wide caps: `[job_types.<name>] max_running = N`, enforced in the claim.
# How (see `claim_lock_caps` and `claim` in sql/queries.sql): a supervisor serving capped
# types sends, in the one string of its claim, a transaction-level advisory lock per capped
# type before the claim statement itself. Claims of a capped type so take turns across
# supervisors for the few milliseconds of a claim (never across jobs: the lock goes with the
# claim's commit), and each counts the type's running jobs in a snapshot taken after its
# turn came, so it sees every job a peer claimed before it.
# pg_advisory_xact_lock(CAP_LOCK, hashtext(job_type)): its own key space beside the
# migration lock's (schema.MIGRATE_LOCK, one bigint).
CAP_LOCK = 0x63617073  # "caps"


def caps(config: Config, job_types: Sequence[str]) -> dict[str, int]:
    """The capped job types among those served: job type: max_running."""
    return {
        name: t.max_running
        for name, t in config.job_types.items()
        if t.max_running and name in job_types
    }


def rates(config: Config, job_types: Sequence[str]) -> dict[str, RateLimit]:
    """The rate-limited job types among those served: job type: its limit."""
    return {
        name: t.rate_limit
        for name, t in config.job_types.items()
        if t.rate_limit is not None and name in job_types
    }


def cap_params(capped: Mapping[str, int] | None) -> dict[str, object]:
    """The caps as the claim's parameters."""
    capped = capped or {}
    return {"cap_lock": CAP_LOCK, "cap_types": list(capped), "cap_limits": list(capped.values())}


# A job type's retry policy: `[retry]` holds the defaults; a `[job_types.<name>]` table may
# set any of its keys for that type alone (see `JobType.retry`).
def retry_for(config: Config, job_type: str) -> RetryConfig:
    """The retry policy of `job_type`: its own keys over [retry] (not configured: [retry])."""
    configured = config.job_types.get(job_type)
    return configured.retry if configured is not None else config.retry


def retries_exception(retry: RetryConfig, exception: Sequence[str]) -> bool:
    """Whether a handler's exception is worth another attempt under `retry_on`: `exception` is
    its class name, then its bases' (a name in retry_on matches its subclasses too). An empty
    retry_on retries every exception; so does a failure that names no class."""
    return not retry.retry_on or not exception or any(n in retry.retry_on for n in exception)
