"""Per-period totals of the main measures, overall and per segment, from one scan each.

DuckDB reduces millions of rows to (period, segment) buckets; trends and anomalies work on
those few thousand numbers in Python. Periods are calendar periods (a day, a month, a
quarter, a year: never a week, which straddles months and years), as fine as the data
allows: daily data stays daily up to about four years, then becomes monthly; monthly or
yearly data keeps its own period. A period where a series has no rows has no value (it is
not a zero): a small region without orders on a Sunday, a segment that ends. An edge
period that holds less than half the usual rows of finer data (the last, cut-off day of
an hourly export) is left out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from statistics import median
from typing import TYPE_CHECKING, Any

from runner.insights.model import Aggregation, Column, Role, Table
from runner.insights.sql import run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_PERIODS = 8  # fewer periods than this is too short to speak of trends or anomalies
MAX_DAYS = 1500  # daily data longer than this (about four years) is analysed by month
MAX_SEGMENTS = 10  # per segment column, the largest ones
MIN_SEGMENT_SHARE = 0.01
GRAINS = ("day", "month", "quarter", "year")


@dataclass(frozen=True)
class Series:
    """One measure over time, for everything or for one segment value."""

    measure: Column
    segment: Column | None
    value: str | None
    sums: dict[dt.date, float]
    counts: dict[dt.date, int]

    def level(self, period: dt.date) -> float | None:
        """The measure in a period: a total or an average; None when it has no rows."""
        n = self.counts.get(period, 0)
        if not n:
            return None
        total = self.sums[period]
        return total / n if self.measure.aggregation is Aggregation.MEAN else total

    @property
    def scope(self) -> str:
        """'overall' or 'region = West'."""
        return "overall" if self.segment is None else f"{self.segment.label} = {self.value}"


@dataclass(frozen=True)
class Timeline:
    """Everything the time-based analyses need about one table."""

    time: Column
    grain: str  # the base period: day, month, quarter or year
    native: str  # the data's own resolution: subday, day, month, quarter or year
    periods: tuple[dt.date, ...]  # base periods that have rows, ascending
    series: list[Series] = field(default_factory=list)
    snapshot: bool = False  # rows are states (one per period and entity), not events
    _buckets: dict[str, dict[dt.date, dt.date]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def first(self) -> dt.date:
        return self.periods[0]

    @property
    def last(self) -> dt.date:
        return self.periods[-1]

    @property
    def end(self) -> dt.date:
        """The day after the last period: the data's periods cover [first, end)."""
        return next_period(self.last, self.grain)

    @cached_property
    def present(self) -> frozenset[dt.date]:
        """The base periods that have rows, for fast lookups."""
        return frozenset(self.periods)

    @cached_property
    def calendar(self) -> dict[dt.date, int]:
        """Every base period from the first to the last (with rows or not), by position."""
        out: dict[dt.date, int] = {}
        period = self.first
        while period <= self.last:
            out[period] = len(out)
            period = next_period(period, self.grain)
        return out

    def neighbours(self, period: dt.date, lags: list[int]) -> list[dt.date]:
        """The base periods lags periods away from period (within the data's span)."""
        index, calendar = self.calendar.get(period), self._positions
        if index is None:
            return [shift(period, self.grain, lag) for lag in lags]
        return [calendar[i] for lag in lags if 0 <= (i := index + lag) < len(calendar)]

    @cached_property
    def _positions(self) -> list[dt.date]:
        return list(self.calendar)

    def buckets(self, grain: str) -> dict[dt.date, dt.date]:
        """Each base period's period of a coarser grain (computed once per grain)."""
        if grain not in self._buckets:
            self._buckets[grain] = {p: period_start(p, grain) for p in self.periods}
        return self._buckets[grain]

    def totals(self) -> list[Series]:
        """The overall series, one per measure."""
        return [s for s in self.series if s.segment is None]


@dataclass(frozen=True)
class Span:
    """When a table's rows are dated: the first and last time, and how finely."""

    first: dt.datetime
    last: dt.datetime
    native: str  # subday, day, month, quarter or year
    dated: int = 0  # rows with a time
    periods: int = 0  # distinct times (approximate)
    pairs: tuple[tuple[str, int], ...] = ()  # distinct (time, column) pairs, per key column

    @property
    def grain(self) -> str:
        """The period series are kept at: the data's own; daily data over MAX_DAYS by month."""
        if self.native not in ("subday", "day"):
            return self.native
        return "day" if (self.last - self.first).days <= MAX_DAYS else "month"


def dating(con: DuckDBPyConnection, table: Table, time: Column, keys: list[Column]) -> Span | None:
    """The table's span in time, its resolution and how unique times are alone and with
    each of keys (None: no dates), from one scan."""
    t = time.expr
    pairs = "".join(f", approx_count_distinct(hash({t}, {c.expr}))" for c in keys)
    query = (
        f"SELECT min({t}), max({t}), count(*) FILTER (CAST({t} AS TIME) <> TIME '00:00:00'), "
        f"count(*) FILTER (day({t}) <> 1), count(*) FILTER (month({t}) NOT IN (1, 4, 7, 10)), "
        f"count(*) FILTER (month({t}) <> 1), count({t}), approx_count_distinct({t}){pairs} "
        f"FROM {table.sql}"
    )
    first, last, subday, days, off_quarter, months, dated, periods, *counts = run(con, query)[0]
    if first is None:
        return None
    native = "quarter" if months else "year"
    for grain, finer in (("month", off_quarter), ("day", days), ("subday", subday)):
        native = grain if finer else native
    unique = tuple((c.name, int(n)) for c, n in zip(keys, counts, strict=True))
    return Span(first, last, native, int(dated), int(periods), unique)


def collect(
    con: DuckDBPyConnection,
    table: Table,
    time: Column,
    span: Span,
    measures: list[Column],
    segments: list[Column],
) -> Timeline | None:
    """The timeline of table, or None when it covers too few periods.

    measures must start with the row count: it decides which segments are large enough.
    """
    native, grain = span.native, span.grain
    series = _scope(con, table, time, grain, measures, None)
    periods = _complete(series[0], native, grain)
    if len(periods) < MIN_PERIODS:
        return None
    # In snapshot data without entities (one row per day) a category describes the period
    # itself (a sunny day): following "sunny days" over time would mean nothing.
    for segment in segments if table.panel or not table.snapshot else []:
        series += _scope(con, table, time, grain, measures, segment)
    kept = set(periods)
    series = [_within(s, kept) for s in series]
    return Timeline(time, grain, native, tuple(periods), series, table.snapshot)


def _complete(counted: Series, native: str, grain: str) -> list[dt.date]:
    """The periods with rows, without a cut-off edge period of finer data."""
    periods = sorted(p for p, n in counted.counts.items() if n)
    finer = native == "subday" or GRAINS.index(native) < GRAINS.index(grain)
    if not finer:
        return periods
    usual = median(counted.counts[p] for p in periods) if periods else 0
    while periods and counted.counts[periods[-1]] < usual / 2:
        periods.pop()
    while periods and counted.counts[periods[0]] < usual / 2:
        periods.pop(0)
    return periods


def _within(series: Series, kept: set[dt.date]) -> Series:
    sums = {p: v for p, v in series.sums.items() if p in kept}
    counts = {p: n for p, n in series.counts.items() if p in kept}
    return Series(series.measure, series.segment, series.value, sums, counts)


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
    """The first day of the day/week/month/quarter/year that contains day."""
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    return day


def period_index(start: dt.date, period: dt.date, grain: str) -> float:
    """How many periods of grain lie between two period starts."""
    months = (period.year - start.year) * 12 + period.month - start.month
    if grain in ("month", "quarter", "year"):
        return months / {"month": 1, "quarter": 3, "year": 12}[grain]
    days = (period - start).days
    return days / 7.0 if grain == "week" else float(days)


def next_period(period: dt.date, grain: str) -> dt.date:
    """The start of the period after period."""
    if grain in ("month", "quarter", "year"):
        step = {"month": 1, "quarter": 3, "year": 12}[grain]
        months = period.year * 12 + period.month - 1 + step
        return dt.date(months // 12, months % 12 + 1, 1)
    return period + dt.timedelta(days=7 if grain == "week" else 1)


def shift(period: dt.date, grain: str, steps: int) -> dt.date:
    """The period start steps periods of grain away (negative: earlier)."""
    if grain in ("month", "quarter", "year"):
        size = {"month": 1, "quarter": 3, "year": 12}[grain] * steps
        months = period.year * 12 + period.month - 1 + size
        return dt.date(months // 12, months % 12 + 1, 1)
    return period + dt.timedelta(days=(7 if grain == "week" else 1) * steps)


SNAPSHOT_UNIQUE = 0.97  # HyperLogLog counts are a few per cent off: near-unique is unique
PANEL_FILL = 0.5  # a panel has most entities in most periods (not a plane's few flights)


def layout_keys(table: Table) -> list[Column]:
    """The columns that could name a panel's entities (a country, a ticker symbol)."""
    return [
        c for c in table.columns if c.role in (Role.CATEGORY, Role.IDENTIFIER) and c.distinct >= 2
    ]


def with_layout(table: Table, span: Span | None) -> Table:
    """The table, told whether its rows are snapshots: one per period, or per period and
    entity (a panel: countries per year, symbols per month), rather than events."""
    if span is None or span.dated == 0:
        return table
    if span.periods >= SNAPSHOT_UNIQUE * span.dated:
        return replace(table, snapshot=True)
    for name, pairs in sorted(span.pairs, key=lambda x: table.column(x[0]).distinct):
        unique = pairs >= SNAPSHOT_UNIQUE * span.dated
        if unique and span.dated >= PANEL_FILL * span.periods * table.column(name).distinct:
            return replace(table, snapshot=True, panel=name)
    return table
