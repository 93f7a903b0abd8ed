"""How closely the memory limit holds, and what sampling costs the supervisor.

    .venv/bin/python scripts/bench_limits.py
    .venv/bin/python scripts/bench_limits.py --contention 7 [--runs 5] [--before DIR]

With `--contention N`: N runners at once (concurrency N), each allocating 50 MB every 50 ms
toward 2 GB against `memory_mb = 200`, on however many cores this machine has: the first
memory kill's figure (from its message) and the kernel's peak RSS of that runner, against
the limit, median of the runs. `--before DIR` alternates each run with one of the checkout
in DIR (e.g. `git worktree add /tmp/wt-limits-before <commit>`), so that both see the same
load; the machine's load average is printed with each run.

For allocation rates of 50, 500 and 5000 MB/s against a 256 MB limit (diag.allocate), with
and without the kernel backstop (hard_memory), prints the median overshoot (the runner's
peak RSS from the kernel's own accounting, above the limit) and the median detection delay
(from the moment the runner's RSS crossed the limit to the supervisor's SIGKILL). Then the
supervisor's CPU
use while sampling 1, 8 and 32 runners every 0.1 s.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchlib.common import runner_count, scratch_database, supervisor, write_config

from supervisor.client.enqueue import enqueue
from supervisor.db.connect import connect

LIMIT_MB = 256
RATES = (50, 500, 5000)
TRIALS = 3

CONFIG = """
[supervisor]
concurrency = {concurrency}
[retry]
max_retries = 0
[limits]
memory_mb = {limit}
check_interval = 0.1
hard_memory = {hard}
[job_types."diag.allocate"]
handler = "runner.diag:allocate"
[job_types."diag.sleep"]
handler = "runner.diag:sleep"
"""


def overshoot_and_delay(url: str, tmp: Path, hard: bool) -> dict[int, tuple[float, float | None]]:
    """Per rate: median overshoot (MB) and median detection delay (ms; None: no kill)."""
    conn = connect(url)
    ids = {rate: [enqueue(conn, job_type="diag.allocate",
                          metadata={"mb": 4 * LIMIT_MB, "mb_per_s": rate, "report_mb": LIMIT_MB})
                  for _ in range(TRIALS)] for rate in RATES}  # fmt: skip
    config = write_config(tmp, CONFIG.format(concurrency=1, limit=LIMIT_MB, hard=str(hard).lower()))
    supervisor(url, config, "--until-empty").wait()
    results = {}
    for rate, job_ids in ids.items():
        overshoots, delays = [], []
        for job_id in job_ids:
            with conn.cursor() as cur:
                sql = "SELECT attempts->0, error_message FROM processing_jobs WHERE id = %s"
                cur.execute(sql, (job_id,))
                attempt, error = cur.fetchone()  # type: ignore[misc]
            overshoots.append(attempt["peak_memory_mb"] - LIMIT_MB)
            crossed = _crossed(error or "")
            if crossed and "killed_at" in attempt:
                delays.append((_epoch(attempt["killed_at"]) - crossed) * 1000)
        delay = statistics.median(delays) if delays else None
        results[rate] = (statistics.median(overshoots), delay)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")
    conn.close()
    return results


def _crossed(error: str) -> float | None:
    for line in error.splitlines():
        if line.startswith("crossed "):
            return float(line.split()[1])
    return None


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def sampling_cpu(url: str, tmp: Path, runners: int, seconds: float = 5.0) -> float:
    """The supervisor's CPU use (% of one core) while `runners` idle runners are sampled."""
    conn = connect(url)
    for _ in range(runners):
        enqueue(conn, job_type="diag.sleep", metadata={"seconds": 120})
    config = write_config(tmp, CONFIG.format(concurrency=runners, limit=LIMIT_MB, hard="false"))
    process = supervisor(url, config)
    try:
        me = psutil.Process(process.pid)
        deadline = time.monotonic() + 60
        while runner_count(process.pid) < runners:
            if time.monotonic() > deadline:
                raise SystemExit(f"{runners} runners did not start")
            time.sleep(0.1)
        time.sleep(1.0)
        before = me.cpu_times()
        time.sleep(seconds)
        after = me.cpu_times()
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")
    conn.close()
    used = (after.user + after.system) - (before.user + before.system)
    return 100 * used / seconds


CONTENTION = """
[supervisor]
concurrency = {concurrency}
[retry]
max_retries = 0
[limits]
memory_mb = {limit}
check_interval = 0.1
[job_types."diag.allocate"]
handler = "runner.diag:allocate"
"""
CONTENTION_LIMIT_MB = 200
KILLED = re.compile(r"memory limit exceeded: ([\d.,]+) (GiB|MiB|bytes) >")
UNITS = {"GiB": 1024.0, "MiB": 1.0, "bytes": 1 / (1 << 20)}


def first_kill(url: str, tmp: Path, hogs: int, code: Path | None) -> tuple[float, float, float]:
    """`hogs` runners growing by 50 MB every 50 ms at once: the first memory kill's figure
    (MiB, from its message), the kernel's peak RSS of that runner, and the highest figure
    of all the kills (MiB)."""
    conn = connect(url)
    metadata = {"mb": 2000, "mb_per_s": 1000, "step_mb": 50}
    ids = [enqueue(conn, job_type="diag.allocate", metadata=metadata) for _ in range(hogs)]
    config = write_config(tmp, CONTENTION.format(concurrency=hogs, limit=CONTENTION_LIMIT_MB))
    supervisor(url, config, "--until-empty", code=code).wait()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT attempts->0, error_message FROM processing_jobs WHERE id = ANY(%s::uuid[])",
            (ids,),
        )
        rows = cur.fetchall()
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")
    conn.close()
    kills = []
    for attempt, error in rows:
        found = KILLED.search(error or "")
        if found and "killed_at" in attempt:
            figure = float(found.group(1).replace(",", "")) * UNITS[found.group(2)]
            kills.append((attempt["killed_at"], figure, float(attempt["peak_memory_mb"])))
    if not kills:
        raise SystemExit(f"no memory kill among {len(rows)} jobs: {[r[1] for r in rows]}")
    _, figure, peak = min(kills)
    return figure, peak, max(kill[1] for kill in kills)


def contention(hogs: int, runs: int, before: Path | None, burners: int = 0) -> None:
    limit = CONTENTION_LIMIT_MB
    print(f"{hogs} runners at once, 50 MB every 50 ms each, memory_mb = {limit}, "
          f"{os.cpu_count()} cores, {burners} CPU burners beside: the first memory kill, "
          f"{runs} runs")  # fmt: skip
    spin = [sys.executable, "-c", "while True: pass"]
    burning = [subprocess.Popen(spin) for _ in range(burners)]
    try:
        _contention(hogs, runs, before)
    finally:
        for process in burning:
            process.kill()
            process.wait()


def _contention(hogs: int, runs: int, before: Path | None) -> None:
    limit = CONTENTION_LIMIT_MB
    versions: list[tuple[str, Path | None]] = [("after", None)]
    if before:
        versions.insert(0, ("before", before))
    found: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _ in versions}
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp_name:
        for run in range(runs):
            for label, code in versions:
                load = os.getloadavg()[0]
                figure, peak, worst = first_kill(url, Path(tmp_name), hogs, code)
                found[label].append((figure, peak, worst))
                over = 100 * (figure / limit - 1)
                print(f"  run {run + 1} {label:6s} (load {load:4.1f}): killed at "
                      f"{figure:6.1f} MiB ({over:+6.1f} %), peak RSS {peak:6.1f} MiB; "
                      f"the highest kill {worst:6.1f} MiB")  # fmt: skip
    for label, pairs in found.items():
        figure = statistics.median(p[0] for p in pairs)
        peak = statistics.median(p[1] for p in pairs)
        worst = statistics.median(p[2] for p in pairs)
        over, peak_over = 100 * (figure / limit - 1), 100 * (peak / limit - 1)
        print(f"{label:6s} median: killed at {figure:.1f} MiB ({over:+.1f} %), "
              f"peak RSS {peak:.1f} MiB ({peak_over:+.1f} %); the highest kill "
              f"{worst:.1f} MiB ({100 * (worst / limit - 1):+.1f} %)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contention", type=int, metavar="N", help="N hogs at once")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, metavar="DIR", help="a checkout to compare")
    parser.add_argument("--burners", type=int, default=0, help="CPU-bound processes beside")
    args = parser.parse_args()
    if args.contention:
        contention(args.contention, args.runs, args.before, args.burners)
        return
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"memory limit {LIMIT_MB} MB, check_interval 0.1 s, median of {TRIALS} runs each")
        for hard in (False, True):
            label = "with kernel backstop   " if hard else "sampling only          "
            for rate, (overshoot, delay) in overshoot_and_delay(url, tmp, hard).items():
                shown = f"{delay:6.0f} ms" if delay is not None else "  (MemoryError in the runner)"
                pct = 100 * overshoot / LIMIT_MB
                print(
                    f"{label} {rate:5d} MB/s: overshoot {overshoot:6.1f} MB ({pct:5.1f} %), "
                    f"detection delay {shown}"
                )
        for runners in (1, 8, 32):
            cpu = sampling_cpu(url, tmp, runners)
            print(
                f"supervisor CPU sampling {runners:2d} runners every 0.1 s: {cpu:4.1f} % of a core"
            )


if __name__ == "__main__":
    main()
