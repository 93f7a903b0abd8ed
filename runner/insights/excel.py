"""Stream the table of an .xlsx workbook to CSV so DuckDB can read it like any other
delimited file.

DuckDB's own excel extension is not linked into the wheel and cannot be downloaded on an
offline runner, so openpyxl's read-only mode (row by row, bounded memory) does the reading.

A workbook often holds a cover or notes sheet and lookups beside its data, in any order.
The data is its largest table: a header row and the rows under it whose cells stay within
the header's columns (a title line above it, a note beside it, start tables of their own).
Sheets whose table has the same header continue it (a sheet per year) and are read after
it, in the workbook's order. Each sheet is read once: the best table found so far is kept
in a file beside the target, the one being read in another.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.errors import PermanentFailure


@dataclass(frozen=True)
class Sheets:
    """Which sheets of a workbook were read, of all it has (both in the workbook's order)."""

    read: tuple[str, ...]
    workbook: tuple[str, ...]


@dataclass
class _Table:
    """A table found on a sheet: its header's cells, the columns they span, its data rows
    (written as CSV to `file`)."""

    sheet: str
    header: tuple[object, ...]
    first: int  # index of the header's first filled column
    file: Path
    stream: IO[str] | None = None
    rows: int = 0
    writer: Any = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return len(self.header)

    @property
    def size(self) -> tuple[bool, int, int]:
        """How a table ranks: a real table (two columns or more) first, then by cells."""
        return self.width >= 2, self.rows * self.width, self.width

    @property
    def key(self) -> tuple[str, ...] | None:
        """The header's names, when it has them (every cell text): the same in another
        sheet, that sheet continues this table."""
        if self.width < 2 or not all(isinstance(c, str) and c.strip() for c in self.header):
            return None
        return tuple(str(c).strip().casefold() for c in self.header)

    def takes(self, filled: Sequence[int]) -> bool:
        """Whether a row with these filled columns belongs here: more of its cells under the
        header than beside it (a cell beside it has no name, and is left out)."""
        inside = sum(1 for i in filled if self.first <= i < self.first + self.width)
        return inside > len(filled) - inside

    def add(self, row: Sequence[object]) -> None:
        if self.writer is None:
            self.stream = self.file.open("w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.stream)
        cells = list(row[self.first : self.first + self.width])
        cells += [None] * (self.width - len(cells))
        self.writer.writerow([_cell(c) for c in cells])
        self.rows += 1

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def drop(self) -> None:
        self.close()
        self.file.unlink(missing_ok=True)


def xlsx_to_csv(source: Path, name: str, target: Path, sheet: str | None = None) -> Sheets:
    """Write the workbook's table (of the named sheet only, with `sheet`) to target as CSV;
    return which sheets it was read from."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise PermanentFailure(f"{name}: truncated or corrupt .xlsx workbook ({exc})") from exc
    found: list[_Table] = []
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise PermanentFailure(f"{name}: no sheet named {sheet!r}")
        for n, title in enumerate([sheet] if sheet else book.sheetnames):
            best = _table_of(book[title], title, target.with_suffix(f".{n}"))
            if best is not None:
                found.append(best)
        if not found:
            raise PermanentFailure(f"{name}: the workbook has no data in any sheet")
        read = _continued(found)
        _write(read, target)
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError) as exc:
        raise PermanentFailure(f"{name}: corrupt .xlsx workbook ({exc})") from exc
    finally:
        book.close()
        for table in found:
            table.drop()
    return Sheets(tuple(t.sheet for t in read), tuple(book.sheetnames))


def _table_of(sheet: Any, title: str, stem: Path) -> _Table | None:
    """The largest table on a sheet (None: the sheet is blank, or a chart)."""
    if not hasattr(sheet, "iter_rows"):
        return None  # a chartsheet: no cells
    best: _Table | None = None
    current: _Table | None = None
    for n, row in enumerate(sheet.iter_rows(values_only=True)):
        filled = [i for i, cell in enumerate(row) if not _blank(cell)]
        if not filled:
            continue
        if current is not None and current.takes(filled):
            current.add(row)
            continue
        best = _larger(best, current)
        header = tuple(row[filled[0] : filled[-1] + 1])
        current = _Table(title, header, filled[0], stem.with_name(f"{stem.name}.{n}.csv"))
    return _larger(best, current)


def _larger(a: _Table | None, b: _Table | None) -> _Table | None:
    """The larger of two tables (the earlier when equal); the other's file is removed."""
    if a is None or b is None:
        kept = a or b
    else:
        kept, lost = (b, a) if b.size > a.size else (a, b)
        lost.drop()
    if kept is not None:
        kept.close()
    return kept


def _continued(found: list[_Table]) -> list[_Table]:
    """The largest table, with the tables of other sheets under the same header."""
    largest = max(found, key=lambda t: t.size)  # the first of equals
    key = largest.key
    return [t for t in found if t is largest or (key is not None and t.key == key)]


def _write(tables: list[_Table], target: Path) -> None:
    with target.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerow([_cell(c) for c in tables[0].header])
        for table in tables:
            if table.rows:
                with table.file.open(encoding="utf-8", newline="") as rows:
                    while chunk := rows.read(1 << 20):
                        stream.write(chunk)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(value: object) -> object:
    """A cell as CSV text DuckDB's sniffer types back correctly (ISO dates, plain numbers)."""
    if isinstance(value, dt.datetime):
        is_midnight = value.time() == dt.time()
        return value.date().isoformat() if is_midnight else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return "" if value is None else value
