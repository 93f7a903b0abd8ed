"""Enqueue jobs from an application, on a connection it owns (psycopg2 or psycopg 3).

    from supervisor.api import enqueue

    with conn:                      # the caller's transaction
        job_id = enqueue(conn, "/data/uploads/sales.csv", description="Why are sales down?")

Nothing is committed here: the jobs become visible (and wake the supervisors) when the
caller commits. Statements: `sql/api.sql`. With `unique_key=`, a job not yet finished under
the same key stands for the new one: its id is returned and nothing is inserted for it (the
key is free again once that job has ended).
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from supervisor.client import appconn, edges, tracing
from supervisor.client.edges import UnknownParent
from supervisor.db.queries import load
from supervisor.errors import JobsupError

SQL = load("api.sql")
INT4 = (-(2**31), 2**31 - 1)
UNIQUE_TRIES = 5  # rounds for jobs whose key a concurrent transaction took meanwhile


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
    unique_key: str  # no new job while one not yet finished holds this key: that one's id
    fair_key: str  # fair share: jobs of one type and priority take turns across these keys
    after: Sequence[Any]  # parents: job ids, indexes in the list, {"job":…, "on_parent_failure":…}
    on_parent_failure: str  # "fail" (the default) or "run": when a parent fails or is cancelled


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    created: bool  # False: an unfinished job held the unique key; `job_id` is that job's


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
    unique_key: str | None = None,
    fair_key: str | None = None,
    after: Sequence[Any] | None = None,
    on_parent_failure: str = "fail",
) -> str:
    """The id of a new pending job, in the caller's transaction; with `unique_key`, the id of
    the unfinished job holding that key if there is one (nothing is inserted then).

    `file_path` registers new rows in `files` for the job; `file_id` uses rows the
    application already has (UnknownFile when one is missing; nothing is inserted then).
    Either may be a list: the handler gets the files in that order (`Job.files`).
    `run_at` (timezone-aware, or local time) and `delay` (seconds) postpone the first run;
    higher `priority` runs first. `after` (job ids) makes it wait, pending, until each of
    those jobs has ended; when one fails or is cancelled, `on_parent_failure="fail"` ends it
    failed without running, "run" runs it all the same (UnknownParent for an id that names
    no job; nothing is inserted then). `fair_key` (a customer, a tenant): among runnable jobs of
    its type and priority, the supervisors take one job of each key in turn, so a key with
    1,000 jobs waiting does not hold back a key with 1.
    """
    given = {"file_path": file_path, "file_id": file_id, "original_name": original_name,
             "description": description, "job_type": job_type, "priority": priority,
             "metadata": metadata, "run_at": run_at, "delay": delay,
             "unique_key": unique_key, "fair_key": fair_key, "after": after,
             "on_parent_failure": on_parent_failure}  # fmt: skip
    return enqueue_or_find(conn, **given).job_id


def enqueue_or_find(conn: Any, **job: Any) -> Enqueued:
    """As `enqueue` (the same keywords), saying also whether the job is a new one."""
    return _insert(conn, [_checked(None, job)])[0]


def enqueue_many(conn: Any, jobs: Iterable[NewJob | Mapping[str, Any]]) -> list[str]:
    """The ids of new pending jobs, one per item of `jobs` and in its order, inserted (with
    their new `files` rows) in one statement in the caller's transaction: all of them, or
    none (UnknownFile when a `file_id` names no row). The supervisors are woken once per job
    type, when the caller commits. A job's `after` may name others of the list by index
    (a cycle is refused: ValueError)."""
    return [e.job_id for e in insert_checked(conn, check_many(jobs))]


def check_many(jobs: Iterable[NewJob | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The jobs of `enqueue_many` checked, with their defaults (TypeError/ValueError)."""
    listed = [dict(job) for job in jobs]
    checked = [_checked(i, job, len(listed)) for i, job in enumerate(listed)]
    edges.refuse_cycles(checked)
    edges.refuse_keyed_parents(checked)
    return checked


def insert_checked(conn: Any, checked: list[dict[str, Any]]) -> list[Enqueued]:
    """Insert jobs of `check_many` (a caller may add a `batch_id` to each)."""
    return _insert(conn, checked)


def _insert(conn: Any, checked: list[dict[str, Any]]) -> list[Enqueued]:
    """Each job's id (and whether it is new); a job whose unique key an unfinished job holds
    gets that job's id, a later one in the list with the key of an earlier one the earlier's."""
    found: dict[int, Enqueued] = {}
    first_with_key: dict[str, int] = {}
    todo = []
    for n, job in enumerate(checked):
        key = job["unique_key"]
        if key is not None and key in first_with_key:
            continue  # resolved below, once the first one is
        if key is not None:
            first_with_key[key] = n
        todo.append(n)
    for _ in range(UNIQUE_TRIES):
        found |= _insert_round(conn, [(n, checked[n]) for n in todo], checked)
        todo = [n for n in todo if n not in found]
        if not todo:
            break
    else:
        raise JobsupError("unique keys kept changing hands while enqueuing; try again")
    for n, job in enumerate(checked):
        if n not in found:
            found[n] = dataclasses.replace(found[first_with_key[job["unique_key"]]],
                                           created=False)  # fmt: skip
    return [found[n] for n in range(len(checked))]


def _insert_round(
    conn: Any, numbered: list[tuple[int, dict[str, Any]]], every: list[dict[str, Any]]
) -> dict[int, Enqueued]:
    """One statement for the jobs of `numbered` (their place in the list `every`, the job);
    those it settled: inserted, or held by an unfinished job with their key. One whose key a
    concurrent transaction took after the statement began is left for another round."""
    checked = [job for _, job in numbered]
    if not checked:
        return {}
    files: list[dict[str, Any]] = []
    ids = _new_ids(len(checked) + sum(len(job["file_path"]) for job in checked))
    for job in checked:
        job["id"] = next(ids)  # made here, so each id keeps its place in the list
        if not job["file_path"]:
            job["file_ids"] = job["file_id"]
            continue
        named = zip(job["file_path"], job["original_name"], strict=True)
        new = [{"id": next(ids), "file_path": path, "original_name": name}
               for path, name in named]  # fmt: skip
        files += new
        job["file_ids"] = [f["id"] for f in new]
    trace = tracing.traceparent()  # the caller's span: each job's run is a child of it
    rows = [_many_row(job) | {"trace_context": trace} for job in checked]
    document = json.dumps(rows, separators=(",", ":"))
    parents = json.dumps(edges.rows(every, checked), separators=(",", ":"))
    with conn.cursor() as cur:
        cur.execute(SQL["enqueue_many"],
                    {"jobs": document, "files": json.dumps(files), "edges": parents})  # fmt: skip
        (counts,) = appconn.fetch(cur)
    if counts["unknown_parents"]:
        shown = ", ".join(counts["unknown_parents"])
        raise UnknownParent(f"after: no job has id {shown}: nothing enqueued")
    if counts["missing"]:
        shown = ", ".join(counts["missing"])
        raise UnknownFile(f"no row in files has id {shown}: nothing enqueued")
    if len(counts["created"]) == len(numbered):  # every one inserted (no key was held)
        return {n: Enqueued(job["id"], True) for n, job in numbered}
    created, held = set(counts["created"]), counts["held"] or {}
    settled = {}
    for n, job in numbered:
        if job["id"] in created:
            settled[n] = Enqueued(job["id"], True)
        elif job["id"] in held:
            settled[n] = Enqueued(held[job["id"]], False)
    return settled


ANALYSIS = "analysis"  # the built-in job type: its handler fails at once without a file
_KEYS = frozenset(NewJob.__annotations__)
_DEFAULTS: dict[str, Any] = {
    "file_path": None, "file_id": None, "original_name": None, "description": None,
    "job_type": "analysis", "priority": 0, "metadata": None, "run_at": None, "delay": 0.0,
    "unique_key": None, "fair_key": None, "after": None, "on_parent_failure": "fail",
}  # fmt: skip


def _checked(index: int | None, given: dict[str, Any], count: int = 1) -> dict[str, Any]:
    """`given` with its defaults (files as lists, parents as edges), or TypeError/ValueError
    naming the job (its index in the list of `enqueue_many`, of `count`) and the key."""
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
    if job["unique_key"] is not None and not isinstance(job["unique_key"], str):
        raise TypeError(f"{where}: unique_key must be a string")
    fair_key = job["fair_key"]
    if fair_key is not None and (not isinstance(fair_key, str) or not fair_key):
        raise TypeError(f"{where}: fair_key must be a non-empty string, got {fair_key!r}")
    if job["job_type"] == ANALYSIS and not paths and not job["file_id"]:
        raise ValueError(f"{where}: an {ANALYSIS} job reads its file: give file_path or file_id")
    job["after"] = edges.parents(where, job["after"], job["on_parent_failure"], index, count)
    return job


def _new_ids(count: int) -> Iterator[str]:
    """`count` random (version 4) UUIDs as text, from one read of the system's randomness:
    uuid.uuid4() reads it once per id (5 us each, half a second for 100,000 jobs)."""
    digits = os.urandom(16 * count).hex()
    for at in range(0, 32 * count, 32):
        h = digits[at : at + 32]
        variant = "89ab"[int(h[16], 16) & 3]
        yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _listed(value: Any, what: str) -> list[Any]:
    """One value or a list of them, as a list; a string is one value, not its letters."""
    if value is None:
        return []
    one = isinstance(value, str | os.PathLike) or not isinstance(value, Iterable)
    values = [
        os.fspath(v) if isinstance(v, os.PathLike) else v for v in ([value] if one else value)
    ]
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
        "unique_key": job["unique_key"],
        "fair_key": job["fair_key"],
        "batch_id": job.get("batch_id"),
    }


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.astimezone()  # a naive time is the local time of the caller
