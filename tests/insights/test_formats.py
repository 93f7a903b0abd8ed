"""Every accepted format and dialect yields the same table, roles and totals."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import Workbook

from runner.insights.sql import literal
from tests.insights.rows import Rows, details, of_type
from tests.insights.sales_data import Plan, sales, write_csv

ROWS = sales(Plan(days=60, per_day=20), seed=3)
REVENUE = round(sum(r["revenue"] for r in ROWS), 2)


def _european(path: Path) -> Path:
    """Semicolons, decimal commas, dot thousands separators, Windows-1252 text."""
    with path.open("w", newline="", encoding="cp1252") as stream:
        writer = csv.writer(stream, delimiter=";")
        writer.writerow(["Bestelldatum", "Région", "customer_id", "revenue", "quantity"])
        for r in ROWS:
            cents = f"{r['revenue'] * 100:,.2f}"  # in cents, so thousands separators appear
            amount = cents.replace(",", "X").replace(".", ",").replace("X", ".")
            region = "Zürich" if r["region"] == "North" else r["region"]
            writer.writerow([r["order_date"], region, r["customer_id"], amount, r["quantity"]])
    return path


def _gzip(source: Path, target: Path) -> Path:
    with source.open("rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def _json(path: Path, lines: bool) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        if lines:
            stream.writelines(json.dumps(r) + "\n" for r in ROWS)
        else:
            json.dump(ROWS, stream)
    return path


def _parquet(csv_path: Path, path: Path) -> Path:
    con = duckdb.connect()
    con.execute(f"COPY (FROM read_csv({literal(csv_path)})) TO {literal(path)}").fetchall()
    con.close()
    return path


def _xlsx(path: Path) -> Path:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Orders")
    sheet.append(list(ROWS[0]))
    for r in ROWS:
        values: list[Any] = list(r.values())
        values[1] = dt.datetime.fromisoformat(r["order_date"])  # a real Excel date cell
        sheet.append(values)
    book.save(path)
    return path


def _utf16(csv_path: Path, path: Path) -> Path:
    path.write_text(csv_path.read_text(encoding="utf-8"), encoding="utf-16")
    return path


MAKERS: dict[str, Callable[[Path, Path], Path]] = {
    "csv": lambda base, d: base,
    "tsv": lambda base, d: write_csv(ROWS, d / "sales.tsv", delimiter="\t"),
    "csv.gz": lambda base, d: _gzip(base, d / "sales.csv.gz"),
    "utf-16 csv": lambda base, d: _utf16(base, d / "sales16.csv"),
    "json": lambda base, d: _json(d / "sales.json", lines=False),
    "jsonl": lambda base, d: _json(d / "sales.jsonl", lines=True),
    "jsonl.gz": lambda base, d: _gzip(_json(d / "s.jsonl", lines=True), d / "sales.jsonl.gz"),
    "parquet": lambda base, d: _parquet(base, d / "sales.parquet"),
    "parquet.gz": lambda base, d: _gzip(_parquet(base, d / "p.parquet"), d / "sales.parquet.gz"),
    "xlsx": lambda base, d: _xlsx(d / "sales.xlsx"),
}


@pytest.mark.parametrize("fmt", list(MAKERS))
def test_every_format_reads_the_same_table(
    fmt: str, tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    path = MAKERS[fmt](write_csv(ROWS, tmp_path / "sales.csv"), tmp_path)
    rows = analyse([path])
    profile = details(of_type(rows, "profile")[0])
    assert profile["rows"] == len(ROWS)
    roles = profile["roles"]
    assert "order_date" in roles["time"]
    assert {"revenue", "quantity"} <= set(roles["measure"])
    assert {"region", "channel", "category"} <= set(roles["category"])
    assert {"customer_id", "order_id"} <= set(roles["identifier"])
    revenue = next(details(r) for r in of_type(rows, "kpi") if details(r)["measure"] == "revenue")
    assert revenue["total"] == pytest.approx(REVENUE, abs=0.01)


def test_european_csv_dialect_and_encoding_are_detected(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    rows = analyse([_european(tmp_path / "umsatz.csv")])
    profile = details(of_type(rows, "profile")[0])
    source = profile["source"]
    assert (source["delimiter"], source["decimal_separator"]) == (";", ",")
    assert (source["thousands_separator"], source["encoding"]) == (".", "cp1252")
    assert "Bestelldatum" in profile["roles"]["time"]
    assert "Région" in profile["roles"]["category"]
    revenue = next(details(r) for r in of_type(rows, "kpi") if details(r)["measure"] == "revenue")
    assert revenue["total"] == pytest.approx(REVENUE * 100, abs=1)


def test_headerless_csv_is_read_with_generated_names(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("".join(f"2024-01-{d:02d},{d * 10.5},shop{d % 3}\n" for d in range(1, 29)))
    profile = details(of_type(analyse([path]), "profile")[0])
    assert profile["rows"] == 28
    assert profile["source"]["header"] is False
    assert profile["roles"]["time"] == ["column0"]


def test_several_files_are_analysed_together(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    first = write_csv(ROWS, tmp_path / "a.csv")
    second = _json(tmp_path / "b.jsonl", lines=True)
    rows = analyse([first, second])
    assert {details(r)["file"] for r in of_type(rows, "profile")} == {"a.csv", "b.jsonl"}
    assert details(rows[0])["files"] == ["a.csv", "b.jsonl"]
