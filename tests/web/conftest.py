"""Fixtures of the dashboard tests: `jobsup web` processes and a headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.dashboard import CHROMIUM, CHROMIUM_FLAGS, Dashboards


@pytest.fixture
def dashboards() -> Iterator[Dashboards]:
    started = Dashboards()
    yield started
    for dashboard in started:
        dashboard.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; a missing one fails, never skips."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium "
                    "(`apt-get install chromium`; .ci/run installs it)", pytrace=False)  # fmt: skip
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context and page; what the page's console said is checked after."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, errors
