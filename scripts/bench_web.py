"""Milliseconds per dashboard page with 10,000 and 200,000 jobs (and EXPLAIN of the lists).

    .venv/bin/python scripts/bench_web.py                   # 10,000 and 200,000 jobs
    .venv/bin/python scripts/bench_web.py --jobs 1000000 --explain

On a scratch database: $JOBSUP_BENCH_DATABASE_URL's server, else an embedded PostgreSQL.
Each page is fetched over HTTP from a real `jobsup web`: once to warm up, then --runs
times; the median and the slowest are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.request

from bench_ops import FAKE_SUPERVISORS
from benchlib.common import JOBSUP, scratch_database

from supervisor.db.connect import Connection, connect
from supervisor.ops import job_admin

# A history like a busy month: most jobs completed (the last day's spread over 24 hours),
# 5 % failed with an error, a few pending, processing and cancelled; every job has an
# attempt, one in fifty a file and five insights.
JOBS = """
INSERT INTO processing_jobs (id, job_type, status, business_description, retry_count,
                             created_at, started_at, completed_at, error_message, attempts,
                             run_at)
SELECT gen_random_uuid(),
       (ARRAY['analysis', 'report', 'diag.sleep', 'export'])[1 + n %% 4],
       CASE WHEN n %% 20 = 0 THEN 'failed' WHEN n %% 1000 = 1 THEN 'cancelled'
            WHEN n %% 200 = 2 THEN 'pending' WHEN n %% 500 = 3 THEN 'processing'
            ELSE 'completed' END,
       'Why did ' || (ARRAY['sales', 'churn', 'tickets', 'revenue'])[1 + n %% 4]
           || ' change in week ' || (n %% 52) || ' for customer ' || n,
       n %% 4,
       t.created, t.created + interval '1 second',
       CASE WHEN n %% 200 = 2 OR n %% 500 = 3 THEN NULL
            ELSE t.created + make_interval(secs => 1 + n %% 90) END,
       CASE WHEN n %% 20 = 0 THEN 'RuntimeError: bad row ' || (n %% 7)
            || E'\nTraceback (most recent call last):\n  File "job.py", line 3'
            || E'\n--- last output ---\nrow ' || n END,
       jsonb_build_array(jsonb_build_object('attempt', 1, 'outcome', 'completed',
             'host', 'host-' || (n %% 10),
             'pid', 1000 + n %% 30000, 'started', to_char(t.created, 'YYYY-MM-DD"T"HH24:MI:SS'),
             'seconds', 1 + n %% 90, 'peak_memory_mb', 100 + n %% 400, 'cpu_seconds', n %% 60)),
       now()
FROM generate_series(1, %(count)s) AS n,
     LATERAL (SELECT localtimestamp - make_interval(secs => n * %(spacing)s) AS created) AS t
"""

INSIGHTS = """
INSERT INTO insights (job_id, insight_type, content, confidence_score)
SELECT j.id, 'anomaly', jsonb_build_object('title', 'Spike in revenue ' || k,
           'summary', 'Revenue was 2,798 against about 1,073 expected.',
           'details', jsonb_build_object('file', 'sales.csv', 'z', 6.57, 'rank', k)), 0.9
FROM (SELECT id FROM processing_jobs WHERE status = 'completed' ORDER BY id
      LIMIT %(count)s / 50) AS j, generate_series(1, 5) AS k
"""

LIST_CASES = {
    "newest": job_admin.Filters(limit=51),
    "status=failed": job_admin.Filters(status="failed", limit=51),
    "status=cancelled (rare)": job_admin.Filters(status="cancelled", limit=51),
    "q=customer 42 (text)": job_admin.Filters(text="customer 42", limit=51),
}


def fill(conn: Connection, count: int) -> str:
    """`count` jobs over 30 days (at least the last day's worth), supervisors; a job id."""
    spacing = min(30 * 86400 / count, 86400 / 2000)
    with conn.cursor() as cur:
        cur.execute(FAKE_SUPERVISORS, {"count": 10})
        cur.execute(JOBS, {"count": count, "spacing": spacing})
        cur.execute(INSIGHTS, {"count": count})
        cur.execute("VACUUM ANALYZE processing_jobs")
        cur.execute("VACUUM ANALYZE insights")
        cur.execute("SELECT job_id::text FROM insights LIMIT 1")
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


def fetch(url: str) -> tuple[int, float]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
        return answer.status, (time.perf_counter() - began) * 1000


def timed(url: str, runs: int) -> str:
    status, _ = fetch(url)
    assert status == 200, url
    times = [fetch(url)[1] for _ in range(runs)]
    return f"median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms"


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url}
    web = subprocess.Popen([JOBSUP, "web", "--listen", f"127.0.0.1:{port}", "--log-level",
                            "WARNING"], env=env)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            fetch(base + "/healthz")
            return web, base
        except OSError:
            time.sleep(0.05)
    raise SystemExit("jobsup web did not start")


def second_page(base: str) -> str:
    with urllib.request.urlopen(base + "/jobs?status=failed", timeout=30) as answer:
        found = re.search(r'href="/jobs\?([^"]+)" rel="next"', answer.read().decode())
    assert found, "no second page"
    return "/jobs?" + found.group(1).replace("&amp;", "&")


def explain(conn: Connection) -> None:
    page = job_admin.list_jobs(conn, job_admin.Filters(status="failed", limit=51))
    after = (page[-2]["created_at"], page[-2]["id"])
    cases = LIST_CASES | {
        "status=failed, page 2": job_admin.Filters("failed", limit=51, after=after)
    }
    for name, filters in cases.items():
        with conn.cursor() as cur:
            cur.execute("SET jit = off")  # as the dashboard's connections do
            text = job_admin.SQL["list_jobs"]
            cur.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + text, job_admin.list_params(filters)
            )
            plan = "\n".join("    " + line for (line,) in cur.fetchall())
        print(f"  EXPLAIN list_jobs, {name}:\n{plan}")


def bench(count: int, runs: int, show_plans: bool) -> None:
    with scratch_database() as url:
        conn = connect(url)
        began = time.monotonic()
        job_id = fill(conn, count)
        print(f"\n{count:,} jobs (filled in {time.monotonic() - began:.0f} s), 10 supervisors")
        web, base = serve(url)
        try:
            pages = ["/", "/jobs", "/jobs?status=failed", second_page(base),
                     "/jobs?status=cancelled", "/jobs?q=customer+42", f"/jobs/{job_id}",
                     f"/jobs/{job_id[:8]}", "/supervisors", "/healthz"]  # fmt: skip
            for page in pages:
                print(f"  {page[:52]:<52} {timed(base + page, runs)}")
            if show_plans:
                explain(conn)
        finally:
            web.terminate()
            web.wait(10)
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the lists")
    args = parser.parse_args()
    for count in args.jobs:
        bench(count, args.runs, args.explain)


if __name__ == "__main__":
    main()
