"""Wall time of the operating commands, as a person runs them (interpreter start included).

    .venv/bin/python scripts/bench_ops.py                 # 100 supervisors: jobsup ps
    .venv/bin/python scripts/bench_ops.py --jobs 1000000  # and list/status/stats on 1 M jobs

On a scratch database: $JOBSUP_BENCH_DATABASE_URL's server, else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from benchlib.common import JOBSUP, scratch_database

from supervisor.db.connect import connect

FAKE_SUPERVISORS = """
INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, slots, running, runners)
SELECT gen_random_uuid(), 'host-' || n, 'bench', 1000 + n, 0, 4, 4,
       (SELECT jsonb_agg(jsonb_build_object(
            'job_id', gen_random_uuid(), 'job_type', 'analysis', 'pid', 20000 + r,
            'elapsed', 12.5, 'rss_mb', 300.0, 'peak_rss_mb', 410.0, 'memory_limit_mb', 2048,
            'cpu_seconds', 9.1, 'attempt', 1, 'max_attempts', 4, 'state', 'running'))
        FROM generate_series(1, 4) AS r)
FROM generate_series(1, %(count)s) AS n
"""

FINISHED_JOBS = """
INSERT INTO processing_jobs (job_type, status, retry_count, created_at, started_at,
                             completed_at, error_message)
SELECT 'analysis', CASE WHEN n %% 20 = 0 THEN 'failed' ELSE 'completed' END, n %% 4,
       localtimestamp - make_interval(secs => n * 0.5),
       localtimestamp - make_interval(secs => n * 0.5 - 1),
       localtimestamp - make_interval(secs => n * 0.5 - 1 - (n %% 30)),
       CASE WHEN n %% 20 = 0 THEN 'memory limit exceeded' END
FROM generate_series(1, %(count)s) AS n
"""


def timed(url: str, *args: str, runs: int) -> str:
    """Median and slowest wall time of `jobsup args…` over `runs` runs."""
    env = {**os.environ, "DATABASE_URL": url}
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run([JOBSUP, *args], env=env, capture_output=True, text=True)
        assert done.returncode in (0, 3), done.stderr  # 3: `status` finds no supervisor here
        times.append(time.perf_counter() - began)
    return f"median {statistics.median(times):.3f} s, max {max(times):.3f} s ({runs} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--supervisors", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=0, help="finished jobs to add")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with scratch_database() as url:
        conn = connect(url)
        with conn.cursor() as cur:
            cur.execute(FAKE_SUPERVISORS, {"count": args.supervisors})
            if args.jobs:
                cur.execute(FINISHED_JOBS, {"count": args.jobs})
                cur.execute("ANALYZE processing_jobs")
        conn.close()
        print(f"{args.supervisors} supervisors x 4 runners, {args.jobs} finished jobs")
        print("jobsup --version       ", timed(url, "--version", runs=args.runs))
        print("jobsup ps              ", timed(url, "ps", runs=args.runs))
        print("jobsup ps --json       ", timed(url, "ps", "--json", runs=args.runs))
        print("jobsup status          ", timed(url, "status", "--json", runs=args.runs))
        if args.jobs:
            print("jobsup jobs list       ", timed(url, "jobs", "list", runs=args.runs))
            failed = ("jobs", "list", "--status", "failed", "--since", "1h")
            print("jobs list failed 1h    ", timed(url, *failed, runs=args.runs))
            print("jobsup stats           ", timed(url, "stats", runs=3))


if __name__ == "__main__":
    main()
