"""A running job's progress on the dashboard, live in a real headless Chromium: a bar on the
job's page and on the supervisors page, updated without a reload."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from supervisor.db.connect import Connection
from tests.fixtures.processes import add_job, wait_for, write_config
from tests.web.dashboard import Dashboards, screenshot

pytestmark = pytest.mark.slow


def test_progress_bars_move_on_the_job_and_supervisors_pages(
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
    job_id = add_job(conn, "progress", total=4, seconds=2.0, after=60)
    page.goto(web.base + f"/jobs/{job_id}")
    bar = page.locator("#progress progress")
    bar.wait_for(timeout=20_000)  # no reload: the section refreshes itself
    first = float(bar.get_attribute("value"))
    assert bar.get_attribute("max") == "4"
    wait_for(lambda: float(page.locator("#progress progress").get_attribute("value")) > first,
             timeout=20)  # fmt: skip
    wait_for(lambda: "4/4 (100%) stage 4 of 4" in page.locator("#progress").inner_text(),
             timeout=30)  # fmt: skip
    screenshot(page, tmp_path, "job-progress")
    page.goto(web.base + "/supervisors")
    row = page.locator(f"tr.runner[data-job='{job_id}']")
    row.wait_for(timeout=20_000)
    wait_for(lambda: row.locator("progress").count() == 1, timeout=20)
    assert row.locator("progress").get_attribute("value") == "4"
    assert "stage 4 of 4" in row.inner_text()
    sup.signal(signal.SIGQUIT)
    sup.wait()
