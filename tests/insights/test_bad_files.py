"""A file that cannot be analysed fails the job at once, with a message naming file and problem."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from runner.errors import PermanentFailure
from runner.insights import analysis
from runner.insights.sql import literal
from runner.job import Job
from tests.insights.rows import Rows

pytestmark = pytest.mark.unit

GOOD_CSV = "day,region,amount\n" + "".join(
    f"2024-01-{d % 28 + 1:02d},R{d % 3},{d * 1.5}\n" for d in range(200)
)

BODY = GOOD_CSV.split("\n", 1)[1]


def _parquet_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "whole.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS x FROM range(1000)) TO {literal(path)}").fetchall()
    con.close()
    return path.read_bytes()


def _xlsx_bytes() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for d in range(50):
        sheet.append([f"2024-01-{d % 28 + 1:02d}", d])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


CASES: dict[str, tuple[str, Callable[[Path], bytes], str]] = {
    "empty": ("sales.csv", lambda d: b"", "sales.csv: file is empty"),
    "blank": ("sales.csv", lambda d: b"  \n\n \r\n", "sales.csv: file is empty"),
    "empty gzip": ("sales.csv.gz", lambda d: gzip.compress(b""), "empty after decompression"),
    "header only": ("sales.csv", lambda d: b"day,region,amount\n", "sales.csv: no data rows"),
    "empty json array": ("sales.json", lambda d: b"[]", "sales.json: no data rows"),
    "png named csv": ("sales.csv", lambda d: b"\x89PNG\r\n\x1a\n" + bytes(500), "a PNG image"),
    "random bytes": ("sales.csv", lambda d: bytes(range(256)) * 8, "sales.csv: binary content"),
    "zip named csv": ("sales.csv", lambda d: _xlsx_bytes(), "binary content (xlsx data)"),
    "truncated gzip": (
        "sales.csv.gz",
        lambda d: gzip.compress(GOOD_CSV.encode() * 50)[:2000],
        "sales.csv.gz: truncated gzip stream",
    ),
    "cut last line": (
        "sales.csv",
        lambda d: GOOD_CSV.encode() + b"2024-02-01,R1",
        "sales.csv: truncated CSV: the last line has 2 of 3 fields",
    ),
    "open quote at end": (
        "sales.csv",
        lambda d: GOOD_CSV.encode() + b'2024-02-01,"R1,5\n',
        "sales.csv: truncated CSV: the last line ends inside a quoted field",
    ),
    "ragged row": (
        "sales.csv",
        lambda d: (GOOD_CSV + BODY * 199 + "2024-02-01,R1\n" + BODY).encode(),
        "sales.csv: malformed CSV at line 40002: expected 3 fields, found 2",
    ),
    "inconsistent small csv": (
        "sales.csv",
        lambda d: b"a,b,c\n1,2\n3,4,5,6\n7\n",
        "sales.csv: malformed CSV at line 2: expected 3 fields, found 2",
    ),
    "truncated json": (
        "sales.json",
        lambda d: b'[{"a": 1}, {"a": 2},',
        "sales.json: truncated JSON: the top-level array is not closed",
    ),
    "malformed json lines": (
        "sales.jsonl",
        lambda d: b'{"a": 1}\n{"a": 2\n{"a": 3}\n',
        "sales.jsonl: malformed JSON at byte",
    ),
    "not json": ("sales.json", lambda d: b"hello,world\n1,2\n", "sales.json: not JSON"),
    "truncated parquet": (
        "sales.parquet",
        lambda d: _parquet_bytes(d)[:-30],
        "sales.parquet: truncated Parquet file",
    ),
    "csv named parquet": ("sales.parquet", lambda d: GOOD_CSV.encode(), "not a Parquet file"),
    "truncated xlsx": (
        "sales.xlsx",
        lambda d: _xlsx_bytes()[:1500],
        "sales.xlsx: truncated or corrupt .xlsx workbook",
    ),
    "legacy xls": ("sales.xls", lambda d: b"\xd0\xcf\x11\xe0" + bytes(600), "legacy .xls"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_fails_permanently_with_a_clear_message(
    case: str, tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    name, make, expected = CASES[case]
    path = tmp_path / name
    path.write_bytes(make(tmp_path))
    with pytest.raises(PermanentFailure) as failure:
        analyse([path])
    message = str(failure.value)
    assert expected in message
    assert message.startswith(name + ":")
    assert "\n" not in message


def test_missing_file_is_named(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    with pytest.raises(PermanentFailure, match=r"^gone\.csv: file not found"):
        analyse([tmp_path / "gone.csv"])


def test_zip_without_a_workbook_is_refused(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    path = tmp_path / "data.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    with pytest.raises(PermanentFailure, match=r"^data\.xlsx: truncated or corrupt \.xlsx"):
        analyse([path])


def test_handler_without_files_fails_permanently() -> None:
    with pytest.raises(PermanentFailure, match="no input files"):
        analysis(Job(id="j1", type="analysis"))


def test_unknown_threshold_in_metadata_fails_permanently(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(GOOD_CSV)
    with pytest.raises(PermanentFailure, match=r"metadata\.thresholds: unknown threshold 'alfa'"):
        analyse([path], metadata={"thresholds": {"alfa": 0.05}})
