"""Years of history: a table of finished jobs spread over two years, and how long the
operator's views take on it (the dashboard's overview and jobs list, its text search,
`jobsup stats`, `jobsup ps`), each the median of a few calls of the code behind them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from supervisor.config import Config
from supervisor.db.connect import Connection
from supervisor.ops import job_admin, report
from supervisor.store import history
from supervisor.web import pages

TYPES = ("analysis", "report.daily", "mail.send", "etl.load", "bench.rare")
# Descriptions: one word in every tenth row ("quarterly"), one in a row of 100,000
# ("zeppelin"), so a search finds few or many rows.
FILL = """
INSERT INTO processing_jobs (id, job_type, status, retry_count, business_description,
                             created_at, started_at, completed_at, run_at, priority)
SELECT lpad(to_hex(n), 32, '0')::uuid,
       (%(types)s::text[])[1 + (n %% 97 %% 5)],
       CASE WHEN n %% 50 = 0 THEN 'failed' WHEN n %% 333 = 0 THEN 'cancelled'
            ELSE 'completed' END,
       n %% 4,
       CASE WHEN n %% 10 = 0 THEN 'quarterly revenue review ' ELSE 'customer churn study ' END
           || 'region ' || (n %% 40) || CASE WHEN n %% 100000 = 7 THEN ' zeppelin' ELSE '' END,
       t, t + interval '1 second', t + interval '3 seconds', t, 0
FROM generate_series(1, %(rows)s) AS n,
     LATERAL (SELECT localtimestamp - interval '730 days' * (1 - n::float8 / %(rows)s)
                     - interval '1 minute' AS t) AS at
"""


def fill(conn: Connection, rows: int) -> None:
    """`rows` finished jobs over the last two years, newest last, with the indexes rebuilt
    after the load and the rollup counted afresh (the triggers are off while loading)."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE processing_jobs, insights CASCADE")
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'processing_jobs' AND indexname <> 'processing_jobs_pkey'"
        )
        indexes = cur.fetchall()
        cur.execute("ALTER TABLE processing_jobs DISABLE TRIGGER USER")
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute(FILL, {"types": list(TYPES), "rows": rows})
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("ALTER TABLE processing_jobs ENABLE TRIGGER USER")
    history.rebuild(conn)
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE processing_jobs")


def views(conn: Connection, cfg: Config) -> dict[str, Callable[[], Any]]:
    """The views measured: each the slowest of its variants (filters, searches)."""
    filters = job_admin.Filters
    lists = [filters(), filters(status="failed"), filters(status="cancelled"),
             filters(job_type="bench.rare"), filters(since=3600.0)]  # fmt: skip
    searches = [filters(text="zeppelin"), filters(text="quarterly"),
                filters(text="quarterly", status="failed"),
                filters(text="no such words")]  # fmt: skip
    # Common words with a filter none of their jobs pass: the trigram index yields most of
    # the table, every row of it rejected (reported apart: not flat).
    worst = filters(text="churn", status="failed")

    def ps() -> None:
        report.workers(conn, cfg.supervisor.stale_after)
        report.unserved(conn, cfg.supervisor.stale_after)
        report.queue(conn)

    return {
        "overview_ms": lambda: pages.overview(conn, cfg),
        "jobs_ms": lambda: (
            [pages.jobs(conn, cfg, pages.JobQuery.from_params({}))]
            + [job_admin.list_jobs(conn, f) for f in lists]
        ),
        "search_ms": lambda: [job_admin.list_jobs(conn, f) for f in searches],
        "stats_ms": lambda: report.stats(conn, 24, cfg.supervisor.stale_after),
        "ps_ms": ps,
        "search_worst_ms": lambda: job_admin.list_jobs(conn, worst),
    }


def measure(conn: Connection, cfg: Config, repeat: int = 3) -> dict[str, float]:
    """Milliseconds of each view, the median of `repeat` calls after one to warm up."""
    figures = {}
    for name, view in views(conn, cfg).items():
        view()
        took = []
        for _ in range(repeat):
            began = time.perf_counter()
            view()
            took.append((time.perf_counter() - began) * 1000)
        figures[name] = round(statistics.median(took), 1)
    return figures


def rebuild_after(conn: Connection) -> None:
    """The rollup counted afresh after runs with its triggers off."""
    history.rebuild(conn)
