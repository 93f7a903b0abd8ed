"""What a file holds (rows, columns, roles, period) and the headline figures of its measures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Role,
    Table,
    number,
    rounded,
    words,
)
from runner.insights.series import Series, Timeline
from runner.insights.sql import run
from runner.insights.stats import sample_factor
from runner.insights.trends import rebucket

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def profile(table: Table, timeline: Timeline | None) -> Insight:
    """The dataset profile: size, column roles, period covered, how it was read."""
    roles = {role.value: [c.name for c in table.having(role)] for role in Role}
    cells = table.rows * len(table.columns)
    filled = sum(c.non_null for c in table.columns)
    period = _period(timeline)
    described = [f"{len(v)} {k} column{'s' if len(v) > 1 else ''}" for k, v in roles.items() if v]
    summary = f"{table.name} holds {table.rows:,} rows and {len(table.columns)} columns: " + (
        ", ".join(described) + "."
    )
    if period:
        summary += f" It covers {period['start']} to {period['end']} ({period['days']:,} days)."
    details = {
        "file": table.name,
        "rows": table.rows,
        "columns": len(table.columns),
        "roles": {k: v for k, v in roles.items() if v},
        "period": period,
        "source": table.source,
        "column_profile": [_column(c, table.rows) for c in table.columns],
    }
    return Insight(
        insight_type="profile",
        title=f"{table.name}: {table.rows:,} rows, {len(table.columns)} columns"
        + (f", {period['start']} to {period['end']}" if period else ""),
        summary=summary,
        details=details,
        confidence=(filled / cells if cells else 0.0) * sample_factor(table.rows, 10),
        terms=frozenset(words(table.name) | {"profile", "overview"}),
        weight=0.3,
    )


def _period(timeline: Timeline | None) -> dict[str, Any] | None:
    if timeline is None:
        return None
    return {
        "column": timeline.time.name,
        "start": timeline.first.isoformat(),
        "end": timeline.last.isoformat(),
        "days": (timeline.last - timeline.first).days + 1,
        "grain": timeline.grain,
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
    return entry


def kpis(
    con: DuckDBPyConnection, table: Table, measures: list[Column], timeline: Timeline | None
) -> list[Insight]:
    """One headline-figures insight per main measure."""
    if not measures:
        return []
    parts = ", ".join(
        f"count({m.expr}), sum({m.expr}), avg({m.expr}), min({m.expr}), max({m.expr}), "
        f"approx_quantile({m.expr}, 0.5)"
        for m in measures
    )
    row = run(con, f"SELECT {parts} FROM {table.sql}")[0]
    totals = {s.measure.name: s for s in timeline.totals()} if timeline else {}
    out = []
    for i, m in enumerate(measures):
        figures = [float(v) if v is not None else 0.0 for v in row[6 * i : 6 * i + 6]]
        if figures[0] > 0:
            out.append(_kpi(table, m, figures, _last_period(totals.get(m.name), timeline)))
    return out


def _kpi(table: Table, m: Column, figures: list[float], last: dict[str, Any] | None) -> Insight:
    count, total, mean, low, high, middle = figures
    averaged = m.aggregation is Aggregation.MEAN
    headline = f"{number(mean)} on average" if averaged else f"{number(total)} in total"
    summary = (
        f"{m.label.capitalize()} is {headline} over {int(count):,} rows "
        f"(typical value {number(middle)}, range {number(low)} to {number(high)})."
    )
    if last:
        change = last["change_pct"]
        moved = "" if change is None else f", {change:+.1f}% on the {last['grain']} before"
        summary += (
            f" Latest full {last['grain']} ({last['period']}): {number(last['value'])}{moved}."
        )
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
    }
    return Insight(
        insight_type="kpi",
        title=f"{m.label.capitalize()}: {headline}",
        summary=summary,
        details=details,
        confidence=sample_factor(count, 30) * count / table.rows,
        terms=frozenset(m.terms | {"kpi", "total"}),
        weight=0.55,
    )


def _last_period(series: Series | None, timeline: Timeline | None) -> dict[str, Any] | None:
    """The latest complete month (week for short data) against the one before."""
    if series is None or timeline is None:
        return None
    grain = "month" if (timeline.last - timeline.first).days >= 90 else "week"
    points = rebucket(series, timeline, grain)
    if len(points) < 2:
        return None
    (_, previous), (period, value) = points[-2], points[-1]
    change = (value / previous - 1) * 100 if previous > 0 else None
    return {
        "grain": grain,
        "period": period.strftime("%B %Y") if grain == "month" else f"week of {period}",
        "value": rounded(value),
        "previous": rounded(previous),
        "change_pct": rounded(change, 2) if change is not None else None,
    }
