"""Infer each column's role (time, measure, category, calendar part...) from one scan.

One aggregate query collects, per column: non-null count, approximate distinct count,
min/max, negatives, and for text how many values read as numbers or dates, or look like
them. The role follows from those figures and from the name: `customer_id` is an
identifier even when it holds numbers, an integer `month` holding 1..12 is a part of the
calendar, an integer `year` is a time axis. Text dates in other formats ("Jan 1 2000",
"31/12/2013") get a second, targeted scan (dates.py).

Whether a measure adds up is decided by what it is: money, quantities and counts sum;
everything else (levels, rates, measurements, prices, ages, scores, per-capita figures)
is averaged. Summing a temperature or a price is never right; averaging an amount is
merely less useful, so only a name that says amount, quantity or count makes a sum.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runner.insights import dates
from runner.insights.model import Aggregation, Column, Role, Table, plural, words
from runner.insights.sql import ident, run
from runner.insights.vocabulary import (
    AVERAGED_WORDS,
    DIRECTION_WORDS,
    EVENT_NOUNS,
    SUMMED_WORDS,
)

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

CATEGORY_MAX = 50  # more distinct values than this is not a segment a reader can scan
MAJORITY = 0.9  # share of text values that must read as numbers/dates to use them so
LOOKS_LIKE = 0.5  # share of text values that look like dates or numbers to say so
SMALL_CATEGORY = 12  # an integer with this few values (cylinders, engines) is a category

ID_NAME = re.compile(
    r"(^|[_\s.\-])(id|uuid|guid|key|code|sku|number|no|nr|ref|zip|postcode|phone|email)$"
    r"|^(id|uuid|sku|email)([_\s.\-]|$)|[a-z]Id$"
)
EVENT_NAME = re.compile(
    r"order|transaction|invoice|ticket|event|line|receipt|payment|session|visit|call|message"
    r"|flight|trip|booking|shipment|case",
    re.IGNORECASE,
)
# Calendar and clock parts by name, with the values each may hold.
PARTS = {
    "month": ({"month", "mon", "mth"}, 1, 12),
    "weekday": ({"weekday", "dow", "wday", "dayofweek"}, 0, 7),
    "hour": ({"hour", "hr", "hh"}, 0, 24),
    "quarter": ({"quarter", "qtr"}, 1, 4),
    "week": ({"week", "wk", "isoweek"}, 1, 53),
    "day": ({"day", "dd", "dom"}, 1, 31),
    "minute": ({"minute", "min", "mm"}, 0, 59),
}
YEAR_WORDS = frozenset({"year", "yr", "yyyy"})
YEARS = (1700, 2200)
# A number in a column named for dates is a year (1800..2100) or a spreadsheet day number.
DATE_WORDS = frozenset({"date", "period", "dt", "day", "time"})
PLAUSIBLE_YEARS = (1800, 2100)
EXCEL_DAYS = (20000, 60000)
# Which measures a business reader looks at first.
MEASURE_PRIORITY = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"revenue|sales|turnover|income|gmv|bookings",
        r"profit|margin|earning",
        r"amount|total|value|spend|cost|paid",
        r"quantity|qty|units|volume|orders|count",
    )
]

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)
INTEGER_TYPES = NUMERIC_TYPES[:10]


@dataclass(frozen=True)
class Scan:
    """What one aggregate pass found out about a column."""

    name: str
    sql_type: str
    non_null: int
    distinct: int
    lo: Any = None
    hi: Any = None
    negatives: int = 0
    fractional: int = 0  # numbers that are not whole
    past_sixty: int = 0  # whole numbers whose last two digits are 60 or more (not HHMM)
    as_number: int = 0
    as_date: int = 0
    date_like: float = 0.0  # share of a sample of values that look like dates
    number_like: float = 0.0  # ... like numbers written with separators or signs
    mean_length: float = 0.0


def describe_table(
    con: DuckDBPyConnection, sql_name: str, name: str, source: dict[str, Any]
) -> Table:
    """The loaded table with every column's role decided."""
    schema = [(str(r[0]), str(r[1])) for r in run(con, f"DESCRIBE {sql_name}")]
    rows, scans = scan(con, sql_name, schema)
    looks = dates.looks(con, sql_name, [s.name for s in scans if _unread(s)])
    scans = [
        replace(s, date_like=looks[s.name][0], number_like=looks[s.name][1])
        if s.name in looks
        else s
        for s in scans
    ]
    formats = dates.read_formats(
        con, sql_name, [s.name for s in scans if s.date_like >= LOOKS_LIKE]
    )
    if formats:
        scans = _as_timestamps(con, sql_name, formats, scans)
    columns = _named_calendar(
        _with_values(con, sql_name, _one_time_axis([infer(s, rows) for s in scans]))
    )
    return Table(name=name, sql=sql_name, rows=rows, columns=tuple(columns), source=source)


def _with_values(con: DuckDBPyConnection, sql_name: str, columns: list[Column]) -> list[Column]:
    """The columns, categories with their values (to match the words of a question)."""
    named = [c for c in columns if c.role is Role.CATEGORY and c.distinct <= CATEGORY_MAX]
    if not named:
        return columns
    lists = ", ".join(f"list(DISTINCT {c.expr})[:{CATEGORY_MAX}]" for c in named)
    found = dict(
        zip((c.name for c in named), run(con, f"SELECT {lists} FROM {sql_name}")[0], strict=True)
    )
    return [
        replace(c, values=tuple(str(v) for v in found[c.name] if v is not None))
        if c.name in found
        else c
        for c in columns
    ]


def family(sql_type: str) -> str:
    """integer, numeric, temporal, text, boolean, uuid or other."""
    base = sql_type.split("(")[0].strip()
    if base in NUMERIC_TYPES:
        return "integer" if base in INTEGER_TYPES else "numeric"
    if base in ("DATE", "TIMESTAMP", "DATETIME") or base.startswith("TIMESTAMP"):
        return "temporal"
    if base == "VARCHAR":
        return "text"
    if base in ("BOOLEAN", "UUID"):
        return base.lower()
    return "other"


def _aggregates(name: str, sql_type: str) -> dict[str, str]:
    """The aggregates that describe a column, by Scan field."""
    c, kind = ident(name), family(sql_type)
    if kind == "other":
        return {"non_null": "0", "distinct": "0"}
    found = {"non_null": f"count({c})", "distinct": f"approx_count_distinct({c})"}
    if kind in ("temporal", "boolean", "uuid", "integer", "numeric", "text"):
        found |= {"lo": f"min({c})", "hi": f"max({c})"}
    if kind in ("integer", "numeric"):
        whole = f"CAST({c} AS DOUBLE)"
        found |= {
            "negatives": f"count(*) FILTER ({c} < 0)",
            "fractional": f"count(*) FILTER ({whole} <> round({whole}))",
            "past_sixty": f"count(*) FILTER (abs({whole}) % 100 >= 60)",
        }
    if kind == "text":
        found |= {
            "as_number": f"count(TRY_CAST({c} AS DOUBLE))",
            "as_date": f"count(TRY_CAST({c} AS DATE))",
            "mean_length": f"avg(length({c}))",
        }
    return found


def scan(
    con: DuckDBPyConnection, sql_name: str, schema: list[tuple[str, str]]
) -> tuple[int, list[Scan]]:
    """One pass over the table: its row count and the Scan of every column."""
    parts = [(name, sql_type, _aggregates(name, sql_type)) for name, sql_type in schema]
    select = ["count(*)", *(expr for _, _, aggregates in parts for expr in aggregates.values())]
    values = iter(run(con, f"SELECT {', '.join(select)} FROM {sql_name}")[0])
    rows = int(next(values))
    scans = []
    for name, sql_type, aggregates in parts:
        found = {field: next(values) for field in aggregates}

        def count(field: str, found: dict[str, Any] = found) -> int:
            return int(found.get(field) or 0)

        scans.append(
            Scan(
                name,
                sql_type,
                non_null=count("non_null"),
                distinct=count("distinct"),
                lo=found.get("lo"),
                hi=found.get("hi"),
                negatives=count("negatives"),
                fractional=count("fractional"),
                past_sixty=count("past_sixty"),
                as_number=count("as_number"),
                as_date=count("as_date"),
                mean_length=float(found.get("mean_length") or 0.0),
            )
        )
    return rows, scans


def _as_timestamps(
    con: DuckDBPyConnection, sql_name: str, formats: dict[str, dates.Format], scans: list[Scan]
) -> list[Scan]:
    """Rewrite the text date columns as timestamps once (every later scan reads them)."""
    parsed = ", ".join(f"{f.expr(ident(name))} AS {ident(name)}" for name, f in formats.items())
    run(con, f"CREATE OR REPLACE TABLE {sql_name} AS SELECT * REPLACE ({parsed}) FROM {sql_name}")
    _, rescanned = scan(con, sql_name, [(name, "TIMESTAMP") for name in formats])
    fresh = {s.name: s for s in rescanned}
    return [fresh.get(s.name, s) for s in scans]


def _unread(s: Scan) -> bool:
    """Text that casts neither to dates nor to numbers, but whose first or last value looks
    like one in another form ("Jan 1 2000", "1.234,5"): worth a closer look."""
    if family(s.sql_type) != "text" or s.non_null == 0:
        return False
    if s.as_date >= MAJORITY * s.non_null or s.as_number >= MAJORITY * s.non_null:
        return False
    return any(dates.looks_like(str(v)) for v in (s.lo, s.hi) if v is not None)


def infer(s: Scan, rows: int) -> Column:
    """The column with its role and the SQL expression that yields its typed values."""
    role, expr, part = _role(s)
    aggregation = aggregation_of(s) if role is Role.MEASURE else Aggregation.SUM
    share = s.as_number / s.non_null if family(s.sql_type) == "text" and s.non_null else 1.0
    grain = "year" if role is Role.TIME and part == "year" else None
    unreadable = None
    if family(s.sql_type) == "text" and role in (Role.CATEGORY, Role.IDENTIFIER, Role.TEXT):
        if s.date_like >= LOOKS_LIKE:
            unreadable = "dates"
        elif s.number_like >= LOOKS_LIKE:
            unreadable = "numbers"
    return Column(
        name=s.name,
        sql_type=s.sql_type,
        role=role,
        expr=expr,
        non_null=s.non_null,
        distinct=max(s.distinct, 1 if s.non_null else 0),
        numeric_share=share,
        minimum=s.lo,
        maximum=s.hi,
        negatives=s.negatives,
        aggregation=aggregation,
        part=None if role is Role.TIME else part,
        grain=grain,
        unreadable=unreadable,
    )


def _role(s: Scan) -> tuple[Role, str, str | None]:
    c, kind = ident(s.name), family(s.sql_type)
    if kind == "other" or s.non_null == 0 or s.lo == s.hi:
        return Role.OTHER, c, None  # nested, empty or constant: nothing to analyse
    if kind == "temporal":
        return Role.TIME, f"CAST({c} AS TIMESTAMP)", None
    if kind in ("boolean", "uuid"):
        role = Role.CATEGORY if kind == "boolean" else Role.IDENTIFIER
        return role, f"CAST({c} AS VARCHAR)", None
    if kind in ("integer", "numeric"):
        return _numeric_role(s)
    return _text_role(s)


def _numeric_role(s: Scan) -> tuple[Role, str, str | None]:
    c = ident(s.name)
    number = f"CAST({c} AS DOUBLE)"
    if ID_NAME.search(s.name):
        return Role.IDENTIFIER, number, None
    whole = s.fractional == 0
    if words(s.name) & DIRECTION_WORDS and float(s.lo) >= 0 and float(s.hi) <= 360:
        return Role.OTHER, number, "direction"  # an angle: its average means nothing
    if whole and words(s.name) <= EVENT_NOUNS:
        return Role.IDENTIFIER, number, None
    if whole and is_year(s):
        return Role.TIME, f"CAST(make_date(CAST({c} AS INTEGER), 1, 1) AS TIMESTAMP)", "year"
    if whole and is_excel_serial(s):
        return Role.TIME, f"CAST(DATE '1899-12-30' + CAST({c} AS INTEGER) AS TIMESTAMP)", None
    part = calendar_part(s)
    if part is not None:
        return Role.CALENDAR, f"CAST({c} AS BIGINT)", part
    running = float(s.hi) - float(s.lo) <= 2 * s.non_null
    if whole and running and s.distinct >= 0.95 * s.non_null and s.non_null >= 20:
        return Role.IDENTIFIER, number, None  # a running number: order no., ticket no.
    if whole and _small_category(s):
        return Role.CATEGORY, f"CAST(CAST({c} AS BIGINT) AS VARCHAR)", None
    return Role.MEASURE, number, None


def is_year(s: Scan) -> bool:
    """A whole-number column named for years (or for dates and periods) holding years: a
    time axis of its own."""
    try:
        low, high = float(s.lo), float(s.hi)
    except (TypeError, ValueError):
        return False
    named = words(s.name)
    if named & DATE_WORDS and s.distinct >= 3:
        return PLAUSIBLE_YEARS[0] <= low and high <= PLAUSIBLE_YEARS[1]
    return bool(named & YEAR_WORDS) and YEARS[0] <= low and high <= YEARS[1]


def is_excel_serial(s: Scan) -> bool:
    """A whole-number column named for dates holding spreadsheet day numbers (days since
    1899-12-30: 20000 is 1954-10-03, 60000 is 2064-04-08)."""
    try:
        low, high = float(s.lo), float(s.hi)
    except (TypeError, ValueError):
        return False
    return bool(words(s.name) & DATE_WORDS) and EXCEL_DAYS[0] <= low and high <= EXCEL_DAYS[1]


def calendar_part(s: Scan) -> str | None:
    """month, weekday, hour... for a whole-number column named and ranged like one; 'clock'
    for HHMM times of day (0..2400, no minute past 59); None for anything else."""
    if s.fractional:
        return None
    low, high = float(s.lo), float(s.hi)
    named = words(s.name)
    for part, (names, first, last) in PARTS.items():
        if named & names and first <= low and high <= last:
            return part
    clock = s.past_sixty == 0 and low >= 0 and high <= 2400 and s.distinct >= 60
    return "clock" if clock and named & {"time", "hhmm", "clock"} else None


def _small_category(s: Scan) -> bool:
    """A whole number with a handful of values and many rows each: cylinders, engines."""
    named = words(s.name)
    if named & (SUMMED_WORDS | AVERAGED_WORDS) or s.negatives:
        return False
    binary = s.distinct <= 2 and float(s.lo) == 0 and float(s.hi) == 1
    return not binary and 3 <= s.distinct <= SMALL_CATEGORY and s.non_null >= 10 * s.distinct


def _text_role(s: Scan) -> tuple[Role, str, str | None]:
    c = ident(s.name)
    if s.as_date >= MAJORITY * s.non_null:
        return Role.TIME, f"TRY_CAST({c} AS TIMESTAMP)", None
    named_id = ID_NAME.search(s.name) is not None
    if s.as_number >= MAJORITY * s.non_null and not named_id:
        return Role.MEASURE, f"TRY_CAST({c} AS DOUBLE)", None
    text = f"CAST({c} AS VARCHAR)"
    if named_id:
        return Role.IDENTIFIER, text, None
    if s.distinct <= CATEGORY_MAX:
        return Role.CATEGORY, text, None
    if s.mean_length >= 25:
        return Role.TEXT, text, None
    return Role.IDENTIFIER, text, None


def aggregation_of(s: Scan) -> Aggregation:
    """SUM for money, quantities and counts (by name); MEAN for everything else."""
    named = words(s.name)
    if named & AVERAGED_WORDS:
        return Aggregation.MEAN
    return Aggregation.SUM if named & SUMMED_WORDS else Aggregation.MEAN


def _one_time_axis(columns: list[Column]) -> list[Column]:
    """A year column beside a real date is a part of that date's calendar, not an axis."""
    dated = any(c.role is Role.TIME and c.grain != "year" for c in columns)
    if not dated:
        return columns
    return [
        _calendar(c, "year") if c.role is Role.TIME and c.grain == "year" else c for c in columns
    ]


# Names of months and weekdays as tables spell them: in full or shortened to three or four
# letters ("Sep", "Sept", "Thur").
CALENDAR_NAMES = {
    "month name": tuple(dt.date(2001, m, 1).strftime("%B").lower() for m in range(1, 13)),
    "weekday name": tuple(dt.date(2001, 1, d).strftime("%A").lower() for d in range(1, 8)),
}


def _named_calendar(columns: list[Column]) -> list[Column]:
    """A category of month or weekday names beside a dated time axis is a part of that date's
    calendar, not a segment: a spike is never "driven by Wednesday", the measure never "by
    month" beside its season (which the time axis gives)."""
    if not any(c.role is Role.TIME and c.grain != "year" for c in columns):
        return columns
    out = []
    for c in columns:
        part = _calendar_name(c) if c.role is Role.CATEGORY else None
        out.append(replace(c, role=Role.CALENDAR, part=part) if part else c)
    return out


def _calendar_name(c: Column) -> str | None:
    """ "month name" or "weekday name" when every value of c spells one (at least two)."""
    spelled = {v.strip().lower().rstrip(".") for v in c.values}
    if len(spelled) < 2 or len(c.values) < c.distinct:
        return None
    for part, full in CALENDAR_NAMES.items():
        if all(any(f.startswith(v) for f in full) and len(v) >= 3 for v in spelled):
            return part
    return None


def _calendar(c: Column, part: str) -> Column:
    expr = f"CAST({ident(c.name)} AS BIGINT)"
    return replace(c, role=Role.CALENDAR, expr=expr, part=part, grain=None)


def measure_rank(column: Column) -> int:
    """0 for revenue-like measures, rising for less central ones."""
    for rank, pattern in enumerate(MEASURE_PRIORITY):
        if pattern.search(column.name):
            return rank
    return len(MEASURE_PRIORITY) + (1 if column.aggregation is Aggregation.MEAN else 0)


def main_time(table: Table) -> Column | None:
    """The best-filled time column, if any."""
    times = table.having(Role.TIME)
    return max(times, key=lambda c: c.non_null) if times else None


def segment_columns(table: Table) -> list[Column]:
    """Category columns worth comparing: 2 to CATEGORY_MAX values, fewest values first."""
    usable = [c for c in table.having(Role.CATEGORY) if 2 <= c.distinct <= CATEGORY_MAX]
    return sorted(usable, key=lambda c: c.distinct)


def entity_columns(table: Table) -> list[Column]:
    """Identifiers of customers, products...: the units of concentration.

    Identifiers of events (orders, tickets) are left out: "the top 10% of orders" says
    little, while in a customer list, one row per customer, the customers are the units.
    """
    return [
        c
        for c in table.having(Role.IDENTIFIER)
        if c.distinct >= 20 and not EVENT_NAME.search(c.name)
    ]


def row_unit(table: Table) -> str:
    """What one row is, from its unique identifier (order_id -> 'orders'), else from a file
    named for its rows in the plural (flights.csv -> 'flights'), else 'records'."""
    for c in table.having(Role.IDENTIFIER):
        # approx_count_distinct is a HyperLogLog estimate, a few per cent off.
        unique = c.non_null >= 0.98 * table.rows and c.distinct >= 0.95 * c.non_null
        if unique and ID_NAME.search(c.name) and c.entity_label != plural(c.name):
            return c.entity_label
    stem = table.name.split(".")[0].lower()
    if re.fullmatch(r"[a-z]{3,}s", stem) and not stem.endswith("ss") and not table.snapshot:
        return stem
    return "records"
