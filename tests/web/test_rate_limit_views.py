"""A rate limit as `jobsup stats`, /metrics and the dashboard show it: the limit, the starts
in its window, and the runnable jobs held back by it."""

from __future__ import annotations

import re
from pathlib import Path

from supervisor.client.enqueue import enqueue
from supervisor.config.flow import RateLimit
from supervisor.db.connect import Connection
from supervisor.metrics import METRICS
from supervisor.store import statements as store
from tests.fixtures.commands import jobsup
from tests.fixtures.flow import NOOP, WORKER
from tests.web.dashboard import Dashboards

# A minute: the window stays full while the CLI and the dashboard start.
RATE = {"diag.noop": RateLimit(3, 60.0)}


def test_stats_metrics_and_dashboard_show_a_limit_and_who_waits_on_it(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    web = dashboards.start(db_url, tmp_path)
    for _ in range(8):
        enqueue(conn, job_type="diag.noop")
    assert len(store.claim(conn, WORKER, 10, NOOP, rates=RATE)) == 3
    (window,) = store.rate_limits(conn)
    assert (window["job_type"], window["max_starts"], window["period"]) == ("diag.noop", 3, 60.0)
    assert (window["started"], window["waiting"]) == (3, 5)
    assert 55 < window["reopens_in"] <= 60.0
    METRICS.set_queue(store.queue(conn).as_dict())
    text = METRICS.text().decode()
    assert 'jobsup_rate_limit_per_second{type="diag.noop"} 0.05' in text
    assert 'jobsup_rate_limit_waiting{type="diag.noop"} 5.0' in text
    assert 'jobsup_rate_limit_started{type="diag.noop"} 3.0' in text
    done = jobsup("stats", env={"DATABASE_URL": db_url})
    out = done.stdout
    assert done.returncode == 0, done.stderr
    line = next(row for row in out.splitlines() if "3/minute" in row)
    assert line.split()[:4] == ["diag.noop", "3/minute", "3", "5"], line
    body = web.get("/").body
    shown = body[body.index("Rate limits") :].split("</table>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', shown)
    assert cells[:3] == ["3/minute", "3", "5"], shown
