"""Supervisor throughput and pickup latency against a real PostgreSQL.

    .venv/bin/python scripts/bench.py         # an embedded PostgreSQL of its own
    JOBSUP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python scripts/bench.py     # a database created on that server

Prints diag.noop jobs/s for 5,000 jobs at concurrency 1, 2 and 4 (first start to last
completion, from the jobs' own timestamps) with the CPU each job cost, the pickup latency
(enqueue commit → handler start) p50/p95 over 200 jobs sent one at a time into an idle
supervisor, and what a bare fork costs a process with the supervisor's imports and one with
the fork server's (fork cost grows with what a process has mapped).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import percentile, scratch_database, supervisor, write_config

from supervisor.db import connect
from supervisor.enqueue import enqueue

# A supervisor serving only the benchmark's job types, so its fork server preloads just
# their modules (the insights workflow, preloaded for `analysis`, adds ~0.5 ms to a fork).
CONFIG = """
[supervisor]
interval = 30
job_types = ["diag.noop", "bench.stamp"]
preload = ["bench_handlers"]
[retry]
max_retries = 0
[limits]
check_interval = 0.1
[job_types."diag.noop"]
handler = "runner.diag:noop"
[job_types."bench.stamp"]
handler = "bench_handlers:stamp"
"""


def throughput(url: str, config: Path, jobs: int, concurrency: int) -> tuple[float, str]:
    """Jobs per second for `jobs` noop jobs at `concurrency`, and where the CPU went."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")
        cur.execute(
            "INSERT INTO processing_jobs (job_type) SELECT 'diag.noop' FROM generate_series(1, %s)",
            (jobs,),
        )
        cur.execute("VACUUM ANALYZE processing_jobs")
    busy = _machine_busy()
    process = supervisor(url, config, "--concurrency", str(concurrency), "--until-empty")
    cpu = _cpu_until_exit(process)
    busy = _machine_busy() - busy
    if process.returncode != 0:
        raise SystemExit(f"supervisor failed at concurrency {concurrency}")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'), "
            "extract(epoch FROM max(completed_at) - min(started_at)) FROM processing_jobs"
        )
        completed, seconds = cur.fetchone()  # type: ignore[misc]
    conn.close()
    if completed != jobs:
        raise SystemExit(f"only {completed} of {jobs} jobs completed")
    per_job = {name: f"{seconds * 1000 / jobs:.2f}" for name, seconds in cpu.items()}
    where = (
        f"CPU-ms per job: supervisor {per_job['supervisor']}, fork server {per_job['server']}, "
        f"runners {per_job['runners']}, whole machine {busy * 1000 / jobs:.2f}"
    )
    return jobs / float(seconds), where


def _cpu_until_exit(process: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds of the supervisor, its fork server and the runners that server reaped,
    read until the supervisor exits (the last reading misses a few final milliseconds)."""
    cpu = {"supervisor": 0.0, "server": 0.0, "runners": 0.0}
    me = psutil.Process(process.pid)
    while process.poll() is None:
        with suppress(psutil.Error):
            times = me.cpu_times()
            cpu["supervisor"] = times.user + times.system
            for child in me.children():
                if " ".join(child.cmdline()).startswith("jobsup: fork server"):
                    times = child.cpu_times()
                    cpu["server"] = times.user + times.system
                    cpu["runners"] = times.children_user + times.children_system
        time.sleep(0.05)
    return cpu


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(n) for n in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def pickup_latency(url: str, config: Path, samples: int) -> list[float]:
    """Milliseconds from enqueue commit to handler start, one job at a time."""
    process = supervisor(url, config, "--concurrency", "4")
    conn = connect(url)
    latencies = []
    try:
        time.sleep(2.0)  # started and idle
        for _ in range(samples):
            job_id = enqueue(conn, job_type="bench.stamp")  # autocommit: committed on return
            committed = time.time()
            started = _wait_for_stamp(conn, job_id)
            latencies.append((started - committed) * 1000)
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
        conn.close()
    return latencies


def _wait_for_stamp(conn: object, job_id: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT (content->>'t')::float8 FROM insights WHERE job_id = %s", (job_id,))
            row = cur.fetchone()
        if row:
            return float(row[0])
        # The handler stamps its own start: polling slowly changes nothing measured, and
        # leaves the CPU to the supervisor.
        time.sleep(0.05)
    raise SystemExit(f"job {job_id} did not run within 30 s")


FORK_CYCLE = """
import importlib, os, sys, time
for module in sys.argv[2:]:
    importlib.import_module(module)
began = time.perf_counter()
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print((time.perf_counter() - began) / int(sys.argv[1]) * 1000)
"""


def fork_cycle(*modules: str, cycles: int = 300) -> float:
    """Milliseconds for fork + _exit + waitpid of a fresh Python that imported `modules`."""
    argv = [sys.executable, "-c", FORK_CYCLE, str(cycles), *modules]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), CONFIG)
        for concurrency in args.concurrency:
            rate, where = throughput(url, config, args.jobs, concurrency)
            print(f"throughput, concurrency {concurrency}: {rate:5.0f} jobs/s "
                  f"({args.jobs} noop jobs); {where}")  # fmt: skip
        supervisor_ms = fork_cycle("supervisor.cli")
        server_ms = fork_cycle("runner.bootstrap", "runner.diag", "setproctitle")
        print(f"fork + _exit + waitpid: {supervisor_ms:.2f} ms with the supervisor's imports, "
              f"{server_ms:.2f} ms with the fork server's")  # fmt: skip
        latencies = pickup_latency(url, config, args.samples)
        print(
            f"pickup latency (commit → handler start), {args.samples} jobs: "
            f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms"
        )


if __name__ == "__main__":
    main()
