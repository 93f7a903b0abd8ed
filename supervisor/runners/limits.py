"""Limits on a runner: which apply to a job, and enforcing them on its whole process tree.

Memory is sampled, not trusted to the kernel: every `check_interval` one pass over /proc
gives each runner's tree (its descendants, even those that left its process group) and
their resident memory. PSS or USS, which cost 0.5-1 ms per process to read, are read only
when the cheap RSS says the limit is near; and a tree whose RSS stays near or over the limit
while its PSS does not (forked children sharing their parent's pages) has its PSS read again
once a second, or as soon as its RSS has grown by the room left under the limit.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any

import psutil
from loguru import logger

from runner import parent
from supervisor.config import Limits
from supervisor.runners import proctree
from supervisor.runners.state import MB, FullMemory, KillReason, Runner, RunnerState

NEAR = 0.9  # read PSS/USS once RSS reaches this share of the limit
FULL_READ_EVERY = 1.0  # seconds a PSS/USS reading below the limit stands for (see above)
FASTEST = 0.02  # seconds: the shortest interval between samples of a runner nearing its limit

# Children the supervisor starts on purpose beside its fork server (the dashboard of
# `[web] listen`, supervisor/loop/dashboard.py): never taken for orphans.
companions: set[int] = set()


def for_job(limits: Limits, metadata: Mapping[str, Any]) -> Limits:
    """The job type's `limits`, with the job's own metadata `memory_mb` where allowed.

    A job may ask for a different memory limit only up to `max_memory_mb` (0: not at all).
    """
    asked = metadata.get("memory_mb")
    if not limits.max_memory_mb or not isinstance(asked, int | float) or asked <= 0:
        return limits
    return dataclasses.replace(limits, memory_mb=int(min(asked, limits.max_memory_mb)))


def enforce_time(runner: Runner, now: float, kill_timeout: float) -> None:
    """Soft limit: SIGTERM to the runner's group (the handler may clean up). Hard limit
    (`time_limit`, counted from the start like the soft one): SIGKILL, however long ago the
    SIGTERM was. Only a soft limit without a hard one falls back on `kill_timeout`, the grace
    of every other SIGTERM the supervisor sends (a drain's). Then escalate a SIGTERM due."""
    elapsed = runner.elapsed(now)
    limits = runner.limits
    if limits.time_limit and elapsed >= limits.time_limit:
        runner.kill(KillReason.TIME)
    elif limits.soft_time_limit and elapsed >= limits.soft_time_limit:
        grace = math.inf if limits.time_limit else kill_timeout  # inf: the branch above kills
        runner.terminate(KillReason.SOFT_TIME, now, grace)
    runner.escalate(now)


def sample(runners: Iterable[Runner], supervisor_pid: int, servers: set[int]) -> None:
    """Measure every runner's tree, kill those over a limit, and kill orphans of dead ones
    (any child of the supervisor but a runner or a fork server in `servers`)."""
    snap = proctree.snapshot()
    live = set(servers)
    for runner in runners:
        live.add(runner.pid)
        if runner.state is not RunnerState.EXITED:
            try:
                measure(runner, snap)
                enforce_memory(runner)
            except Exception:  # one runner's figures may not stop the others' sampling
                logger.opt(exception=True).bind(job=runner.job_id).error("error sampling")
    kill_orphans(snap, supervisor_pid, live)


def measure(runner: Runner, snap: proctree.Snapshot, now: float | None = None) -> None:
    """Update `runner`'s figures from `snap`: memory by its metric, CPU, processes."""
    root = snap.procs.get(runner.pid)
    if root is None:  # exited, not yet reaped
        return
    tree = [root, *snap.descendants(runner.pid)]
    runner.descendants.update({p.pid: p.start for p in tree[1:]})
    runner.processes = len(tree)
    runner.cpu_seconds = max(runner.cpu_seconds, sum(p.cpu for p in tree))
    rss = sum(p.rss for p in tree)
    now = time.monotonic() if now is None else now
    _growth(runner, rss, now)
    memory, metric = rss, "rss"
    limit = runner.limits.memory_mb * MB
    if runner.limits.memory_metric != "rss" and limit and rss >= limit * NEAR:
        full = _full_memory(runner, tree, rss, now)
        if full:  # else unreadable: RSS, the upper bound, stands
            memory, metric = full, runner.limits.memory_metric
    runner.memory, runner.memory_metric = memory, metric
    runner.peak_memory = max(runner.peak_memory, memory)


def _growth(runner: Runner, rss: int, now: float) -> None:
    if runner.measured_at is not None and now > runner.measured_at:
        runner.growth = max(0.0, (rss - runner.rss) / (now - runner.measured_at))
    runner.rss, runner.measured_at = rss, now


def sample_interval(runner: Runner) -> float:
    """Seconds until `runner` must be sampled again: its `check_interval`, or less as its
    tree grows toward its memory limit: half the time its last growth rate takes to cover
    the room left, down to FASTEST. A runner allocating 1 GB/s towards a 200 MiB limit is
    sampled every 20-50 ms near it, an idle one every `check_interval`."""
    interval = runner.limits.check_interval
    limit = runner.limits.memory_mb * MB
    if not limit or runner.growth <= 0:
        return interval
    room = max(0, limit - max(runner.rss, runner.memory))
    return max(min(FASTEST, interval), min(interval, room / runner.growth / 2))


def _full_memory(runner: Runner, tree: list[proctree.Proc], rss: int, now: float) -> int:
    """The tree's PSS or USS: read, or the last reading while it can stand for it (0 when
    it cannot be read).

    New pages add as much to PSS as to RSS, so the last reading plus the RSS grown since is
    an upper bound, but for pages a child un-shares by writing to them: those count at the
    next reading, at most FULL_READ_EVERY later.
    """
    near = runner.limits.memory_mb * MB * NEAR
    last = runner.full_memory
    if last is not None and now < last.at + FULL_READ_EVERY:
        bound = last.value + max(0, rss - last.rss)
        if bound < near:
            return bound
    value = _read_full_memory(tree, runner.limits.memory_metric)
    if value:
        runner.full_memory = FullMemory(now, rss, value)
    return value


def enforce_memory(runner: Runner) -> None:
    limits = runner.limits
    if limits.memory_mb and runner.memory > limits.memory_mb * MB:
        detail = parent.memory_exceeded(runner.memory, limits.memory_mb, runner.memory_metric)
        runner.kill(KillReason.MEMORY, detail)
    elif limits.max_processes and runner.processes > limits.max_processes:
        detail = parent.processes_exceeded(runner.processes, limits.max_processes)
        runner.kill(KillReason.PROCESSES, detail)


def _read_full_memory(tree: list[proctree.Proc], metric: str) -> int:
    total = 0
    for proc in tree:
        with suppress(psutil.Error):  # gone since the snapshot, or not ours to read
            total += getattr(psutil.Process(proc.pid).memory_full_info(), metric)
    return total


def kill_orphans(snap: proctree.Snapshot, supervisor_pid: int, keep: set[int]) -> None:
    """Descendants of a finished runner re-parent to the supervisor (a subreaper), which
    starts no process but its fork server (and its `companions`): any other child of it not
    in `keep` is such an orphan. End them."""
    for pid in snap.children.get(supervisor_pid, ()):
        proc = snap.procs.get(pid)
        if pid not in keep and pid not in companions and proc is not None:
            proctree.kill(pid, proc.start)
