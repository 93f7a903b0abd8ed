"""Enqueue jobs from an application, on a connection it owns (psycopg2 or psycopg 3).

    from supervisor.api import enqueue

    with conn:                      # the caller's transaction
        job_id = enqueue(conn, "/data/uploads/sales.csv", description="Why are sales down?")

Nothing is committed here: the jobs become visible (and wake the supervisors) when the
caller commits. Statements: `sql/api.sql`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from supervisor import appconn
from supervisor.errors import JobsupError
from supervisor.queries import load

SQL = load("api.sql")
INT4 = (-(2**31), 2**31 - 1)


class UnknownFile(JobsupError, LookupError):
    """A `file_id` names no row in `files`: nothing was enqueued."""


class NewJob(TypedDict, total=False):
    """One job of `enqueue_many`: the keyword arguments of `enqueue`, `file_path` included.

    Give `file_path` (new rows in `files`) or `file_id` (rows the application has), each
    one or a list (a job over several files, in that order), or neither (no file).
    """

    file_path: str | Sequence[str]
    file_id: str | Sequence[str]
    original_name: str | Sequence[str]
    description: str
    job_type: str
    priority: int
    metadata: Mapping[str, Any]
    run_at: datetime
    delay: float
    # unique_key: the Scheduling issue's unique jobs add their key here, and in sql/api.sql.


def enqueue(
    conn: Any,
    file_path: str | Sequence[str] | None = None,
    *,
    file_id: str | Sequence[str] | None = None,
    description: str | None = None,
    job_type: str = "analysis",
    priority: int = 0,
    metadata: Mapping[str, Any] | None = None,
    run_at: datetime | None = None,
    delay: float = 0.0,
    original_name: str | Sequence[str] | None = None,
) -> str:
    """The id of a new pending job, in the caller's transaction.

    `file_path` registers new rows in `files` for the job; `file_id` uses rows the
    application already has (UnknownFile when one is missing; nothing is inserted then).
    Either may be a list: the handler gets the files in that order (`Job.files`).
    `run_at` (timezone-aware, or local time) and `delay` (seconds) postpone the first run;
    higher `priority` runs first.
    """
    given = {"file_path": file_path, "file_id": file_id, "original_name": original_name,
             "description": description, "job_type": job_type, "priority": priority,
             "metadata": metadata, "run_at": run_at, "delay": delay}  # fmt: skip
    return _insert(conn, [_checked(None, given)])[0]


def enqueue_many(conn: Any, jobs: Iterable[NewJob | Mapping[str, Any]]) -> list[str]:
    """The ids of new pending jobs, one per item of `jobs` and in its order, inserted (with
    their new `files` rows) in one statement in the caller's transaction: all of them, or
    none (UnknownFile when a `file_id` names no row). The supervisors are woken once per job
    type, when the caller commits."""
    return _insert(conn, [_checked(i, dict(job)) for i, job in enumerate(jobs)])


def _insert(conn: Any, checked: list[dict[str, Any]]) -> list[str]:
    if not checked:
        return []
    files: list[dict[str, Any]] = []
    for job in checked:
        job["id"] = str(uuid.uuid4())  # made here, so each id keeps its place in the list
        named = zip(job["file_path"], job["original_name"], strict=True)
        new = [{"id": str(uuid.uuid4()), "file_path": path, "original_name": name}
               for path, name in named]  # fmt: skip
        files += new
        job["file_ids"] = [f["id"] for f in new] or job["file_id"]
    document = json.dumps([_many_row(job) for job in checked], separators=(",", ":"))
    with conn.cursor() as cur:
        cur.execute(SQL["enqueue_many"], {"jobs": document, "files": json.dumps(files)})
        (counts,) = appconn.fetch(cur)
    if counts["missing"]:
        shown = ", ".join(counts["missing"])
        raise UnknownFile(f"no row in files has id {shown}: nothing enqueued")
    return [job["id"] for job in checked]


_KEYS = frozenset(NewJob.__annotations__)
_DEFAULTS: dict[str, Any] = {
    "file_path": None, "file_id": None, "original_name": None, "description": None,
    "job_type": "analysis", "priority": 0, "metadata": None, "run_at": None, "delay": 0.0,
}  # fmt: skip


def _checked(index: int | None, given: dict[str, Any]) -> dict[str, Any]:
    """`given` with its defaults (files as lists), or TypeError/ValueError naming the job
    (its index in the list of `enqueue_many`) and the key."""
    where = "enqueue" if index is None else f"job {index}"
    unknown = sorted(set(given) - _KEYS)
    if unknown:
        raise TypeError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    job = _DEFAULTS | {k: v for k, v in given.items() if v is not None}
    paths = _listed(job["file_path"], f"{where}: file_path")
    job["file_id"] = [_uuid(i, f"{where}: file_id") for i in _listed(job["file_id"], "")]
    if paths and job["file_id"]:
        raise ValueError(f"{where}: give file_path or file_id, not both")
    names = _listed(job["original_name"], f"{where}: original_name")
    if len(names) > len(paths):
        raise ValueError(f"{where}: more original names than files")
    job["file_path"], job["original_name"] = paths, names + [None] * (len(paths) - len(names))
    priority = job["priority"]
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"{where}: priority must be an int, got {type(priority).__name__}")
    if not INT4[0] <= priority <= INT4[1]:
        raise ValueError(f"{where}: priority {priority} out of range (a 32-bit integer)")
    delay = job["delay"]
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        raise ValueError(f"{where}: delay must be a number of seconds >= 0, got {delay!r}")
    if job["metadata"] is not None and not isinstance(job["metadata"], Mapping):
        raise TypeError(f"{where}: metadata must be a mapping (a JSON object)")
    if job["run_at"] is not None and not isinstance(job["run_at"], datetime):
        raise TypeError(f"{where}: run_at must be a datetime")
    return job


def _listed(value: Any, what: str) -> list[Any]:
    """One value or a list of them, as a list; a string is one value, not its letters."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike) or not isinstance(value, Iterable):
        return [str(value)] if isinstance(value, os.PathLike) else [value]
    values = [str(v) if isinstance(v, os.PathLike) else v for v in value]
    if what and not all(isinstance(v, str) and v for v in values):
        raise TypeError(f"{what}: expected a path or a list of paths, got {value!r}")
    return values


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a UUID") from None


def _many_row(job: dict[str, Any]) -> dict[str, Any]:
    run_at = _aware(job["run_at"])
    return {
        "id": job["id"],
        "file_ids": job["file_ids"],
        "description": job["description"],
        "job_type": job["job_type"],
        "priority": job["priority"],
        "metadata": dict(job["metadata"]) if job["metadata"] is not None else None,
        "run_at": run_at.isoformat() if run_at is not None else None,
        "delay": float(job["delay"]),
    }


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.astimezone()  # a naive time is the local time of the caller
