"""`chaos.py --pipelines`: batches and chains among the chaos jobs, and what they must hold.

Groups are enqueued through jobsup's own `enqueue_many` statement (sql/api.sql: edges,
unfinished parents counted under a lock), one transaction a group, under the same faults
as every other job: batches of FAN_IN jobs and a then-job that waits for all of them
('run': it runs however they end), and chains of CHAIN_DEPTH jobs, each waiting for the one
before ('fail': a link whose parent failed ends failed without running).

The checks, once the queue has drained:

- a child's first execution starts after each parent ended: after its row's completed_at
  and after the end of the execution that wrote its insight (never before any parent
  ended, from the execution log);
- a child whose 'fail' parent failed ended failed, naming that parent, and never ran;
  a job failed that way has a parent that failed;
- every row's count of unfinished parents is the number of its parents not ended (none
  left blocked by a parent that ended, none freed by one that had not).

Runs of one job at once, lost, stuck (a blocked job is pending: stuck) and written twice
are the run's own checks, for these jobs as for the others.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.errors

from supervisor.db.queries import load

FAN_IN = 50
CHAIN_DEPTH = 4
API = load("api.sql")
ENDED = ("completed", "failed", "cancelled")


@dataclass
class Group:
    kind: str  # batch | chain
    jobs: list[tuple[str, dict[str, Any]]]  # (id, metadata), the then-job last in a batch
    edges: list[tuple[str, str, str]]  # (parent, child, on_parent_failure)
    batch_id: str | None = None
    fed: bool = field(default=False)


def groups(share: int, rng: random.Random, mix: Callable[[int], list[tuple[str, dict[str, Any]]]]
           ) -> list[Group]:  # fmt: skip
    """Batches and chains, about `share` jobs in all (a batch for every three chains)."""
    made: list[Group] = []
    count = 0
    while count < share:
        if len(made) % 4 == 0:
            jobs = mix(FAN_IN + 1)
            then = jobs[-1][0]
            edges = [(job_id, then, "run") for job_id, _ in jobs[:-1]]
            made.append(
                Group("batch", jobs, edges, str(uuid.UUID(int=rng.getrandbits(128), version=4)))
            )
        else:
            jobs = mix(CHAIN_DEPTH)
            edges = [(a, b, "fail") for (a, _), (b, _) in itertools.pairwise(jobs)]
            made.append(Group("chain", jobs, edges))
        count += len(made[-1].jobs)
    return made


def feed(conn: Any, group: Group) -> bool:
    """Enqueue `group` in one transaction; False when the database could not take it now
    (a fault: try again later). A group already in (its commit's answer lost) is fed."""
    rows = [{"id": job_id, "file_ids": [], "description": None, "job_type": "chaos",
             "priority": 0, "metadata": metadata, "run_at": None, "delay": 0.0,
             "unique_key": None, "batch_id": group.batch_id}
            for job_id, metadata in group.jobs]  # fmt: skip
    edges = [{"parent": p, "child": c, "on_parent_failure": how} for p, c, how in group.edges]
    try:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute(API["enqueue_many"], {"jobs": json.dumps(rows), "files": "[]",
                                              "edges": json.dumps(edges)})  # fmt: skip
            if group.batch_id:
                cur.execute(
                    API["insert_batch"], {"id": group.batch_id, "then_id": group.jobs[-1][0]}
                )
        group.fed = True
    except psycopg2.errors.UniqueViolation:
        group.fed = True
    except psycopg2.Error:
        return False
    finally:
        if not conn.closed:
            conn.autocommit = True
    return True


def check(conn: Any, made: list[Group], executions: dict[str, list[Any]],
          insights: dict[str, list[dict[str, Any]]]) -> list[str]:  # fmt: skip
    """The pipelines' anomalies (empty: none)."""
    ids = [job_id for g in made if g.fed for job_id, _ in g.jobs]
    with conn.cursor() as cur:
        cur.execute("SELECT id::text, status, extract(epoch FROM completed_at::timestamptz), "
                    "error_message, parents_left FROM processing_jobs WHERE id = ANY(%s::uuid[])",
                    (ids,))  # fmt: skip
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    problems: list[str] = []
    for group in (g for g in made if g.fed):
        parents: dict[str, list[tuple[str, str]]] = {}
        for parent, child, how in group.edges:
            parents.setdefault(child, []).append((parent, how))
        for child, given in parents.items():
            problems += _child(child, given, rows, executions, insights)
    return problems


def _child(child: str, parents: list[tuple[str, str]], rows: dict[str, tuple[Any, ...]],
           executions: dict[str, list[Any]], insights: dict[str, list[dict[str, Any]]]
           ) -> list[str]:  # fmt: skip
    if child not in rows or any(p not in rows for p, _ in parents):
        return []  # lost: the run's own check says so
    status, _, error, left = rows[child]
    unended = sum(1 for p, _ in parents if rows[p][0] not in ENDED)
    problems = []
    if left != unended:
        problems.append(f"job {child}: waits for {left} parents, {unended} have not ended")
    runs = executions.get(child, [])
    failed_fail = [
        p for p, how in parents if how == "fail" and rows[p][0] in ("failed", "cancelled")
    ]
    if failed_fail:
        if runs:
            problems.append(f"job {child}: ran though its parent {failed_fail[0]} failed")
        if status != "failed" or not str(error or "").startswith(f"parent {failed_fail[0][:8]} "):
            problems.append(
                f"job {child}: {status} ({error!r}) though its parent {failed_fail[0]} failed"
            )
    elif str(error or "").startswith("parent ") and status == "failed" and not runs:
        problems.append(f"job {child}: failed as its parent's child, but no parent of it failed")
    if runs:
        problems += _started_after(child, runs[0].start, parents, rows, executions, insights)
    return problems


def _started_after(child: str, start: float, parents: list[tuple[str, str]],
                   rows: dict[str, tuple[Any, ...]], executions: dict[str, list[Any]],
                   insights: dict[str, list[dict[str, Any]]]) -> list[str]:  # fmt: skip
    """Why the child's first run `start` came before a parent ended (empty: it did not)."""
    problems = []
    for parent, _ in parents:
        ended = rows[parent][1]
        if ended is None or start < ended:
            problems.append(f"job {child}: started at {start:.3f}, before its parent {parent} "
                            f"ended ({ended})")  # fmt: skip
            continue
        written = {i.get("execution") for i in insights.get(parent, [])}
        last = [r.end for r in executions.get(parent, []) if r.id in written and r.end]
        if last and start < max(last):
            problems.append(f"job {child}: started at {start:.3f}, before its parent {parent}'s "
                            f"run ended at {max(last):.3f}")  # fmt: skip
    return problems
