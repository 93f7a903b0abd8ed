"""Text dates in the formats people and spreadsheets write: "Jan 1 2000", "2012/01/01",
"31.12.2013", "12/31/2013 14:05", several of them in one column.

DuckDB casts ISO dates itself. For a text column that looks like dates but does not cast,
one scan counts how many values each family of formats reads: the common unambiguous
ones, then day-first and month-first. A column is read as dates when one family reads
nearly all its values; day-first and month-first are told apart by which one reads more
(13/01 exists only day-first), ties going to month-first for "/" and day-first for ".".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights.sql import ident, literal, run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from runner.insights.roles import Scan

MAJORITY = 0.9

# Digits and separators in a date's shape, or a month name beside a 4-digit year.
LOOKS_LIKE_DATE = literal(
    r"^\s*(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}\.?[\s-]+[A-Za-z]{3,9}\.?[\s-]+\d{2,4}"
    r"|[A-Za-z]{3,9}[\s-]+\d{4})([ T]\d{1,2}:\d{2}.*)?\s*$"
)
# A number with thousands separators, a currency sign, a percent sign or spaces around it.
LOOKS_LIKE_NUMBER = literal(r"^\s*[-+(]?\s*[$€£¥]?\s*\d[\d,.'\s]*%?\)?\s*$")

_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
COMMON = [
    f + t
    for f in (
        "%Y/%m/%d",
        "%Y.%m.%d",
        "%b %d %Y",
        "%b %d, %Y",
        "%B %d %Y",
        "%B %d, %Y",
        "%d %b %Y",
        "%d %B %Y",
        "%d-%b-%Y",
        "%d-%b-%y",
        "%a %b %d %Y",
        "%b %Y",
        "%B %Y",
        "%b-%Y",
        "%Y-%m",
    )
    for t in _TIMES
]
DAY_FIRST = [f + t for f in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y") for t in _TIMES]
MONTH_FIRST = [f + t for f in ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y") for t in _TIMES]


@dataclass(frozen=True)
class Format:
    """The strptime formats that read a column."""

    formats: tuple[str, ...]

    def expr(self, column: str) -> str:
        """SQL for the column as TIMESTAMP: ISO casts first, then these formats."""
        return (
            f"COALESCE(TRY_CAST({column} AS TIMESTAMP), "
            f"try_strptime(trim({column}), {literal(list(self.formats))}))"
        )


FAMILIES = {
    "common": tuple(COMMON),
    "day_first": (*COMMON, *DAY_FIRST),
    "month_first": (*COMMON, *MONTH_FIRST),
}


def read_formats(con: DuckDBPyConnection, table: str, scans: list[Scan]) -> dict[str, Format]:
    """For each text column that looks like dates, the formats that read it (if any do)."""
    if not scans:
        return {}
    counts = []
    for s in scans:
        for formats in FAMILIES.values():
            counts.append(f"count({Format(formats).expr(ident(s.name))})")
    counts += [f"count(*) FILTER ({ident(s.name)} LIKE '%.%')" for s in scans]
    values = run(con, f"SELECT {', '.join(counts)} FROM {table}")[0]
    found = {}
    width = len(FAMILIES)
    for i, s in enumerate(scans):
        read = dict(zip(FAMILIES, values[i * width : (i + 1) * width], strict=True))
        dotted = int(values[width * len(scans) + i] or 0) > 0
        chosen = _choose(read, dotted)
        if chosen and read[chosen] >= MAJORITY * s.non_null:
            found[s.name] = Format(FAMILIES[chosen])
    return found


def _choose(read: dict[str, Any], dotted: bool) -> str | None:
    """The family that reads the most values; on a tie, month-first unless dots separate."""
    best = max(int(v or 0) for v in read.values())
    if best == 0:
        return None
    if int(read["common"] or 0) == best:
        return "common"
    day, month = int(read["day_first"] or 0), int(read["month_first"] or 0)
    if day == month:
        return "day_first" if dotted else "month_first"
    return "day_first" if day > month else "month_first"
