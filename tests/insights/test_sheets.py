"""A workbook of several sheets: its table is read wherever it sits, and the insights say which
sheets were read."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference

from runner.insights.excel import Sheets, xlsx_to_csv
from tests.insights.rows import Rows, details, of_type
from tests.insights.sales_data import Plan, sales

ROWS = sales(Plan(days=30, per_day=10), seed=5)
NOTES = [
    ["Quarterly sales export"],
    [],
    ["Prepared by", "Finance"],
    ["The orders are on the sheet 'Data'; regions on 'Lookup'."],
]
LOOKUP = [["region", "manager"], ["North", "Ann"], ["South", "Bo"], ["East", "Cy"]]


def _orders(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The header and the order lines, dates as real Excel date cells."""
    lines: list[list[Any]] = [list(ROWS[0])]
    for r in rows:
        values = list(r.values())
        values[1] = dt.datetime.fromisoformat(r["order_date"])
        lines.append(values)
    return lines


def _book(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = Workbook(write_only=True)
    for title, lines in sheets.items():
        sheet = book.create_sheet(title)
        for line in lines:
            sheet.append(line)
    book.save(path)
    return path


def _profile(rows: Rows) -> dict[str, Any]:
    return of_type(rows, "profile")[0]


def test_the_data_on_the_second_sheet_is_read_not_the_notes_before_it(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    book = _book(tmp_path / "q3.xlsx", {"Notes": NOTES, "Data": _orders(ROWS), "Lookup": LOOKUP})
    profile = _profile(analyse([book]))
    assert details(profile)["rows"] == len(ROWS)
    assert {"revenue", "quantity"} <= set(details(profile)["roles"]["measure"])
    said = "Read from sheet 'Data' of 3 (Notes, Data, Lookup)."
    assert said in profile["content"]["summary"]
    sheets = details(profile)["source"]["sheets"]
    assert sheets == {"read": ["Data"], "workbook": ["Notes", "Data", "Lookup"]}


def test_sheets_under_the_same_header_are_read_as_one_table(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    half = len(ROWS) // 2
    # Header names as people retype them on the next sheet: case and spaces differ.
    retyped = [[f" {name.upper()}" for name in ROWS[0]], *_orders(ROWS[half:])[1:]]
    sheets = {"Notes": NOTES, "January": _orders(ROWS[:half]), "February": retyped}
    rows = analyse([_book(tmp_path / "orders.xlsx", sheets)])
    profile = _profile(rows)
    assert details(profile)["rows"] == len(ROWS)
    assert details(profile)["source"]["sheets"]["read"] == ["January", "February"]
    said = "Read from sheets 'January', 'February' of 3 (Notes, January, February)."
    assert said in profile["content"]["summary"]
    revenue = next(details(r) for r in of_type(rows, "kpi") if details(r)["measure"] == "revenue")
    assert revenue["total"] == pytest.approx(sum(r["revenue"] for r in ROWS), abs=0.01)


def test_a_single_sheet_is_read_as_before(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    profile = _profile(analyse([_book(tmp_path / "sales.xlsx", {"Orders": _orders(ROWS)})]))
    assert details(profile)["rows"] == len(ROWS)
    assert details(profile)["source"]["sheets"] == {"read": ["Orders"], "workbook": ["Orders"]}
    assert "sheet" not in profile["content"]["summary"]


def test_a_title_above_the_header_and_a_note_beside_the_table_are_left_out(
    tmp_path: Path,
) -> None:
    lines: list[list[Any]] = [
        ["Orders, January"],
        [],
        ["day", "shop", "amount"],
        *([f"2024-01-{d:02d}", f"shop{d % 3}", d * 1.5] for d in range(1, 11)),
    ]
    lines[3] += [None, "checked by Ann"]
    book = _book(tmp_path / "jan.xlsx", {"Cover": [["Jan report"]], "Orders": lines})
    target = tmp_path / "out.csv"
    sheets = xlsx_to_csv(book, "jan.xlsx", target)
    assert sheets == Sheets(("Orders",), ("Cover", "Orders"))
    with target.open(newline="") as stream:
        written = list(csv.reader(stream))
    assert written[:2] == [["day", "shop", "amount"], ["2024-01-01", "shop1", "1.5"]]
    assert len(written) == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jan.xlsx", "out.csv"]  # no leftovers


def test_a_chart_sheet_first_is_passed_over(tmp_path: Path) -> None:
    book = Workbook()
    data = book.active
    assert data is not None
    data.title = "Data"
    for line in [["a", "b"], [1, 2], [3, 4]]:
        data.append(line)
    chart = BarChart()
    chart.add_data(Reference(data, min_col=1, min_row=1, max_row=3))
    book.create_chartsheet("Chart", 0).add_chart(chart)
    book.save(tmp_path / "charted.xlsx")
    sheets = xlsx_to_csv(tmp_path / "charted.xlsx", "charted.xlsx", tmp_path / "out.csv")
    assert sheets == Sheets(("Data",), ("Chart", "Data"))
