"""Stream an .xlsx sheet to CSV so DuckDB can read it like any other delimited file.

DuckDB's own excel extension is not linked into the wheel and cannot be downloaded on an
offline runner, so openpyxl's read-only mode (row by row, bounded memory) does the reading.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

from runner.errors import PermanentFailure


def xlsx_to_csv(source: Path, name: str, target: Path, sheet: str | None = None) -> str:
    """Write the first non-empty sheet (or the named one) to target; return the sheet name."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise PermanentFailure(f"{name}: truncated or corrupt .xlsx workbook ({exc})") from exc
    try:
        names = [sheet] if sheet else book.sheetnames
        for title in names:
            if title not in book.sheetnames:
                raise PermanentFailure(f"{name}: no sheet named {title!r}")
            if _write_sheet(book[title], target) > 0:
                return title
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError) as exc:
        raise PermanentFailure(f"{name}: corrupt .xlsx workbook ({exc})") from exc
    finally:
        book.close()
    raise PermanentFailure(f"{name}: the workbook has no data in any sheet")


def _write_sheet(sheet: Any, target: Path) -> int:
    """Write the non-blank rows of a sheet to CSV; return how many were written."""
    written = 0
    with target.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        for row in sheet.iter_rows(values_only=True):
            if all(cell is None or cell == "" for cell in row):
                continue
            writer.writerow([_cell(cell) for cell in row])
            written += 1
    return written


def _cell(value: object) -> object:
    """A cell as CSV text DuckDB's sniffer types back correctly (ISO dates, plain numbers)."""
    if isinstance(value, dt.datetime):
        is_midnight = value.time() == dt.time()
        return value.date().isoformat() if is_midnight else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return "" if value is None else value
