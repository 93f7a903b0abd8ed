"""From a claimed row to a job: every field the supervisor reads, validated in one place.

A row is written by whatever application inserts it, so any field may hold anything its
column type allows. Nothing in a row may raise out of the supervisor's loop: a row that
cannot be run becomes `Unusable`, and that job alone fails (no retry) with a reason naming
the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supervisor.logs import job_logger

SHOWN = 40  # characters of a bad value quoted in a reason


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    lease: int  # the claim's fencing token: every write about this attempt carries it
    job_type: str
    business_description: str | None
    metadata: Mapping[str, Any]
    retry_count: int
    file_path: str | None
    has_file: bool
    priority: int = 0
    more_files: tuple[str, ...] = ()  # after file_path, in order (more_file_ids)
    snoozes: int = 0  # times runner.Retry put it back without spending an attempt
    file_name: str | None = None  # files.original_name of file_path (None: not recorded)
    more_names: tuple[str | None, ...] = ()  # the same of more_files, in order
    parents: tuple[Mapping[str, Any], ...] = ()  # the jobs it waited for (`claimed_parents`)
    batch_id: str | None = None
    steps: Mapping[str, Any] = field(default_factory=dict)  # durable steps done before
    trace_context: str | None = None  # the enqueuer's W3C traceparent

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of the job, in order: what its handler gets as `Job.files`."""
        return ((self.file_path,) if self.file_path else ()) + self.more_files

    @property
    def file_names(self) -> tuple[str, ...]:
        """What each of `files` is called (`Job.file_names`): the name it was uploaded under,
        else its stored file's name."""
        names = ((self.file_name,) if self.file_path else ()) + self.more_names
        names += (None,) * (len(self.files) - len(names))
        shown = zip(self.files, names[: len(self.files)], strict=True)
        return tuple(name or os.path.basename(path) for path, name in shown)

    @property
    def attempt(self) -> int:
        return self.retry_count + 1

    @property
    def log(self) -> Any:
        """The logger for everything about this attempt: its lines carry job, type, attempt."""
        return job_logger(self.id, self.job_type, self.attempt)


@dataclass(frozen=True)
class Unusable:
    """A claimed row that cannot be run: it fails at once with `reason`."""

    job: ClaimedJob  # with safe stand-ins for the bad fields, for logging and writing back
    reason: str


def from_row(row: tuple[Any, ...]) -> ClaimedJob | Unusable:
    """The job a claimed row (see `claim` in sql/queries.sql) describes, or why it is unusable."""
    (job_id, lease, job_type, description, metadata, retry_count, file_path, has_file, priority,
     more_files) = row[:10]  # fmt: skip
    snoozes = row[10] if len(row) > 10 else 0
    file_name, more_names = row[11:13] if len(row) > 12 else (None, None)
    parents, batch_id = row[13:15] if len(row) > 14 else (None, None)
    steps, trace_context = row[15:17] if len(row) > 16 else ({}, None)
    problems = [
        _problem_of_type(job_type),
        _problem_of_metadata(metadata),
        _problem_of_retry_count(retry_count),
        _problem_of_file(file_path, has_file),
        _problem_of_more_files(more_files),
    ]
    job = ClaimedJob(
        id=str(job_id),
        lease=int(lease),
        job_type=job_type if isinstance(job_type, str) and job_type.strip() else "(empty)",
        business_description=description if isinstance(description, str) else None,
        metadata=metadata if isinstance(metadata, dict) else {},
        retry_count=retry_count if isinstance(retry_count, int) and retry_count >= 0 else 0,
        file_path=file_path if isinstance(file_path, str) and file_path else None,
        has_file=bool(has_file),
        priority=priority if isinstance(priority, int) else 0,
        more_files=tuple(p for p in more_files or () if isinstance(p, str) and p.strip()),
        snoozes=snoozes if isinstance(snoozes, int) else 0,
        file_name=_name(file_name),
        more_names=tuple(_name(n) for n in more_names or ()),
        parents=tuple(p for p in parents or () if isinstance(p, dict)),
        batch_id=batch_id if isinstance(batch_id, str) else None,
        steps=steps if isinstance(steps, dict) else {},
        trace_context=trace_context if isinstance(trace_context, str) else None,
    )
    reasons = [p for p in problems if p]
    return Unusable(job, "; ".join(reasons)) if reasons else job


def _name(original_name: Any) -> str | None:
    """A file's original_name as a name to show (None: none recorded, or blank). It only
    names the file, so no value of it is a problem."""
    if not isinstance(original_name, str) or not original_name.strip():
        return None
    return " ".join(original_name.split())  # no line breaks or tabs in titles


def _problem_of_type(job_type: Any) -> str | None:
    if not isinstance(job_type, str) or not job_type.strip():
        return f"job_type: expected a job type name, got {shown(job_type)}"
    return None


def _problem_of_metadata(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return f"metadata: expected a JSON object, got {json_value(metadata)}"
    memory = metadata.get("memory_mb")
    if memory is not None and not _positive_number(memory):
        return f"metadata.memory_mb: expected a positive number of MiB, got {shown(memory)}"
    return None


def _problem_of_retry_count(retry_count: Any) -> str | None:
    if not isinstance(retry_count, int) or retry_count < 0:
        return f"retry_count: expected 0 or more, got {shown(retry_count)}"
    return None


def _problem_of_file(file_path: Any, has_file: Any) -> str | None:
    if has_file and file_path is None:
        return "file_id: names no row in files"
    if has_file and (not isinstance(file_path, str) or not file_path.strip()):
        return f"files.file_path: expected a path, got {shown(file_path)}"
    return None


def _problem_of_more_files(paths: Any) -> str | None:
    for i, path in enumerate(paths or (), start=1):
        if path is None:
            return f"more_file_ids[{i}]: names no row in files"
        if not isinstance(path, str) or not path.strip():
            return f"files.file_path of more_file_ids[{i}]: expected a path, got {shown(path)}"
    return None


def _positive_number(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def json_value(value: Any) -> str:
    """`value` as JSON names it: `array [1]`, `string 'x'`, `number 42`, `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    kind = "number" if isinstance(value, int | float) else names.get(type(value), "value")
    return f"{kind} {shown(value)}"


def shown(value: Any) -> str:
    """`value` as a reason quotes it: repr, cut to SHOWN characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
