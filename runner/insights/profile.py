"""What a file holds (rows, columns, roles, period) and the headline figures of its measures.

The headline of an averaged measure is its average; of an amount, its total, except in
snapshot data (a price, a headcount, a population per period), where a total over time
means nothing and the headline is the latest period's total, against the first one's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.insights import figures as fig
from runner.insights.derived import Derived
from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Role,
    Table,
    rounded,
)
from runner.insights.series import Series, Span, Timeline, next_period
from runner.insights.sql import run
from runner.insights.stats import sample_factor
from runner.insights.trends import rebucket

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

EXACT_MEDIAN_ROWS = 2_000_000  # an exact median keeps every value: 16 MB per measure here


def profile(
    table: Table, timeline: Timeline | None, span: Span | None, derived: Sequence[Derived] = ()
) -> Insight:
    """The dataset profile: size, column roles, period covered, how it was read, and the
    derived columns (named once here, left out of every other finding)."""
    figures = fig.Figures()
    roles = {role.value: [c.name for c in table.having(role)] for role in Role}
    cells = table.rows * len(table.columns)
    filled = sum(c.non_null for c in table.columns)
    period = _period(timeline, span)
    described = [f"{len(v)} {k} column{'s' if len(v) > 1 else ''}" for k, v in roles.items() if v]
    rows = figures.count(table.rows, fig.aggregate(None, "rows"))
    # The file's own count: a column left out for a name alike but for case is still its.
    width = len(table.columns) + len(table.source.get("names_alike") or [])
    columns = figures.count(width, {"kind": "columns"})
    for role, names in roles.items():
        if names:
            figures.parameter(
                f"{len(names)} {role} column{'s' if len(names) > 1 else ''}",
                "how many columns of each role",
            )
    summary = f"{table.name} holds {rows} rows and {columns} columns: " + ", ".join(described) + "."
    summary += _sheets(table.source)
    covers = ""
    if timeline is not None and span is not None:
        covers = _covers(timeline, span, figures)
        summary += f" It covers {covers}."
    if derived:
        summary += " " + _derived(derived)
    details = {
        "file": table.name,
        "rows": table.rows,
        "columns": width,
        "roles": {k: v for k, v in roles.items() if v},
        "period": period,
        "snapshot": table.snapshot,
        "panel": table.panel,
        "source": table.source,
        "column_profile": [_column(c, table.rows) for c in table.columns],
        "derived_columns": [
            {"column": d.column.name, "source": d.source.name, "how": d.how} for d in derived
        ],
        "figures": figures.entries,
    }
    return Insight(
        insight_type="profile",
        title=f"{table.name}: {rows} rows, {columns} columns" + (f", {covers}" if covers else ""),
        summary=summary,
        details=details,
        confidence=(filled / cells if cells else 0.0) * sample_factor(table.rows, 10),
        # Not the file's name: it names what every row is, so it makes the profile no nearer
        # the question than any finding.
        terms=frozenset({"profile", "overview"}),
        weight=0.3,
    )


def _derived(derived: Sequence[Derived]) -> str:
    """'Derived columns, left out of the drivers: log salary (a transform of salary).'"""
    # The sampled r that gave a column away is not stated: the words are the finding.
    said = [f"{d.column.label} ({d.how} {d.source.label})" for d in derived]
    return "Derived columns, left out of the drivers: " + "; ".join(said) + "."


def _covers(timeline: Timeline, span: Span, figures: fig.Figures) -> str:
    """'2013-01-01 to 2013-12-31 (365 days)', or '1952 to 2007' for coarser data."""
    time = timeline.time
    if timeline.native in ("subday", "day"):
        low = figures.date(span.first, fig.aggregate(time, "min") | {"measure": time.name})
        high = figures.date(span.last, fig.aggregate(time, "max") | {"measure": time.name})
        days = (_day(span.last) - _day(span.first)).days + 1
        counted = figures.count(days, {"kind": "span_days", "column": time.name})
        return f"{low} to {high} ({counted} days)"
    grain = timeline.native
    first = figures.period(time, grain, _day(span.first))
    last = figures.period(time, grain, _day(span.last))
    return f"{first} to {last}"


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _period(timeline: Timeline | None, span: Span | None) -> dict[str, Any] | None:
    if timeline is None or span is None:
        return None
    return {
        "column": timeline.time.name,
        "start": _day(span.first).isoformat(),
        "end": _day(span.last).isoformat(),
        "days": (_day(span.last) - _day(span.first)).days + 1,
        "grain": timeline.grain,
        "native": timeline.native,
    }


def _column(c: Column, rows: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "column": c.name,
        "type": c.sql_type,
        "role": c.role.value,
        "missing_share": rounded(1 - c.non_null / rows) if rows else 0.0,
        "distinct": c.distinct,
    }
    if c.role is Role.MEASURE:
        entry["aggregation"] = c.aggregation.value
    if c.part:
        entry["part"] = c.part
    return entry


def kpis(
    con: DuckDBPyConnection, table: Table, measures: list[Column], timeline: Timeline | None
) -> list[Insight]:
    """One headline-figures insight per main measure."""
    if not measures:
        return []
    # The exact median holds every value in memory: beyond EXACT_MEDIAN_ROWS it is
    # DuckDB's estimate, and the text says "about".
    median = "quantile_cont" if table.rows <= EXACT_MEDIAN_ROWS else "approx_quantile"
    parts = ", ".join(
        f"count({m.expr}), sum({m.expr}), avg({m.expr}), min({m.expr}), max({m.expr}), "
        f"{median}({m.expr}, 0.5)"
        for m in measures
    )
    row = run(con, f"SELECT {parts} FROM {table.sql}")[0]
    totals = {s.measure.name: s for s in timeline.totals()} if timeline else {}
    out = []
    for i, m in enumerate(measures):
        figures = [float(v) if v is not None else 0.0 for v in row[6 * i : 6 * i + 6]]
        if figures[0] > 0:
            out.append(_kpi(table, m, figures, totals.get(m.name), timeline))
    return out


def _kpi(
    table: Table,
    m: Column,
    values: list[float],
    series: Series | None,
    timeline: Timeline | None,
) -> Insight:
    figures = fig.Figures()
    count, total, mean, low, high, middle = values
    averaged = m.aggregation is Aggregation.MEAN
    n = figures.count(int(count), fig.aggregate(m, "count"))
    if table.rows <= EXACT_MEDIAN_ROWS:
        typical = figures.number(middle, fig.aggregate(m, "median"))
    else:
        estimate = fig.aggregate(m, "median") | {"approximate": True}
        typical = f"about {figures.number(middle, estimate)}"
    lowest = figures.number(low, fig.aggregate(m, "min"))
    highest = figures.number(high, fig.aggregate(m, "max"))
    snapshot_total = not averaged and table.snapshot and timeline is not None
    if averaged or snapshot_total:
        headline = f"{figures.number(mean, fig.aggregate(m, 'mean'))} on average"
    else:
        headline = f"{figures.number(total, fig.aggregate(m, 'sum'))} in total"
    summary = (
        f"{m.label.capitalize()} is {headline} over {n} rows "
        f"(median {typical}, range {lowest} to {highest})."
    )
    last = _last_period(series, timeline, figures) if series and timeline else None
    if last:
        summary += " " + last["text"]
        last = {k: v for k, v in last.items() if k != "text"}
    details = {
        "file": table.name,
        "measure": m.name,
        "aggregation": m.aggregation.value,
        "count": int(count),
        "total": rounded(total),
        "mean": rounded(mean),
        "median": rounded(middle),
        "min": rounded(low),
        "max": rounded(high),
        "missing_share": rounded(1 - count / table.rows),
        "latest_period": last,
        "figures": figures.entries,
    }
    return Insight(
        insight_type="kpi",
        title=f"{m.label.capitalize()}: {headline}",
        summary=summary,
        details=details,
        confidence=sample_factor(count, 30) * count / table.rows,
        terms=frozenset(m.terms | {"kpi", "total", "average"}),
        weight=0.55,
    )


def last_grain(timeline: Timeline) -> str:
    """The period a reader follows: a month for daily data over 90 days, else the data's own."""
    if timeline.grain == "day":
        return "month" if (timeline.last - timeline.first).days >= 90 else "week"
    return timeline.grain


def _last_period(series: Series, timeline: Timeline, figures: fig.Figures) -> dict[str, Any] | None:
    """The latest complete period against the one before (and, for snapshots, the first)."""
    grain = last_grain(timeline)
    points = rebucket(series, timeline, grain)
    if len(points) < 2:
        return None
    (start, previous), (period, value) = points[-2], points[-1]
    m = series.measure
    aggregation = "mean" if m.aggregation is Aggregation.MEAN else "sum"

    def level(at: dt.date) -> fig.Recipe:
        return fig.aggregate(
            m, aggregation, [fig.within(timeline.time, at, next_period(at, grain))]
        )

    label = figures.period(timeline.time, grain, period)
    shown = figures.number(value, level(period))
    text = f"Latest complete {grain} ({label}): {shown}"
    change = None
    before = figures.period(timeline.time, grain, start)
    if m.ratio_scale and previous > 0:
        change = value / previous - 1
        moved = figures.percent(change, fig.change(level(start), level(period)), signed=True)
        text += f", {moved} on {before}"
    else:
        text += f", against {figures.number(previous, level(start))} in {before}"
    first_period, first_value = points[0]
    if timeline.snapshot and len(points) > 2:
        since = figures.period(timeline.time, grain, first_period)
        text += f"; {figures.number(first_value, level(first_period))} in {since}"
    return {
        "grain": grain,
        "period": period.isoformat(),
        "value": rounded(value),
        "previous": rounded(previous),
        "change_pct": rounded(change * 100, 2) if change is not None else None,
        "text": text + ".",
    }


def _sheets(source: dict[str, Any]) -> str:
    """The sentence naming the sheets read, for a workbook of several (else "")."""
    sheets = source.get("sheets") or {}
    read, workbook = sheets.get("read") or [], sheets.get("workbook") or []
    if len(workbook) < 2:
        return ""
    which = ", ".join(repr(s) for s in read)
    every = ", ".join(workbook)
    return f" Read from sheet{'s' if len(read) > 1 else ''} {which} of {len(workbook)} ({every})."
