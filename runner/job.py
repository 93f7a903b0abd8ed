"""The plain data a runner receives: the job, and how to run it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner import flow


@dataclass(frozen=True)
class Parent:
    """A job this one waited for (`Job.parents`), as it ended: a then-job of a batch gets
    one per job of the batch, a job enqueued with `after=` one per parent."""

    id: str
    type: str
    status: str  # completed | failed | cancelled (pending or processing: retried since)
    error: str | None = None  # the first line of its error
    description: str | None = None
    file_name: str | None = None  # its first file's original name (else its path)
    insights: tuple[Mapping[str, Any], ...] = ()  # as written: insight_type, content, …

    @property
    def insights_count(self) -> int:
        return len(self.insights)


@dataclass(frozen=True)
class Job:
    """What a handler is called with."""

    id: str
    type: str
    files: tuple[str, ...] = ()
    business_description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    max_attempts: int = 1
    # The claim's fencing token: another run of the same job (after a reclaim) has another.
    lease: int = 0
    # The runner's memory limit, so a handler can size its own buffers (DuckDB, caches).
    memory_limit_mb: int | None = None
    # Global handler settings from the config file, e.g. {"ai": {...}}.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # What each of `files` is called, in their order: the name it was uploaded under
    # (files.original_name), else the stored file's own name (the default for all).
    file_names: tuple[str, ...] = ()
    # The jobs it waited for (enqueue's `after=`, a batch's then-job), oldest first.
    parents: tuple[Parent, ...] = ()
    batch_id: str | None = None  # the batch it belongs to (or whose then-job it is)
    # The results of the durable steps earlier attempts finished, by name (`step`).
    steps: Mapping[str, Any] = field(default_factory=dict)
    # The W3C traceparent of the code that enqueued the job (None: not traced).
    trace_context: str | None = None

    def progress(self, done: float, total: float | None = None, note: str = "") -> None:
        """Report how far the job is ("page 12 of 80"): stored on the job at most once a
        second, the last value always; shown by `jobs show`, `ps`, the dashboard, `wait`."""
        flow.progress(done, total, note)

    def step(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`'s JSON result, run once for this job: stored with the job
        before it is returned, and returned without running `fn` again on a later attempt
        (after a kill, a time limit, a retry). Raises `runner.flow.StepError` for a result
        that is not JSON or over 1 MiB."""
        return flow.step(self.steps, name, fn, args, kwargs)

    def __post_init__(self) -> None:
        if not self.file_names:
            names = tuple(os.path.basename(path) for path in self.files)
            object.__setattr__(self, "file_names", names)  # frozen: set once, here
        elif len(self.file_names) != len(self.files):
            raise ValueError(
                f"file_names: {len(self.file_names)} names for {len(self.files)} files"
            )


@dataclass(frozen=True)
class RunAs:
    """The user a runner becomes before its handler is loaded (from `[runner] user`)."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, as initgroups(3) would set them
    home: str


@dataclass(frozen=True)
class RunnerSpec:
    """Everything a runner needs, handed over (pickled) by the supervisor."""

    job: Job
    handler: str  # "module:function"
    parent_pid: int  # the process that forks it (the fork server)
    result_max_bytes: int = 16 << 20
    # Kernel backstop (hard_memory): RLIMIT_AS lets the runner hold this much more memory
    # than at start before allocations fail (None: no kernel limit).
    hard_memory_bytes: int | None = None
    log_level: str = "INFO"  # for the handler's loguru lines
    files_root: str | None = None  # `[files] root`: the job's files must resolve inside it
    run_as: RunAs | None = None  # None: stay who the fork server is
    # Added to the runner's nice value: under CPU contention the supervisor that samples and
    # kills runners is scheduled before them (`[runner] nice`).
    nice: int = 0
