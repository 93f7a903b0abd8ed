"""The dashboard in a real headless Chromium (Debian's), as an operator uses it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner.insights import analysis
from runner.job import Job
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


def test_the_overview_names_a_job_type_no_live_supervisor_serves(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    """Issue 29: a pending job of a type no live supervisor serves is shown, with its type,
    count and the oldest one's age (a supervisor serving `analysis` alone is alive)."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO jobsup_workers (id, host, host_key, pid, process_started, slots, "
                    "job_types) VALUES (gen_random_uuid(), 'vm', 'k', 1, 0, 2, '{analysis}')")  # fmt: skip
    insert_job(conn, job_type="analysis", status="pending")
    oldest = insert_job(conn, job_type="app.elsewhere", status="pending")
    insert_job(conn, job_type="app.elsewhere", status="pending")
    with conn.cursor() as cur:
        cur.execute("UPDATE processing_jobs SET created_at = localtimestamp - interval '75 min' "
                    "WHERE id = %s", (oldest,))  # fmt: skip
    web = dashboards.start(db_url, tmp_path)
    page.goto(web.base + "/")
    section = page.locator("section.unserved")
    rows = section.locator("tbody tr").all_inner_texts()
    assert [r.split("\t") for r in rows] == [["app.elsewhere", "2", "1h15m"]]
    assert "no live supervisor serves" in section.inner_text()
    href = section.locator("a").get_attribute("href")
    assert href == "/jobs?status=pending&type=app.elsewhere"
    screenshot(page, tmp_path, "overview-unserved")


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
    # Insights first: the summary, then the others; the job's sections below, folded.
    summary = page.locator("#summary")
    assert summary.locator("h2").inner_text() == "Executive summary"
    assert summary.locator("p").nth(0).inner_text() == "Sales fell 12% in March."
    assert "0.94" in summary.locator(".confidence").inner_text()
    insights = page.locator("#insights article.insight")
    assert insights.count() == 1
    anomaly = insights.nth(0)
    assert anomaly.locator("meter").get_attribute("value") == "0.88"
    chart = anomaly.locator("svg.chart")  # drawn from the value and expected it carries
    assert chart.locator("rect.drop").count() == 1 and chart.locator("polyline.expected").count()
    assert "925.7" in chart.locator("polyline.expected title").text_content()
    assert not anomaly.locator("dl.details").is_visible()
    anomaly.locator("details.all summary").click()
    details = anomaly.locator("dl.details")
    assert details.is_visible()
    assert "-5.33" in details.inner_text() and "925.7" in details.locator("table").inner_text()
    # The last error stays open; the attempts and the output tail open on a click.
    assert "RuntimeError: bad row 7" in page.locator("#error pre").inner_text()
    assert not page.locator("#attempts table").is_visible()
    assert "last: completed after 20.0s on vm2" in page.locator("#attempts summary").inner_text()
    page.locator("#attempts summary").click()
    rows = page.locator("#attempts tr.attempt")
    assert rows.count() == 2
    assert "memory limit exceeded: 1.1 GiB > 1.0 GiB (rss)" in rows.nth(0).inner_text()
    assert "vm2" in rows.nth(1).inner_text() and "5202" in rows.nth(1).inner_text()
    timeline = page.locator("svg#attempts-timeline")
    assert (
        timeline.locator("rect.retry").count() == 1
        and timeline.locator("rect.completed").count() == 1
    )
    page.locator("#output summary").click()
    assert page.locator("#output pre").inner_text() == "reading rows\nrow 7 is odd"
    anomaly.locator("a[href='#file-row']").click()
    assert page.url.endswith("#file-row")
    assert "/data/sales.csv" in page.locator("#file").inner_text()
    assert page.locator("#file dl.fields").is_visible()


SAMPLES = Path(__file__).resolve().parents[2] / "conf" / "samples"
CHARTED = ("trend", "seasonality", "segment_comparison", "anomaly", "correlation")


def analysed(conn: Connection, sample: str, question: str) -> tuple[str, list[dict[str, Any]]]:
    """A completed `analysis` job with the insights the real handler finds in `sample`."""
    path = SAMPLES / sample
    job = Job(id="x", type="analysis", files=(str(path),), business_description=question)
    rows = analysis(job)
    file_id = insert_file(conn, str(path), sample)
    attempt = {"attempt": 1, "outcome": "completed", "host": "vm1", "pid": 4242,
               "started": "2026-12-07T09:00:00+00:00", "seconds": 1.6, "peak_memory_mb": 131.0,
               "cpu_seconds": 1.4, "error": None}  # fmt: skip
    job_id = insert_job(conn, job_type="analysis", status="completed", file_id=file_id,
                        business_description=question, attempts=[attempt])  # fmt: skip
    for row in rows:
        insert_insight(conn, job_id, row["insight_type"], row["content"], row["confidence_score"])
    return job_id, rows


def test_an_analysis_jobs_page_leads_with_its_insights_each_with_its_chart(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    question = "Why did revenue change over the year, and which regions and channels drive it?"
    job_id, rows = analysed(conn, "sales.csv", question)
    web = dashboards.start(db_url, tmp_path)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(web.base + f"/jobs/{job_id}")
    # The summary, then the insights, then the job's own sections, folded.
    tops = page.evaluate("""ids => ids.map(id => document.getElementById(id)
                                               .getBoundingClientRect().top)""",
                         ["summary", "insights", "fields", "file", "output", "attempts"])  # fmt: skip
    assert tops == sorted(tops), tops
    assert tops[0] < 200  # the first thing below the title
    assert question in page.locator("#summary").inner_text()
    for section in ("fields", "file", "output", "attempts"):
        assert not page.locator(f"#{section} details").evaluate("d => d.open"), section
    # Ranked: the numbers the summary's highlights link to.
    articles = page.locator("#insights article.insight")
    assert articles.count() == len(rows) - 1  # all but the summary
    ranks = [int(r) for r in articles.locator(".rank").all_inner_texts()]
    assert ranks == sorted(ranks) and ranks[0] == 1
    highlight = page.locator("#summary ol.highlights a").first
    assert highlight.get_attribute("href") == "#insight-1"
    # Every kind with figures to draw has its own chart, titled for a screen reader.
    by_rank = {row["content"]["details"].get("rank"): row["content"] for row in rows}
    for n in range(articles.count()):
        article = articles.nth(n)
        kind = article.locator(".kind").inner_text()
        if kind not in CHARTED:
            continue
        chart = article.locator("svg.chart")
        assert chart.count() == 1, (kind, article.inner_text()[:200])
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
        assert chart.locator("title").first.text_content() == chart.get_attribute("aria-label")
        assert chart.bounding_box()["height"] > 50  # drawn, not just present
        details = by_rank[int(article.locator(".rank").inner_text())]["details"]
        if kind == "trend":
            points = chart.locator("polyline.series").get_attribute("points").split()
            assert len(points) == len(details["values"])
            assert chart.locator("polyline.fit").count() == 1
        elif kind == "seasonality":
            assert chart.locator("rect").count() == len(details["levels"])
            assert chart.locator("rect.high").count() == 1
        elif kind == "segment_comparison":
            assert chart.locator("rect").count() == min(len(details["segments"]), 12)
            assert "rows" in chart.text_content()  # each bar with its segment's size
        elif kind == "anomaly":
            assert chart.locator("rect.spike, rect.drop").count() >= 1
            assert chart.locator("polyline.expected").count() >= 1
        else:
            assert chart.locator("rect.positive").count() >= 1
    for kind in CHARTED:
        assert page.locator(f"article.insight:has(.kind:text-is('{kind}')) svg.chart").count()
    # The figures: a table of figure, value and what it is.
    first = articles.nth(0)
    figures = by_rank[1]["details"]["figures"]
    first.locator("details.figures summary").click()
    table = first.locator("table.figures")
    assert table.is_visible()
    assert table.locator("th").all_inner_texts() == ["figure", "value", "what it is"]
    assert table.locator("tbody tr").count() == len(figures)
    assert figures[0]["text"] in table.locator("tbody tr").nth(0).inner_text()
    assert "fit of total revenue where channel = online" in table.inner_text()
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, tmp_path, "insights", full_page=False)
    highlight.click()
    assert page.url.endswith("#insight-1")
    # The job's own sections open on a click; the file link opens its section.
    page.locator("#attempts summary").click()
    assert page.locator("#attempts tr.attempt").count() == 1
    first.locator("a[href='#file-row']").click()
    assert page.locator("#file dl.fields").is_visible()  # the details around it opened
    assert str(SAMPLES / "sales.csv") in page.locator("#file").inner_text()
    assert not [m for m in console if "Content Security Policy" in m], console  # no inline
    top = page.locator("#insight-7").bounding_box()["y"] + page.evaluate("window.scrollY")
    screenshot(page, tmp_path, "job", clip={"x": 0, "y": top - 60, "width": 1280, "height": 1700})


def test_chromium_opens_a_job_with_a_description_of_megabytes_at_once(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    description = "".join(f"line {n:07d} of a very long brief\n" for n in range(200_000))
    job_id = insert_job(conn, job_type="analysis", status="pending",
                        business_description=description)  # fmt: skip
    web = dashboards.start(db_url, tmp_path)
    page.goto(web.base + f"/jobs/{job_id}", timeout=10_000)  # it gave up after 90 s
    shown = page.locator("#fields dd.text")
    assert shown.inner_text().startswith(description[:300].replace("\n", " ")[:40])
    assert len(shown.inner_text()) < 500
    link = shown.locator("a")
    assert link.inner_text() == "the whole description"
    whole = page.request.get(web.base + link.get_attribute("href"))
    assert whole.ok and whole.text() == description


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
    assert page.url == web.base + f"/jobs/{job_id}"  # redirected: a reload posts nothing
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
    page.locator("#fields summary").click()
    assert evil in page.locator("dl.fields").inner_text()
    assert page.locator("#summary h2").inner_text() == evil
    page.goto(web.base + "/jobs")
    assert evil in page.locator("table.jobs").inner_text()


def test_screenshots_land_in_the_test_directory(tmp_path: Path) -> None:
    """The browser tests above save theirs under their own tmp_path/screenshots."""
    assert os.access("/usr/bin/chromium", os.X_OK), (
        "Debian's chromium is missing: .ci/run installs it"
    )


def test_a_jobs_page_links_its_parents_children_and_batch(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards, page: Any
) -> None:
    from supervisor.api import enqueue_batch
    from supervisor.db.connect import transaction

    with transaction(conn):
        batch = enqueue_batch(conn, [{"job_type": "diag.noop"}, {"job_type": "diag.fail"}],
                              then={"job_type": "diag.parents"})  # fmt: skip
    first, second = batch.job_ids
    with conn.cursor() as cur:  # the first ends, as a write-back would end it
        cur.execute("UPDATE processing_jobs SET status = 'completed' WHERE id = %s", (first,))
    web = dashboards.start(db_url, tmp_path)
    page.goto(f"{web.base}/jobs/{batch.then_id}")
    assert "1 of 2 ended" in page.locator("#batch").text_content()
    assert page.locator("#batch progress").get_attribute("value") == "1"
    parents = page.locator("#parents li")
    assert parents.count() == 2
    assert "completed" in parents.nth(0).text_content()
    assert "runs even if it fails" in parents.nth(1).text_content()
    parents.nth(1).locator("a").click()
    page.wait_for_url(f"**/jobs/{second}")
    child = page.locator("#children li")
    assert child.count() == 1 and "waits for 1" in child.text_content()
    child.locator("a").click()
    page.wait_for_url(f"**/jobs/{batch.then_id}")
