"""Per-period totals of the main measures, overall and per segment, from one scan each.

DuckDB reduces millions of rows to (period, segment) buckets; trends and anomalies work on
those few thousand numbers in Python. The base period is a day (a week when the data spans
more than three years); trends re-bucket it to weeks or months.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from runner.insights.model import Aggregation, Column, Table
from runner.insights.sql import run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_PERIODS = 14  # fewer base periods than this is too short to speak of trends or anomalies
MAX_SEGMENTS = 10  # per segment column, the largest ones
MIN_SEGMENT_SHARE = 0.01


@dataclass(frozen=True)
class Series:
    """One measure over time, for everything or for one segment value."""

    measure: Column
    segment: Column | None
    value: str | None
    sums: dict[dt.date, float]
    counts: dict[dt.date, int]

    def level(self, period: dt.date) -> float | None:
        """The measure's value in a base period: a total, or an average (None if no data)."""
        if self.measure.aggregation is Aggregation.MEAN:
            n = self.counts.get(period, 0)
            return self.sums[period] / n if n else None
        return self.sums.get(period, 0.0)

    @property
    def scope(self) -> str:
        """'overall' or 'region = West'."""
        return "overall" if self.segment is None else f"{self.segment.label} = {self.value}"


@dataclass(frozen=True)
class Timeline:
    """Everything the time-based analyses need about one table."""

    time: Column
    grain: str  # base period: "day" or "week"
    periods: tuple[dt.date, ...]  # base periods that have rows, ascending
    series: list[Series] = field(default_factory=list)

    @property
    def first(self) -> dt.date:
        return self.periods[0]

    @property
    def last(self) -> dt.date:
        return self.periods[-1]

    @cached_property
    def present(self) -> frozenset[dt.date]:
        """The base periods that have rows, for fast lookups."""
        return frozenset(self.periods)

    def totals(self) -> list[Series]:
        """The overall series, one per measure."""
        return [s for s in self.series if s.segment is None]


def collect(
    con: DuckDBPyConnection,
    table: Table,
    time: Column,
    measures: list[Column],
    segments: list[Column],
) -> Timeline | None:
    """The timeline of table, or None when it covers too few periods.

    measures must start with the row count: it decides which segments are large enough.
    """
    grain = _grain(con, table, time)
    if grain is None:
        return None
    series = _scope(con, table, time, grain, measures, None)
    periods = tuple(sorted({p for s in series for p in s.counts}))
    if len(periods) < MIN_PERIODS:
        return None
    for segment in segments:
        series += _scope(con, table, time, grain, measures, segment)
    return Timeline(time, grain, periods, series)


def _grain(con: DuckDBPyConnection, table: Table, time: Column) -> str | None:
    row = run(con, f"SELECT min({time.expr}), max({time.expr}) FROM {table.sql}")[0]
    if row[0] is None:
        return None
    span = (row[1] - row[0]).days
    if span < MIN_PERIODS - 1:
        return None
    return "day" if span <= 3 * 366 else "week"


def _scope(
    con: DuckDBPyConnection,
    table: Table,
    time: Column,
    grain: str,
    measures: list[Column],
    segment: Column | None,
) -> list[Series]:
    """One series per measure for the total (segment None) or per segment value."""
    key = segment.expr if segment else "NULL"
    values = ", ".join(f"sum({m.expr}), count({m.expr})" for m in measures)
    query = (
        f"SELECT CAST(date_trunc('{grain}', {time.expr}) AS DATE), {key}, {values} "
        f"FROM {table.sql} WHERE {time.expr} IS NOT NULL"
        + (f" AND {key} IS NOT NULL" if segment else "")
        + " GROUP BY ALL"
    )
    rows = run(con, query)
    keep = _largest_segments(rows, table.rows) if segment else {None}
    out: dict[tuple[str | None, int], Series] = {}
    for row in rows:
        if row[1] not in keep:
            continue
        for i, measure in enumerate(measures):
            value = None if row[1] is None else str(row[1])
            entry = out.setdefault((value, i), Series(measure, segment, value, {}, {}))
            entry.sums[row[0]] = float(row[2 + 2 * i] or 0.0)
            entry.counts[row[0]] = int(row[3 + 2 * i])
    return list(out.values())


def _largest_segments(rows: list[tuple[Any, ...]], total: int) -> set[Any]:
    """The segment values with the most rows (at least 1% of the table)."""
    sizes: dict[Any, int] = defaultdict(int)
    for row in rows:
        sizes[row[1]] += int(row[2])  # sum(1) of the row count, the first measure
    largest = sorted(sizes, key=lambda v: -sizes[v])[:MAX_SEGMENTS]
    return {v for v in largest if sizes[v] >= MIN_SEGMENT_SHARE * total}


def period_start(day: dt.date, grain: str) -> dt.date:
    """The first day of the day/week/month that contains day."""
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def period_index(start: dt.date, period: dt.date, grain: str) -> float:
    """How many periods lie between two period starts."""
    if grain == "month":
        return float((period.year - start.year) * 12 + period.month - start.month)
    days = (period - start).days
    return days / 7.0 if grain == "week" else float(days)


def next_period(period: dt.date, grain: str) -> dt.date:
    """The start of the period after period."""
    if grain == "month":
        return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return period + dt.timedelta(days=7 if grain == "week" else 1)
