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


def test_tied_values_holding_commas_stay_readable(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Values such as "Forced air, Gas" tied for fewest: joined by commas they would run into
    # each other; they are set apart by semicolons.
    lines = ["heating,price"] + [f"Forced air,{100 + i}" for i in range(30)]
    lines += ['"Heat pump, Gas",90', '"Baseboard, Electric",95', '"Other, Gas",99']
    path = tmp_path / "houses.csv"
    path.write_text("\n".join(lines) + "\n")
    out = analyse([path], "How many houses have each heating?")
    titles = [r["content"]["title"] for r in of_type(out, "segment_comparison")]
    assert any("Baseboard, Electric; Heat pump, Gas and Other, Gas (tied)" in t for t in titles), (
        titles
    )
