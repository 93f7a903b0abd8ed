"""The dashboard in a real headless Chromium (Debian's), as an operator uses it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.processes import add_job, status, wait_for, write_config
from tests.web.dashboard import (
    TOKEN,
    Dashboards,
    insert_file,
    insert_insight,
    insert_job,
    screenshot,
)

HISTORY = """
INSERT INTO processing_jobs (job_type, status, business_description, created_at, started_at,
                             completed_at, error_message)
SELECT CASE WHEN n % 3 = 0 THEN 'report' ELSE 'analysis' END,
       CASE WHEN n % 5 = 0 THEN 'failed' ELSE 'completed' END,
       'history job ' || n,
       localtimestamp - make_interval(mins => n * 7 + 2),
       localtimestamp - make_interval(mins => n * 7 + 1),
       localtimestamp - make_interval(mins => n * 7 + 1) + make_interval(secs => 1 + n % 40),
       CASE WHEN n % 5 = 0 THEN 'RuntimeError: bad row ' || (n % 2) END
FROM generate_series(1, 180) AS n
"""


def test_the_overview_renders_its_charts(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    with conn.cursor() as cur:
        cur.execute(HISTORY)
    insert_job(conn, job_type="analysis", status="pending", business_description="waiting")
    web = dashboards.start(db_url, tmp_path)
    page.goto(web.base + "/")
    throughput = page.locator("svg#throughput-chart")
    assert throughput.locator("rect.completed").count() == 24
    assert throughput.locator("rect.failed").count() == 24
    heights = [
        float(h)
        for h in throughput.locator("rect.completed").evaluate_all(
            "rs => rs.map(r => r.getAttribute('height'))"
        )
    ]
    assert sum(1 for h in heights if h > 0) >= 20  # 180 jobs over 21 hours
    assert throughput.bounding_box()["height"] > 100  # drawn, not just present
    durations = page.locator("svg#duration-chart")
    assert durations.locator("rect.median").count() == 2  # analysis and report
    assert "analysis" in durations.text_content() and "report" in durations.text_content()
    status_chart = page.locator("svg#status-chart")
    assert status_chart.locator("rect.completed").count() == 1
    assert status_chart.locator("rect.failed").count() == 1
    tiles = page.locator(".tiles").inner_text()
    assert "1\nrunnable" in tiles
    assert (
        "RuntimeError: bad row"
        in page.locator("text=Failures, last 24 h").locator("..").inner_text()
    )
    screenshot(page, tmp_path, "overview")


def test_the_jobs_list_filters_and_pages(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    # One transaction: 120 jobs with one created_at, so only the id tells them apart.
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO processing_jobs (job_type, status, business_description)
            SELECT 'diag.noop', CASE WHEN n % 4 = 0 THEN 'failed' ELSE 'completed' END,
                   CASE WHEN n % 10 = 0 THEN 'Quarterly revenue ' || n ELSE 'other ' || n END
            FROM generate_series(1, 120) AS n""")
    web = dashboards.start(db_url, tmp_path)
    page.goto(web.base + "/jobs")
    seen: list[str] = []
    for expected in (50, 50, 20):
        rows = page.locator("table.jobs tbody tr")
        assert rows.count() == expected
        seen += rows.locator("a.id").evaluate_all("links => links.map(a => a.title)")
        if expected == 20:
            assert page.locator("a[rel=next]").count() == 0
        else:
            page.click("a[rel=next]")
    assert len(seen) == len(set(seen)) == 120  # every job once, none twice
    page.select_option("select[name=status]", "failed")
    page.click("button[type=submit]")
    rows = page.locator("table.jobs tbody tr")
    assert rows.count() == 30
    assert set(rows.locator(".status").all_inner_texts()) == {"failed"}
    assert "status=failed" in page.url
    page.fill("input[name=q]", "QUARTERLY")
    page.click("button[type=submit]")
    assert rows.count() == 6  # 20, 40, … 120: failed, and about revenue
    page.goto(web.base + "/jobs?since=soon")
    assert "since 'soon'" in page.locator(".problem").inner_text()
    screenshot(page, tmp_path, "jobs")


def test_a_job_page_shows_its_attempts_and_insights(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    file_id = insert_file(conn, "/data/sales.csv", "sales.csv")
    attempts = [
        {
            "attempt": 1,
            "outcome": "retry",
            "host": "vm1",
            "pid": 4101,
            "started": "2026-11-29T01:00:00+00:00",
            "seconds": 12.5,
            "peak_memory_mb": 301.2,
            "cpu_seconds": 9.9,
            "error": "memory limit exceeded: 1.1 GiB > 1.0 GiB (rss)",
        },
        {
            "attempt": 2,
            "outcome": "completed",
            "host": "vm2",
            "pid": 5202,
            "started": "2026-11-29T01:00:40+00:00",
            "seconds": 20.0,
            "peak_memory_mb": 280.0,
            "cpu_seconds": 15.0,
            "error": None,
        },
    ]
    job_id = insert_job(
        conn,
        job_type="analysis",
        status="completed",
        file_id=file_id,
        retry_count=1,
        business_description="Why did sales drop in March?",
        attempts=attempts,
        error_message="RuntimeError: bad row 7\nTraceback (most recent call last):\n  File x\n--- last output ---\nreading rows\nrow 7 is odd",
    )
    insert_insight(
        conn,
        job_id,
        "summary",
        {
            "title": "Executive summary",
            "summary": "Sales fell 12% in March.\nThe South region drove it.",
            "details": {"rows": 4273, "files": ["sales.csv"], "file": "sales.csv"},
        },
        0.94,
    )
    insert_insight(
        conn,
        job_id,
        "anomaly",
        {
            "title": "Drop in revenue on 2024-03-12",
            "summary": "Revenue was 66.6 against 925.7 expected.",
            "details": {
                "file": "sales.csv",
                "z": -5.33,
                "measures": [{"measure": "revenue", "value": 66.6, "expected": 925.7}],
            },
        },
        0.88,
    )
    web = dashboards.start(db_url, tmp_path)
    page.goto(web.base + f"/jobs/{job_id[:8]}")
    assert page.locator("h1 .id").inner_text() == job_id[:8]
    rows = page.locator("#attempts tr.attempt")
    assert rows.count() == 2
    assert "memory limit exceeded: 1.1 GiB > 1.0 GiB (rss)" in rows.nth(0).inner_text()
    assert "vm2" in rows.nth(1).inner_text() and "5202" in rows.nth(1).inner_text()
    timeline = page.locator("svg#attempts-timeline")
    assert (
        timeline.locator("rect.retry").count() == 1
        and timeline.locator("rect.completed").count() == 1
    )
    assert "RuntimeError: bad row 7" in page.locator("#error pre").inner_text()
    assert page.locator("#output pre").inner_text() == "reading rows\nrow 7 is odd"
    insights = page.locator("article.insight")
    assert insights.count() == 2
    first = insights.nth(0)
    assert first.locator("h3").inner_text() == "Executive summary"
    assert first.locator("p").nth(0).inner_text() == "Sales fell 12% in March."
    assert first.locator("meter").get_attribute("value") == "0.94"
    second = insights.nth(1)
    assert not second.locator("dl.details").is_visible()
    second.locator("summary").click()
    details = second.locator("dl.details")
    assert details.is_visible()
    assert "-5.33" in details.inner_text() and "925.7" in details.locator("table").inner_text()
    second.locator("a[href='#file']").click()
    assert page.url.endswith("#file")
    assert "/data/sales.csv" in page.locator("#file").inner_text()
    screenshot(page, tmp_path, "job")


@pytest.mark.slow
def test_a_live_runner_appears_on_the_supervisors_page(
    db_url: str,
    conn: Connection,
    tmp_path: Path,
    dashboards: Dashboards,
    page: Any,
    supervisors: Any,
) -> None:
    config = write_config(tmp_path, extra="[web]\nrefresh = 0.5\n")
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    web = dashboards.start(db_url, tmp_path, config=config)
    page.goto(web.base + "/supervisors")
    assert page.locator("section.supervisor").count() == 1
    assert page.locator("tr.runner").count() == 0
    job_id = add_job(conn, "sleep", seconds=60)
    # no reload: the page refreshes itself
    row = page.locator(f"tr.runner[data-job='{job_id}']")
    row.wait_for(timeout=20_000)  # at once: the job is held; its figures come with a heartbeat
    text = wait_for(lambda: "1/4" in (shown := row.inner_text()) and shown, timeout=20)
    assert "diag.sleep" in text
    assert page.locator(f"tr.runner[data-job='{job_id}'] meter").get_attribute("max") == "1024"
    screenshot(page, tmp_path, "supervisors")
    page.locator(f"tr.runner[data-job='{job_id}'] a.id").click()
    assert page.locator("h1 .status").inner_text() == "processing"


@pytest.mark.slow
def test_cancel_needs_the_token_and_cancels_a_running_job(
    db_url: str,
    conn: Connection,
    tmp_path: Path,
    dashboards: Dashboards,
    page: Any,
    supervisors: Any,
) -> None:
    config = write_config(tmp_path)
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    job_id = add_job(conn, "sleep", seconds=60)
    wait_for(lambda: status(conn, job_id) == "processing" and sup.runner_pids())
    runner = sup.runner_pids()[0]
    web = dashboards.start(db_url, tmp_path, token=TOKEN)
    # Signed out: no action button, and a POST with the page's own CSRF token is refused.
    page.goto(web.base + f"/jobs/{job_id}")
    assert page.locator("details.confirm").count() == 0
    assert "Sign in to cancel, reclaim this job" in page.locator(".actions").inner_text()
    page.goto(web.base + "/login")
    csrf = page.locator("input[name=csrf]").get_attribute("value")
    refused = page.request.post(web.base + f"/jobs/{job_id}/cancel", form={"csrf": csrf})
    assert refused.status == 401
    page.fill("input[name=token]", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".problem").inner_text() == "wrong token"
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(web.base + "/")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert (
        cookies["jobsup_session"]["httpOnly"] and cookies["jobsup_session"]["sameSite"] == "Strict"
    )
    assert TOKEN not in cookies["jobsup_session"]["value"]
    # Signed in, a wrong CSRF token is still refused.
    refused = page.request.post(web.base + f"/jobs/{job_id}/cancel", form={"csrf": "forged"})
    assert refused.status == 403
    assert status(conn, job_id) == "processing"
    page.goto(web.base + f"/jobs/{job_id}")
    page.locator("details.confirm summary", has_text="Cancel").click()
    page.locator("button", has_text="Yes, cancel").click()
    notice = page.locator(".notice").inner_text()
    assert notice.startswith(f"cancelled {job_id} (was processing; runner on ")
    assert status(conn, job_id) == "cancelled"
    wait_for(lambda: runner not in sup.runner_pids(), timeout=15)
    assert page.locator("h1 .status").inner_text() == "cancelled"
    screenshot(page, tmp_path, "cancelled")


def test_a_script_in_a_description_renders_as_text(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    evil = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    job_id = insert_job(
        conn, job_type="diag.noop", status="failed", business_description=evil, error_message=evil
    )
    insert_insight(
        conn, job_id, "summary", {"title": evil, "summary": evil, "details": {"note": evil}}, 0.5
    )
    web = dashboards.start(db_url, tmp_path)
    for path in ("/jobs", f"/jobs/{job_id}", "/"):
        page.goto(web.base + path)
        assert page.evaluate("window.pwned") is None
        assert page.locator("img[src=x]").count() == 0
    page.goto(web.base + f"/jobs/{job_id}")
    assert evil in page.locator("dl.fields").inner_text()
    assert page.locator("article.insight h3").inner_text() == evil
    page.goto(web.base + "/jobs")
    assert evil in page.locator("table.jobs").inner_text()


def test_screenshots_land_in_the_test_directory(tmp_path: Path) -> None:
    """The browser tests above save theirs under their own tmp_path/screenshots."""
    assert os.access("/usr/bin/chromium", os.X_OK), (
        "Debian's chromium is missing: .ci/run installs it"
    )
