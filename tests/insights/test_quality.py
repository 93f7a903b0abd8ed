"""Column roles and the data-quality checks, on small files with known problems."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.insights.rows import Rows, details, of_type

pytestmark = pytest.mark.unit

WORDS = [
    "printer",
    "login",
    "invoice",
    "refund",
    "slow",
    "crash",
    "password",
    "shipping",
    "delayed",
    "broken",
]


def tickets(n: int = 600, seed: int = 5) -> list[dict[str, Any]]:
    """Support tickets: an id, a timestamp, segments, a measure and free text."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 3, 1, 8, 0)
    return [
        {
            "ticket_id": f"T-{i:05d}",
            "created_at": (start + dt.timedelta(hours=3 * i)).isoformat(sep=" "),
            "priority": rng.choice(["low", "medium", "high"]),
            "resolution_hours": round(rng.uniform(1, 48), 1),
            "description": " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))),
            "source": "web",
        }
        for i in range(n)
    ]


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def issues(rows: Rows) -> dict[str, dict[str, Any]]:
    return {details(r)["issue"]: details(r) for r in of_type(rows, "data_quality")}


def test_roles_are_inferred(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    rows = analyse([write(tickets(), tmp_path / "tickets.csv")])
    profile = details(of_type(rows, "profile")[0])
    assert profile["roles"] == {
        "time": ["created_at"],
        "measure": ["resolution_hours"],
        "category": ["priority"],
        "identifier": ["ticket_id"],
        "text": ["description"],
        "other": ["source"],
    }
    by_column = {c["column"]: c for c in profile["column_profile"]}
    assert by_column["resolution_hours"]["aggregation"] == "mean"


def test_constant_column_is_reported(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    found = issues(analyse([write(tickets(), tmp_path / "tickets.csv")]))
    assert found["constant_columns"]["columns"] == [{"column": "source", "value": "web"}]


def test_mixed_types_are_reported_and_the_numbers_still_used(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    data = tickets()
    for i in (10, 20, 30):
        data[i]["resolution_hours"] = "unknown"
    data[40]["resolution_hours"] = "about 5"
    rows = analyse([write(data, tmp_path / "tickets.csv")])
    mixed = issues(rows)["mixed_types"]["columns"][0]
    assert mixed["column"] == "resolution_hours"
    assert set(mixed["examples"]) == {"unknown", "about 5"}
    kpi = next(
        details(r) for r in of_type(rows, "kpi") if details(r)["measure"] == "resolution_hours"
    )
    assert kpi["count"] == 596


def test_mixed_values_beyond_the_type_sniffing_sample_are_kept(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # DuckDB types columns from a sample of rows; a stray word far below it must not fail
    # the load: the column is read as text and its numbers are still used.
    lines = ["day,amount"] + [f"2024-01-{i % 28 + 1:02d},{i % 97}.5" for i in range(60_000)]
    lines.append("2024-02-01,n.a.")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = analyse([path])
    assert details(of_type(rows, "profile")[0])["source"]["read_as_text"] == ["amount"]
    assert issues(rows)["mixed_types"]["columns"][0]["examples"] == ["n.a."]


def test_impossible_values_and_duplicates(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    rng = random.Random(3)
    data = [
        {
            "order_id": i,
            "day": f"2024-01-{i % 28 + 1:02d}",
            "quantity": rng.randint(1, 9),
            "revenue": rng.randint(10, 900),
        }
        for i in range(400)
    ]
    for i in (5, 6, 7):
        data[i]["quantity"] = -2
    data += [dict(data[100]), dict(data[200])]
    found = issues(analyse([write(data, tmp_path / "orders.csv")]))
    assert found["impossible_values"]["columns"] == [
        {"column": "quantity", "problem": "negative values", "rows": 3}
    ]
    assert found["duplicate_rows"]["duplicate_rows"] == 2


def test_future_dates_are_impossible(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    data = tickets(200)
    data[-1]["created_at"] = (dt.datetime.now() + dt.timedelta(days=400)).isoformat(sep=" ")
    found = issues(analyse([write(data, tmp_path / "tickets.csv")]))
    assert {"column": "created_at", "problem": "dates in the future", "rows": 1} in found[
        "impossible_values"
    ]["columns"]


def test_clean_file_has_no_quality_findings(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    data = [{k: v for k, v in t.items() if k != "source"} for t in tickets()]
    assert issues(analyse([write(data, tmp_path / "tickets.csv")])) == {}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_columns_named_alike_but_for_case_keep_the_file_names(
    fmt: str, tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # "IOD" and "iod" in one header: the database cannot hold both names, and a name the file
    # does not have ("iod_1") must never be printed. The second is left out, and said so.
    rng = random.Random(3)
    path = tmp_path / "climate.csv"
    lines = ["Year,IOD,iod,rain"] + [
        f"{1950 + i},{rng.gauss(0, 1):.3f},{rng.gauss(0, 1):.3f},{700 + 3 * i + rng.gauss(0, 20):.1f}"
        for i in range(60)
    ]
    for i in (5, 15, 25, 35, 45):  # no iod in these rows
        year, first, _, rain = lines[i].split(",")
        lines[i] = f"{year},{first},,{rain}"
    path.write_text("\n".join(lines) + "\n")
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        book.active.append(lines[0].split(","))
        for line in lines[1:]:
            book.active.append([float(v) if v else None for v in line.split(",")])
        path = tmp_path / "climate.xlsx"
        book.save(path)
    out = analyse([path], "How has rain changed?")
    assert "iod_1" not in json.dumps(out)
    # Counts stay the file's: four columns, and the one left out keeps its gap.
    assert details(of_type(out, "profile")[0])["columns"] == 4
    gaps = [
        d for r in of_type(out, "data_quality") if (d := details(r))["issue"] == "missing_values"
    ]
    assert [c["column"] for c in gaps[0]["columns"]] == ["iod"], gaps
    noted = [d for r in of_type(out, "data_quality") if (d := details(r))["issue"] == "names_alike"]
    assert noted and noted[0]["columns"] == [{"column": "iod", "like": "IOD"}], noted
