"""Fixtures for the analysis workflow tests: synthetic files and a way to run the workflow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.insights import run_complete_workflow
from tests.insights.fake_model import data_file, fake_model  # noqa: F401  # fixtures of this folder
from tests.insights.rows import Rows
from tests.insights.sales_data import Plan, sales, write_csv


@pytest.fixture
def analyse() -> Callable[..., Rows]:
    """Run the workflow on files with no memory limit and no AI."""

    def run(files: Sequence[Path | str], description: str | None = None, **kwargs: Any) -> Rows:
        metadata = kwargs.pop("metadata", {})
        return run_complete_workflow([str(f) for f in files], description, metadata, **kwargs)

    return run


@pytest.fixture
def sales_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write synthetic sales data with the given plan to a CSV file; return its path."""

    def make(plan: Plan | None = None, seed: int = 7, name: str = "sales.csv") -> Path:
        return write_csv(sales(plan or Plan(), seed=seed), tmp_path / name)

    return make
