"""The chaos run's verdict: the jobs' rows and insights against the log of every execution
and what the run's watcher saw. The terms and the checks are defined in `chaos.py`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .steps import step_problems
from .supervisors import Timers

UNFINISHED = ("pending", "processing")
# Slack for what the watcher saw at most a sample late, and for a supervisor to learn, within
# a heartbeat (at most 1 s here), that a job is no longer its own (thawed, or after a reset).
SAMPLE_SLACK = 0.5
LEARN_GRACE = 2.0
LEASE_AFTER = 0.75 * Timers.stale_after  # the supervisors' lease_timeout (its default)
SPAWN_SLACK = 10.0  # the longest a runner may take to start (runner.parent.REPLY_TIMEOUT)


@dataclass(frozen=True)
class Row:
    """What the database holds of one job at the end."""

    status: str
    retry_count: int
    error: str | None
    attempts: list[dict[str, Any]]
    lease: int | None = None  # the row's lease token, where jobsup has one
    steps: dict[str, Any] | None = None  # its durable steps' results, where jobsup keeps them


@dataclass
class Execution:
    """One run of a job's handler, from the execution log."""

    id: str
    job_id: str
    attempt: int
    lease: int | None
    pid: int
    supervisor_pid: int | None
    host: str
    start: float
    end: float | None = None
    result: str | None = None  # ok | raise | segv | allocated; None: it never got to its end
    parent_pid: int | None = None  # its fork server's
    step_run: float | None = None  # when it ran its durable step (the `step` behaviour)
    step_done: float | None = None  # when its step returned, with the result of
    step_by: str | None = None  # this execution (the result stored) or an earlier one
    step_refused: bool = False  # told its step's result was not stored (its claim taken)

    @property
    def supervisor(self) -> tuple[str, int | None]:
        return (self.host, self.supervisor_pid)

    def describe(self) -> str:
        lease = f", lease {self.lease}" if self.lease is not None else ""
        return (f"execution {self.id} (attempt {self.attempt}{lease}, pid {self.pid} on "
                f"{self.host}, supervisor pid {self.supervisor_pid})")  # fmt: skip


@dataclass(frozen=True)
class Freeze:
    """A supervisor stopped (SIGSTOP) from `start` to `end`."""

    host: str
    pid: int  # as the supervisor's own pid namespace numbers it
    start: float
    end: float
    here: int = 0  # its pid as this host numbers it

    def overlaps(self, start: float, end: float) -> bool:
        """Stopped, or just thawed (still learning what changed meanwhile), in [start, end]?"""
        return self.start < end and self.end + LEARN_GRACE > start


@dataclass
class Disturbances:
    """What the faults did that explains an execution cut short, or two at once."""

    freezes: list[Freeze] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)  # PostgreSQL down
    resets: dict[str, list[float]] = field(default_factory=dict)  # job id → operator's resets
    # A supervisor's connections cut (its proxy refusing, black-holed or frozen; its link
    # down), as a Freeze of its connections rather than of its process.
    cuts: list[Freeze] = field(default_factory=list)
    # Fork servers SIGKILLed: (host, pid as its namespace numbers it) → when.
    server_kills: dict[tuple[str, int], float] = field(default_factory=dict)
    lease_after: float = LEASE_AFTER

    def server_killed_as_it_started(self, run: Execution) -> bool:
        """Was `run`'s fork server SIGKILLed as it started it (the runner ran on for the
        moment its PDEATHSIG took, its supervisor never heard it had started)?"""
        killed = self.server_kills.get((run.host, run.parent_pid or 0))
        return run.end is None and killed is not None and abs(run.start - killed) <= LEARN_GRACE

    def reset_between(self, job_id: str, start: float, end: float) -> bool:
        return any(start <= t <= end for t in self.resets.get(job_id, ()))

    def reset_while_cut_off(self, job_id: str, moment: float,
                            owner: Callable[[Freeze], bool]) -> bool:  # fmt: skip
        """Was the job reset while the supervisor `owner` picks out was cut off from the
        database (it cannot hear of the reset), with `moment` still within the lease it had
        left? Cut off, it fences itself (kills its runners) `lease_after` past its last
        heartbeat, at the latest the cut's start: the documented cost of the reset SQL."""
        return any(owner(cut) and cut.start <= t <= cut.end
                   and t <= moment <= cut.start + self.lease_after + LEARN_GRACE
                   for cut in self.cuts for t in self.resets.get(job_id, ()))  # fmt: skip

    def frozen(self, here: int, start: float, end: float) -> bool:
        """Was supervisor `here` (its pid on this host) stopped, or just thawed, meanwhile?"""
        return any(f.here == here and f.overlaps(start, end) for f in self.freezes)

    def frozen_on(self, supervisor: tuple[str, int | None], start: float, end: float) -> bool:
        """The same for a supervisor named by its host and its own pid (the runner's view)."""
        return any((f.host, f.pid) == supervisor and f.overlaps(start, end) for f in self.freezes)


@dataclass(frozen=True)
class Life:
    """One start of a supervisor, from the run's side."""

    name: str  # s1, s2…
    host: str
    pid: int  # as its own pid namespace numbers it
    here: int  # as this host does
    ended: float | None


@dataclass(frozen=True)
class Runner:
    """A runner process seen alive: which supervisor's tree it was in."""

    job_id: str
    supervisor: str  # the supervisor's name in the run (s1, s2…)
    incarnation: int  # that supervisor's pid (here)
    pid: int  # the runner's pid (here)


@dataclass(frozen=True)
class AtOnce:
    """Two runners of one job alive at the same moment."""

    time: float
    runners: tuple[Runner, ...]


@dataclass(frozen=True)
class Declared:
    """A supervisor found declared dead at `seen` (not yet at `since`, the watcher's look
    before), its last heartbeat at `heartbeat`."""

    worker_id: str
    host: str
    pid: int
    since: float
    seen: float
    heartbeat: float


@dataclass
class Verdict:
    total: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    stuck: int = 0
    twice: int = 0
    anomalies: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"chaos: {self.total} jobs: {self.completed} completed, {self.failed} failed, "
                f"{self.lost} lost, {self.stuck} stuck, {self.twice} written twice")  # fmt: skip

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stuck or self.twice or self.anomalies)


def read_executions(
    path: Path, fork_servers: dict[tuple[str, int], int] | None = None
) -> tuple[dict[str, list[Execution]], list[str]]:
    """The executions in the log at `path` by job id, and the lines that could not be read.

    `fork_servers` maps a fork server (host, pid) to its supervisor's pid: a runner that
    started as its supervisor died could not name it itself."""
    executions: dict[str, Execution] = {}
    bad: list[str] = []
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        try:
            event = json.loads(line)
            _take(executions, event)
        except (ValueError, KeyError, TypeError):
            bad.append(f"unreadable line in the execution log: {line[:120]!r}")
    by_job: dict[str, list[Execution]] = defaultdict(list)
    for execution in executions.values():
        server = (execution.host, execution.parent_pid or 0)
        execution.supervisor_pid = (fork_servers or {}).get(server, execution.supervisor_pid)
        by_job[execution.job_id].append(execution)
    for runs in by_job.values():
        runs.sort(key=lambda e: e.start)
    return by_job, bad


def _take(executions: dict[str, Execution], event: dict[str, Any]) -> None:
    if event["event"] == "start":
        executions[event["execution"]] = Execution(
            event["execution"], event["job_id"], int(event["attempt"]), event.get("lease"),
            int(event["pid"]), event.get("supervisor_pid"), event["host"], float(event["time"]),
            parent_pid=event.get("parent_pid"),
        )  # fmt: skip
    elif event["event"] == "end":
        execution = executions[event["execution"]]
        execution.end, execution.result = float(event["time"]), event["result"]
    elif event["event"] == "step_run":
        executions[event["execution"]].step_run = float(event["time"])
    elif event["event"] == "step_done":
        execution = executions[event["execution"]]
        execution.step_done, execution.step_by = float(event["time"]), event["by"]
    elif event["event"] == "step_refused":
        executions[event["execution"]].step_refused = True


def judge(
    expected: Iterable[str],
    rows: dict[str, Row],
    insights: dict[str, list[dict[str, Any]]],
    executions: dict[str, list[Execution]],
    workers: dict[str, tuple[str, int]],
    disturbances: Disturbances,
    max_retries: int,
) -> Verdict:
    """Every check on every job; `workers` maps a supervisor's id to its (host, pid)."""
    verdict = Verdict()
    for job_id in expected:
        verdict.total += 1
        row = rows.get(job_id)
        runs = executions.get(job_id, [])
        problems = _check_job(row, insights.get(job_id, []), runs, max_retries, verdict)
        problems += _unexplained(row.attempts if row else [], runs, workers, disturbances)
        problems += _overlaps(runs, disturbances) + _over_limit(runs, disturbances)
        problems += step_problems(row.steps if row else None, runs)
        verdict.anomalies += [f"job {job_id}: {problem}" for problem in problems]
    return verdict


def _check_job(row: Row | None, insights: list[dict[str, Any]], runs: list[Execution],
               max_retries: int, verdict: Verdict) -> list[str]:  # fmt: skip
    """The job's end state; counts it in `verdict`."""
    if row is None:
        verdict.lost += 1
        return ["lost: its row is gone"]
    if row.status in UNFINISHED:
        verdict.stuck += 1
        return [f"stuck: still {row.status} after the drain (retry_count {row.retry_count})"]
    if row.status == "completed":
        verdict.completed += 1
        if not insights:
            verdict.lost += 1
            return ["lost: completed without its insight"]
    elif row.status == "failed":
        verdict.failed += 1
    else:
        verdict.lost += 1
        return [f"lost: status {row.status!r}"]
    stale = _stale_writes(row, insights, runs)
    if stale:
        verdict.twice += 1
    return stale + _failure_problems(row, max_retries) + _unseen(insights, runs)


def _stale_writes(row: Row, insights: list[dict[str, Any]], runs: list[Execution]) -> list[str]:
    """Why the insights are not the one write of the job's last claim (empty: they are)."""
    if row.status == "failed" and insights:
        return [f"written twice: failed, yet {len(insights)} insight rows"]
    if len(insights) > 1:
        written = ", ".join(f"attempt {i.get('attempt')} lease {i.get('lease')}" for i in insights)
        return [f"written twice: {len(insights)} insight rows ({written})"]
    if not insights:
        return []
    insight = insights[0]
    last = row.retry_count + 1
    problems = []
    if insight.get("attempt") != last:
        problems.append(f"written twice: its insight is from attempt {insight.get('attempt')}, "
                        f"its last attempt is {last}")  # fmt: skip
    if row.lease is not None and insight.get("lease") != row.lease:
        problems.append(f"written twice: its insight has lease {insight.get('lease')}, "
                        f"the row {row.lease}")  # fmt: skip
    later = [run for run in runs if _later(run, insight)]
    if later:
        problems.append(f"written twice: its insight is from attempt {insight.get('attempt')}, "
                        f"yet a later claim ran: {later[-1].describe()}")  # fmt: skip
    return problems


def _later(run: Execution, insight: dict[str, Any]) -> bool:
    attempt, lease = insight.get("attempt"), insight.get("lease")
    if isinstance(attempt, int) and run.attempt > attempt:
        return True
    return isinstance(lease, int) and isinstance(run.lease, int) and run.lease > lease


def _failure_problems(row: Row, max_retries: int) -> list[str]:
    if row.status != "failed":
        return []
    reason = (row.error or "").split("\n", 1)[0]
    if not reason:
        return ["failed without a reason"]
    if reason.startswith("parent ") and not row.attempts:
        return []  # its parent failed, so it never ran (chaoslib/pipelines.py checks that)
    if row.retry_count < max_retries:
        return [f"failed after {row.retry_count + 1} of {max_retries + 1} attempts: {reason}"]
    return []


def _unseen(insights: list[dict[str, Any]], runs: list[Execution]) -> list[str]:
    finished = {run.id for run in runs if run.result == "ok"}
    return [
        f"its insight names execution {i.get('execution')}, which the log never saw finish"
        for i in insights
        if i.get("execution") not in finished
    ]


def _unexplained(attempts: list[dict[str, Any]], runs: list[Execution],
                 workers: dict[str, tuple[str, int]],
                 disturbances: Disturbances) -> list[str]:  # fmt: skip
    """Executions that no attempt record (nor an operator's reset) accounts for, each record
    accounting for one."""
    unused = list(attempts)
    problems = []
    for run in runs:
        record = next((r for r in unused if _explains(r, run, workers)), None)
        if record is None:
            # A claim made before a reset may start its runner after it (a fork server coming
            # back up): the supervisor kills it, as no longer its job, and records nothing.
            # A fork server killed as it started a runner: the job goes back to pending with
            # no attempt spent, as the runner's start was never heard of (it dies with it).
            reset = disturbances.reset_between(run.job_id, run.start - SPAWN_SLACK, float("inf"))
            if not reset and not disturbances.server_killed_as_it_started(run):
                problems.append(f"{run.describe()} is in no attempt record")
        else:
            unused.remove(record)
    return problems


def _explains(record: dict[str, Any], run: Execution, workers: dict[str, tuple[str, int]]) -> bool:
    if record.get("attempt") != run.attempt:
        return False
    if record.get("pid") is not None:  # the supervisor saw this runner end
        return bool(record["pid"] == run.pid and record.get("host", run.host) == run.host)
    # A reclaim, or an attempt that had no runner: by the supervisor that held the job.
    return workers.get(str(record.get("worker"))) == run.supervisor


def _overlaps(runs: list[Execution], disturbances: Disturbances) -> list[str]:
    """Executions of one job at once, by the log's own times (killed ones, whose end the log
    does not know, are the watcher's to see)."""
    for i, older in enumerate(runs):
        for newer in runs[i + 1 :]:
            if older.end is None or newer.start >= older.end:
                continue
            span = (f"{older.describe()} until {_clock(older.end)}, "
                    f"{newer.describe()} from {_clock(newer.start)}")  # fmt: skip
            if older.supervisor == newer.supervisor:
                return [f"two runners at once on one supervisor: {span}"]
            if not _explained_overlap(older, newer, disturbances):
                return [f"ran at once on two supervisors, the first not frozen: {span}"]
    return []


def _over_limit(runs: list[Execution], disturbances: Disturbances) -> list[str]:
    """Runners that held memory over their limit to the end (unless their supervisor was
    frozen): the limit was not enforced for the whole hold."""
    return [
        f"memory limit not enforced: {run.describe()} held its memory over the limit from "
        f"{_clock(run.start)} to {_clock(run.end)}"
        for run in runs
        if run.result == "allocated" and run.end is not None
        and not disturbances.frozen_on(run.supervisor, run.start, run.end)
    ]  # fmt: skip


def _explained_overlap(older: Execution, newer: Execution, disturbances: Disturbances) -> bool:
    """The older one's supervisor was frozen meanwhile, or the operator reset the job and the
    older one ended within a heartbeat of it (it may have started after it: a claim's runner
    can start after the claim was taken back), or within the lease its supervisor had left
    when the reset came while it was cut off from the database."""
    assert older.end is not None
    frozen = disturbances.frozen_on(older.supervisor, older.start, newer.start)
    resets = [t for t in disturbances.resets.get(older.job_id, ()) if t <= newer.start]
    cut_off = disturbances.reset_while_cut_off(
        older.job_id, older.end, lambda cut: (cut.host, cut.pid) == older.supervisor
    )
    return frozen or cut_off or any(older.end <= t + LEARN_GRACE for t in resets)


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment).strftime("%H:%M:%S.%f")[:-3]


def judge_watch(at_once: Iterable[AtOnce], declared: Iterable[Declared], lives: list[Life],
                disturbances: Disturbances, stale_after: float) -> list[str]:  # fmt: skip
    """What the watcher saw: runners of one job at once, and supervisors declared dead."""
    problems = [p for seen in at_once if (p := _at_once(seen, disturbances))]
    for declaration in declared:
        problem = _declared(declaration, lives, disturbances.outages, stale_after)
        if problem:
            problems.append(problem)
    return problems


def _at_once(seen: AtOnce, disturbances: Disturbances) -> str | None:
    runners = seen.runners
    where = ", ".join(f"pid {r.pid} under {r.supervisor} (pid {r.incarnation})" for r in runners)
    job_id = runners[0].job_id
    if len({(r.supervisor, r.incarnation) for r in runners}) == 1:
        return (f"job {job_id}: two runners at once on one supervisor, seen at "
                f"{_clock(seen.time)}: {where}")  # fmt: skip
    if any(disturbances.frozen(r.incarnation, seen.time, seen.time) for r in runners):
        return None
    if disturbances.reset_between(job_id, seen.time - LEARN_GRACE, seen.time):
        return None
    owners = {r.incarnation for r in runners}
    if disturbances.reset_while_cut_off(job_id, seen.time, lambda cut: cut.here in owners):
        return None
    return (f"job {job_id}: runners at once on two supervisors, neither frozen, seen at "
            f"{_clock(seen.time)}: {where}")  # fmt: skip


def _declared(declaration: Declared, lives: list[Life], outages: list[tuple[float, float]],
              stale_after: float) -> str | None:  # fmt: skip
    """Why the declaration broke the rule (None: it did not): whenever in (since, seen] it was
    made, the declared supervisor had not been silent for stale_after with the database up."""
    life = next((x for x in lives if (x.host, x.pid) == (declaration.host, declaration.pid)), None)
    if life is None:
        return None  # not one of ours
    if life.ended is not None and life.ended <= declaration.seen + SAMPLE_SLACK:
        return None  # its process was gone
    # Silence since the later of its last heartbeat and the database's return grows with
    # time: the latest moment of each stretch the database was up is the one to try.
    moments = [declaration.seen] + [start for start, _ in outages
                                    if declaration.since < start < declaration.seen]  # fmt: skip
    silences = [(t, t - max(declaration.heartbeat, _back(outages, t))) for t in moments]
    if any(silence >= stale_after - SAMPLE_SLACK for _, silence in silences):
        return None
    back = _back(outages, declaration.seen)
    after = (f", {declaration.seen - back:.1f} s after the database came back"
             if back > declaration.heartbeat else "")  # fmt: skip
    return (f"supervisor {life.name} (pid {life.here}) declared dead while running, at "
            f"{_clock(declaration.since)}-{_clock(declaration.seen)}: its last heartbeat "
            f"{declaration.seen - declaration.heartbeat:.1f} s before{after} "
            f"(stale_after {stale_after:g} s)")  # fmt: skip


def _back(outages: list[tuple[float, float]], moment: float) -> float:
    """When the database last came back before `moment` (0: it never went down)."""
    return max((end for _, end in outages if end <= moment), default=0.0)


def check_host_keys(workers: Iterable[tuple[str, str]]) -> list[str]:
    """Each host (hostname) of the run has one host key across its restarts, its own: else
    jobsup would check pids across hosts, or miss a restarted supervisor's predecessor."""
    keys: dict[str, set[str]] = defaultdict(set)
    for host, key in workers:
        keys[host].add(key)
    problems = [f"host {host}: {len(k)} host keys across its supervisors' starts: {sorted(k)}"
                for host, k in keys.items() if len(k) > 1]  # fmt: skip
    owners: dict[str, list[str]] = defaultdict(list)
    for host, k in keys.items():
        for key in k:
            owners[key].append(host)
    problems += [f"hosts {', '.join(sorted(hosts))} share the host key {key}"
                 for key, hosts in owners.items() if len(hosts) > 1]  # fmt: skip
    return problems


def most_in_a_window(starts: list[float], period: float) -> int:
    """The most starts within any closed window of `period` seconds (sorted `starts`)."""
    most, first = 0, 0
    for last, at in enumerate(starts):
        while at - starts[first] > period:
            first += 1
        most = max(most, last - first + 1)
    return most
