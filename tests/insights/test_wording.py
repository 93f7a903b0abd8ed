"""The summary's own words: counts agree with their noun."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.insights.rows import Rows, of_type

pytestmark = pytest.mark.unit


def test_one_row_is_one_row_not_one_rows(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    path = tmp_path / "one.csv"
    path.write_text("region,revenue\nnorth,120.5\n")
    summary = of_type(analyse([path], "How is revenue doing?"), "summary")[0]["content"]["summary"]
    assert "Analysed 1 row from" in summary, summary
    assert "1 rows" not in summary, summary
