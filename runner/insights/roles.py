"""Infer each column's role (time, measure, category, identifier, text) from one scan.

A single aggregate query collects, per column: non-null count, approximate distinct count,
min/max, negatives, and for text columns how many values read as numbers or dates. The
role follows from those figures and from the name (`customer_id` is an identifier even
when it holds numbers; `unit_price` is averaged, not summed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights.model import Aggregation, Column, Role, Table, plural, words
from runner.insights.sql import ident, run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

CATEGORY_MAX = 50  # more distinct values than this is not a segment a reader can scan
MAJORITY = 0.9  # share of text values that must read as numbers/dates to use them so

ID_NAME = re.compile(
    r"(^|[_\s.\-])(id|uuid|guid|key|code|sku|number|no|nr|ref|zip|postcode|phone|email)$"
    r"|^(id|uuid|sku|email)([_\s.\-]|$)|[a-z]Id$"
)
EVENT_NAME = re.compile(
    r"order|transaction|invoice|ticket|event|line|receipt|payment|session|visit|call|message",
    re.IGNORECASE,
)
CALENDAR_NAME = re.compile(r"year|month|quarter|week|weekday|day_of|hour", re.IGNORECASE)
# Words (not substrings: "lifetime_value" is a total) that mark a measure to average.
AVERAGED_WORDS = frozenset(
    [
        "price",
        "rate",
        "ratio",
        "score",
        "rating",
        "pct",
        "percent",
        "percentage",
        "share",
        "avg",
        "average",
        "mean",
        "age",
        "margin",
        "discount",
        "satisfaction",
        "csat",
        "nps",
        "temperature",
        "duration",
        "hours",
        "minutes",
        "days",
        "time",
        "latency",
        "weight",
    ]
)
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
class _Scan:
    """What one aggregate pass found out about a column."""

    name: str
    sql_type: str
    non_null: int
    distinct: int
    lo: Any
    hi: Any
    negatives: int
    as_number: int
    as_date: int
    mean_length: float


def describe_table(
    con: DuckDBPyConnection, sql_name: str, name: str, source: dict[str, Any]
) -> Table:
    """The loaded table with every column's role decided."""
    schema = [(str(r[0]), str(r[1])) for r in run(con, f"DESCRIBE {sql_name}")]
    rows = int(run(con, f"SELECT count(*) FROM {sql_name}")[0][0])
    scans = _scan(con, sql_name, schema)
    columns = tuple(infer(scan, rows) for scan in scans)
    return Table(name=name, sql=sql_name, rows=rows, columns=columns, source=source)


def _family(sql_type: str) -> str:
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


def _aggregates(name: str, sql_type: str) -> list[str]:
    """Eight aggregates per column, NULL where they do not apply, in _Scan's field order."""
    c, family = ident(name), _family(sql_type)
    counts = [f"count({c})", f"approx_count_distinct({c})"] if family != "other" else ["0", "0"]
    if family in ("integer", "numeric"):
        return [*counts, f"min({c})", f"max({c})", f"count(*) FILTER ({c} < 0)", "0", "0", "0"]
    if family == "text":
        as_number, as_date = f"count(TRY_CAST({c} AS DOUBLE))", f"count(TRY_CAST({c} AS DATE))"
        return [*counts, f"min({c})", f"max({c})", "0", as_number, as_date, f"avg(length({c}))"]
    if family in ("temporal", "boolean", "uuid"):
        return [*counts, f"min({c})", f"max({c})", "0", "0", "0", "0"]
    return [*counts, "NULL", "NULL", "0", "0", "0", "0"]


def _scan(con: DuckDBPyConnection, sql_name: str, schema: list[tuple[str, str]]) -> list[_Scan]:
    parts = [a for name, sql_type in schema for a in _aggregates(name, sql_type)]
    values = run(con, f"SELECT {', '.join(parts)} FROM {sql_name}")[0]
    scans = []
    for i, (name, sql_type) in enumerate(schema):
        nn, nd, lo, hi, neg, num, date, length = values[i * 8 : i * 8 + 8]
        scans.append(
            _Scan(
                name,
                sql_type,
                int(nn),
                int(nd),
                lo,
                hi,
                int(neg or 0),
                int(num or 0),
                int(date or 0),
                float(length or 0.0),
            )
        )
    return scans


def infer(scan: _Scan, rows: int) -> Column:
    """The column with its role and the SQL expression that yields its typed values."""
    role, expr = _role(scan, rows)
    aggregation = _aggregation(scan) if role is Role.MEASURE else Aggregation.SUM
    share = (
        scan.as_number / scan.non_null
        if _family(scan.sql_type) == "text" and scan.non_null
        else 1.0
    )
    return Column(
        name=scan.name,
        sql_type=scan.sql_type,
        role=role,
        expr=expr,
        non_null=scan.non_null,
        distinct=max(scan.distinct, 1 if scan.non_null else 0),
        numeric_share=share,
        minimum=scan.lo,
        maximum=scan.hi,
        negatives=scan.negatives,
        aggregation=aggregation,
    )


def _role(scan: _Scan, rows: int) -> tuple[Role, str]:
    c, family = ident(scan.name), _family(scan.sql_type)
    if family == "other" or scan.non_null == 0 or scan.lo == scan.hi:
        return Role.OTHER, c  # nested, empty or constant: nothing to analyse
    if family == "temporal":
        return Role.TIME, f"CAST({c} AS TIMESTAMP)"
    if family in ("boolean", "uuid"):
        role = Role.CATEGORY if family == "boolean" else Role.IDENTIFIER
        return role, f"CAST({c} AS VARCHAR)"
    if family in ("integer", "numeric"):
        return _numeric_role(scan), f"CAST({c} AS DOUBLE)"
    return _text_role(scan, rows)


def _numeric_role(scan: _Scan) -> Role:
    if ID_NAME.search(scan.name):
        return Role.IDENTIFIER
    if _family(scan.sql_type) == "integer":
        if CALENDAR_NAME.search(scan.name) and scan.distinct <= CATEGORY_MAX:
            return Role.CATEGORY
        running = float(scan.hi) - float(scan.lo) <= 2 * scan.non_null
        if scan.non_null >= 20 and scan.distinct >= 0.95 * scan.non_null and running:
            return Role.IDENTIFIER  # a running number: order no., ticket no.
    return Role.MEASURE


def _text_role(scan: _Scan, rows: int) -> tuple[Role, str]:
    c = ident(scan.name)
    if scan.as_date >= MAJORITY * scan.non_null:
        return Role.TIME, f"TRY_CAST({c} AS TIMESTAMP)"
    named_id = ID_NAME.search(scan.name) is not None
    if scan.as_number >= MAJORITY * scan.non_null and not named_id:
        return Role.MEASURE, f"TRY_CAST({c} AS DOUBLE)"
    text = f"CAST({c} AS VARCHAR)"
    if named_id:
        return Role.IDENTIFIER, text
    if scan.distinct <= CATEGORY_MAX:
        return Role.CATEGORY, text
    if scan.mean_length >= 25:
        return Role.TEXT, text
    return Role.IDENTIFIER, text


def _aggregation(scan: _Scan) -> Aggregation:
    if words(scan.name) & AVERAGED_WORDS:
        return Aggregation.MEAN
    try:
        is_fraction = float(scan.lo) >= 0.0 and float(scan.hi) <= 1.0
    except (TypeError, ValueError):
        is_fraction = False
    return (
        Aggregation.MEAN if is_fraction and _family(scan.sql_type) != "integer" else Aggregation.SUM
    )


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
    """What one row is, from its unique identifier: order_id -> 'orders' (else 'records')."""
    for c in table.having(Role.IDENTIFIER):
        # approx_count_distinct is a HyperLogLog estimate, a few per cent off.
        unique = c.non_null >= 0.98 * table.rows and c.distinct >= 0.95 * c.non_null
        if unique and ID_NAME.search(c.name) and c.entity_label != plural(c.name):
            return c.entity_label
    return "records"
