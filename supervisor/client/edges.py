"""A new job's parents (`enqueue(…, after=[…])`): checked, resolved to ids, cycles refused.

An item of `after` is a parent: a job id (a job already enqueued), the index of another job
of the same `enqueue_many` list (an int), or a mapping `{"job": id or index,
"on_parent_failure": "fail" | "run"}` for that edge alone. A job's own `on_parent_failure`
is the default of its edges: "fail" (the child ends failed, without running, when a
parent fails or is cancelled) or "run" (it runs once every parent has ended, however).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supervisor.errors import JobsupError

POLICIES = ("fail", "run")


class UnknownParent(JobsupError, LookupError):
    """An `after` id names no job: nothing was enqueued."""


def parents(
    where: str, given: Any, policy: Any, index: int | None, count: int
) -> list[dict[str, Any]]:
    """Each parent of one job as `{"job": id (str) or index (int), "on_parent_failure": …}`,
    or TypeError/ValueError naming the job (`where`) and the item. `index` is the job's
    place in its list (None: `enqueue`, where only ids are parents), `count` the list's
    length."""
    if policy not in POLICIES:
        raise ValueError(f"{where}: on_parent_failure must be 'fail' or 'run', got {policy!r}")
    if given is None:
        return []
    if isinstance(given, str | int | uuid.UUID | Mapping) or not isinstance(given, Iterable):
        raise TypeError(f"{where}: after must be a list of job ids, got {given!r}")
    found: dict[str | int, dict[str, Any]] = {}
    for item in given:
        edge = _edge(where, item, policy, index, count)
        found.setdefault(edge["job"], edge)  # a parent named twice is one parent
    return list(found.values())


def _edge(where: str, item: Any, policy: str, index: int | None, count: int) -> dict[str, Any]:
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - {"job", "on_parent_failure"})
        if unknown or "job" not in item:
            raise ValueError(f"{where}: after: an edge is {{'job': …, 'on_parent_failure': …}}, "
                             f"got {dict(item)!r}")  # fmt: skip
        edge_policy = item.get("on_parent_failure", policy)
        if edge_policy not in POLICIES:
            raise ValueError(f"{where}: after: on_parent_failure must be 'fail' or 'run', "
                             f"got {edge_policy!r}")  # fmt: skip
        return {"job": _parent(where, item["job"], index, count), "on_parent_failure": edge_policy}
    return {"job": _parent(where, item, index, count), "on_parent_failure": policy}


def _parent(where: str, job: Any, index: int | None, count: int) -> str | int:
    if isinstance(job, bool):
        raise TypeError(f"{where}: after: {job!r} is not a job id")
    if isinstance(job, int):
        if index is None:
            raise TypeError(f"{where}: after: {job} is an index, which only enqueue_many "
                            "knows: give a job id")  # fmt: skip
        if not 0 <= job < count:
            raise ValueError(f"{where}: after: no job {job} in this list of {count}")
        if job == index:
            raise ValueError(f"{where}: after: a job cannot wait for itself")
        return job
    try:
        return str(uuid.UUID(str(job)))
    except ValueError:
        raise ValueError(f"{where}: after: {job!r} is neither a job id nor an index") from None


def refuse_cycles(jobs: Sequence[Mapping[str, Any]]) -> None:
    """ValueError naming a cycle among the jobs of one list (parents given by index), as
    `after: cycle job 0 → job 2 → job 0`; jobs already enqueued cannot close one (they have
    no edge to a new job)."""
    state: dict[int, int] = {}  # 1: on the path being walked, 2: done
    for start in range(len(jobs)):
        path = _walk(jobs, start, state, [])
        if path:
            shown = " → ".join(f"job {n}" for n in path)
            raise ValueError(f"after: cycle {shown}: nothing enqueued")


def _walk(
    jobs: Sequence[Mapping[str, Any]], n: int, state: dict[int, int], path: list[int]
) -> list[int]:
    """The cycle found from job `n` (its jobs, the first one again at the end), or []."""
    if state.get(n) == 2:
        return []
    if state.get(n) == 1:
        return [*path[path.index(n) :], n]
    state[n] = 1
    for edge in jobs[n]["after"]:
        if isinstance(edge["job"], int):
            cycle = _walk(jobs, edge["job"], state, [*path, n])
            if cycle:
                return cycle
    state[n] = 2
    return []


def rows(
    every: Sequence[Mapping[str, Any]], jobs: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The edges of `jobs` (those of one statement, each with its `id` made), for
    %(edges)s: parents by index resolved to the ids of `every` (the whole list)."""
    return [
        {"parent": every[e["job"]]["id"] if isinstance(e["job"], int) else e["job"],
         "child": job["id"], "on_parent_failure": e["on_parent_failure"]}
        for job in jobs for e in job["after"]
    ]  # fmt: skip


def refuse_keyed_parents(jobs: Sequence[Mapping[str, Any]]) -> None:
    """ValueError when a job waits, by index, for one with a unique_key: that one may not
    be inserted (an unfinished job holds its key), so give the id `enqueue` returned."""
    for n, job in enumerate(jobs):
        for e in job["after"]:
            if isinstance(e["job"], int) and jobs[e["job"]]["unique_key"] is not None:
                raise ValueError(f"job {n}: after: job {e['job']} has a unique_key and may "
                                 "stand for another job: enqueue it first, give its "
                                 "id")  # fmt: skip
