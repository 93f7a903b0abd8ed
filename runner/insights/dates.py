"""Text dates in the formats people and spreadsheets write: "Jan 1 2000", "2012/01/01",
"31.12.2013", "12/31/2013 14:05", several of them in one column.

DuckDB casts ISO dates itself. For a text column that looks like dates but does not cast,
one scan counts how many values each family of formats reads: the common unambiguous
ones, then day-first and month-first. A column is read as dates when one family reads
nearly all its values; day-first and month-first are told apart by which one reads more
(13/01 exists only day-first), ties going to month-first for "/" and day-first for ".".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.insights.sql import ident, literal, run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MAJORITY = 0.9
SAMPLE = 20_000  # rows whose values decide how a column is read (it is then read whole)

# Digits and separators in a date's shape, or a month name beside a 4-digit year; a year
# and month alone (1993-01, 1993/01, 01/1993, 1993M01), a year and quarter (1993Q1, Q1 1993).
LOOKS_LIKE_DATE = literal(
    r"^\s*(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}\.?[\s-]+[A-Za-z]{3,9}\.?[\s-]+\d{2,4}"
    r"|[A-Za-z]{3,9}[\s-]+\d{4}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{4}|\d{4}\s?M\d{1,2}"
    r"|\d{4}\s?[-/ ]?\s?Q[1-4]|Q[1-4]\s?[-/ ]?\s?\d{4})([ T]\d{1,2}:\d{2}.*)?\s*$"
)
# A number with thousands separators, a currency sign, a percent sign or spaces around it.
LOOKS_LIKE_NUMBER = literal(r"^\s*[-+(]?\s*[$€£¥]?\s*\d[\d,.'\s]*%?\)?\s*$")

_DATE_SHAPE = re.compile(LOOKS_LIKE_DATE[1:-1])
_NUMBER_SHAPE = re.compile(LOOKS_LIKE_NUMBER[1:-1])


def looks_like(value: str) -> bool:
    """True when a value has the shape of a date or of a formatted number."""
    return bool(_DATE_SHAPE.match(value) or _NUMBER_SHAPE.match(value))


_TIMES = (" %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
COMMON = (
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
    "%Y/%m",
    "%Y.%m",
    "%m/%Y",
    "%m-%Y",
    "%m.%Y",
    "%YM%m",
    "%Y M%m",
    "%Ym%m",
    "%B-%Y",
    "%b %y",
    "%b-%y",
)
# Year and quarter (1993Q1, 1993-Q1, Q1 1993, q1-1993): no strptime code reads a quarter.
QUARTER = literal(r"^\s*(\d{4}\s?[-/ ]?\s?[Qq][1-4]|[Qq][1-4]\s?[-/ ]?\s?\d{4})\s*$")
DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def with_times(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The formats, each also followed by a time of day."""
    return formats + tuple(f + t for f in formats for t in _TIMES)


@dataclass(frozen=True)
class Format:
    """The strptime formats that read a column (and whether it holds year-quarters)."""

    formats: tuple[str, ...]
    quarters: bool = False

    def expr(self, column: str) -> str:
        """SQL for the column as TIMESTAMP: ISO casts first, then these formats."""
        parts = [f"TRY_CAST({column} AS TIMESTAMP)"]
        if self.formats:
            parts.append(f"try_strptime(trim({column}), {literal(list(self.formats))})")
        if self.quarters:
            parts.append(quarter_expr(column))
        return f"COALESCE({', '.join(parts)})"


YEAR_DIGITS = literal(r"(\d{4})")
QUARTER_DIGIT = literal("[Qq]([1-4])")


def quarter_expr(column: str) -> str:
    """SQL for a year-quarter ("1993Q2", "Q2 1993") as the first day of the quarter."""
    year = f"CAST(regexp_extract({column}, {YEAR_DIGITS}, 1) AS INTEGER)"
    quarter = f"CAST(regexp_extract({column}, {QUARTER_DIGIT}, 1) AS INTEGER)"
    return (
        f"CASE WHEN regexp_matches({column}, {QUARTER}) THEN "
        f"CAST(make_date({year}, 3 * {quarter} - 2, 1) AS TIMESTAMP) END"
    )


FAMILIES = {
    "common": COMMON,
    "day_first": (*COMMON, *DAY_FIRST),
    "month_first": (*COMMON, *MONTH_FIRST),
}


def _sample(table: str) -> str:
    return f"(SELECT * FROM {table} LIMIT {SAMPLE})"


def looks(con: DuckDBPyConnection, table: str, names: list[str]) -> dict[str, tuple[float, float]]:
    """For each text column, the shares of a sample that look like dates and like numbers."""
    if not names:
        return {}
    parts = []
    for name in names:
        c = ident(name)
        parts += [
            f"count({c})",
            f"count(*) FILTER (regexp_matches({c}, {LOOKS_LIKE_DATE}))",
            f"count(*) FILTER (regexp_matches({c}, {LOOKS_LIKE_NUMBER}))",
        ]
    values = run(con, f"SELECT {', '.join(parts)} FROM {_sample(table)}")[0]
    found = {}
    for i, name in enumerate(names):
        filled, date_like, number_like = (int(v or 0) for v in values[3 * i : 3 * i + 3])
        if filled:
            found[name] = (date_like / filled, number_like / filled)
    return found


def read_formats(con: DuckDBPyConnection, table: str, names: list[str]) -> dict[str, Format]:
    """For each text column that looks like dates, the formats that read it (if any do)."""
    if not names:
        return {}
    timed = _timed(con, table, names)
    counts = []
    for name in names:
        counts.append(f"count({ident(name)})")
        counts.append(f"count(*) FILTER ({ident(name)} LIKE '%.%')")
        counts += [
            f"count({Format(_family(formats, name in timed)).expr(ident(name))})"
            for formats in FAMILIES.values()
        ]
        counts.append(f"count(*) FILTER (regexp_matches({ident(name)}, {QUARTER}))")
    values = run(con, f"SELECT {', '.join(counts)} FROM {_sample(table)}")[0]
    found = {}
    width = 3 + len(FAMILIES)
    for i, name in enumerate(names):
        filled, dotted, *read_counts, quarters = (
            int(v or 0) for v in values[i * width : (i + 1) * width]
        )
        if quarters >= MAJORITY * filled:
            found[name] = Format((), quarters=True)
            continue
        read = dict(zip(FAMILIES, read_counts, strict=True))
        chosen = _choose(read, dotted > 0)
        if chosen and read[chosen] >= MAJORITY * filled:
            found[name] = Format(_family(FAMILIES[chosen], name in timed))
    return _narrowed(con, table, found)


def _timed(con: DuckDBPyConnection, table: str, names: list[str]) -> set[str]:
    """The columns whose sampled values carry a time of day (a colon)."""
    counts = ", ".join(f"count(*) FILTER ({ident(n)} LIKE '%:%')" for n in names)
    values = run(con, f"SELECT {counts} FROM {_sample(table)}")[0]
    return {n for n, v in zip(names, values, strict=True) if v}


def _family(formats: tuple[str, ...], timed: bool) -> tuple[str, ...]:
    return with_times(formats) if timed else formats


def _narrowed(con: DuckDBPyConnection, table: str, found: dict[str, Format]) -> dict[str, Format]:
    """Each column's formats cut to those its sample uses, most used first: parsing every
    row against dozens of formats in every later scan would cost more than the rest."""
    read = {name: fmt for name, fmt in found.items() if fmt.formats}
    if not read:
        return found
    counts = [
        f"count(try_strptime(trim({ident(name)}), {literal(f)}))"
        for name, fmt in read.items()
        for f in fmt.formats
    ]
    values = iter(run(con, f"SELECT {', '.join(counts)} FROM {_sample(table)}")[0])
    narrowed = dict(found)
    for name, fmt in read.items():
        used = sorted(((int(next(values) or 0), f) for f in fmt.formats), reverse=True)
        narrowed[name] = Format(tuple(f for n, f in used if n > 0) or fmt.formats)
    return narrowed


def _choose(read: dict[str, int], dotted: bool) -> str | None:
    """The family that reads the most values; on a tie, month-first unless dots separate."""
    best = max(read.values())
    if best == 0:
        return None
    if read["common"] == best:
        return "common"
    day, month = read["day_first"], read["month_first"]
    if day == month:
        return "day_first" if dotted else "month_first"
    return "day_first" if day > month else "month_first"
