"""How closely the memory limit holds, and what sampling costs the supervisor.

    .venv/bin/python scripts/bench_limits.py

For allocation rates of 50, 500 and 5000 MB/s against a 256 MB limit (diag.allocate), with
and without the kernel backstop (hard_memory), prints the median overshoot (the runner's
peak RSS from the kernel's own accounting, above the limit) and the median detection delay
(from the moment the runner's RSS crossed the limit to the supervisor's SIGKILL). Then the
supervisor's CPU
use while sampling 1, 8 and 32 runners every 0.1 s.
"""

from __future__ import annotations

import signal
import statistics
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


def main() -> None:
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
