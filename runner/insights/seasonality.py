"""Seasonality: does a measure depend on the month of the year, the weekday, the hour?

The calendar comes from the data's own calendar columns when it has them (a `month` or
`hour` column, in the data's time zone) and otherwise from its time axis. Each period of
the data (a day, or a month for monthly data) gives one level per part value: an average
for averaged measures, a total for amounts and counts. A one-way analysis of variance of
those levels tests whether the parts differ (Bonferroni over every part and measure
tested) and the part must explain at least `MIN_ETA2` of their variation. The figures
stated are plain ones: the average over the rows in July, or the average total per day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights import figures as fig
from runner.insights.model import Aggregation, Column, Insight, Role, Table, Thresholds, rounded
from runner.insights.series import Timeline
from runner.insights.sql import run
from runner.insights.stats import one_way_anova, sample_factor

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_ETA2 = 0.05
SQL_PARTS = {"month": "month", "weekday": "isodow", "hour": "hour", "quarter": "quarter"}
TERMS = {
    "month": {"month", "monthly", "season", "seasonal", "seasonality", "year", "summer",
              "winter", "spring", "autumn", "time"},
    "quarter": {"quarter", "quarterly", "season", "seasonal", "seasonality", "year", "time"},
    "weekday": {"weekday", "week", "weekly", "weekend", "day", "days", "time"},
    "hour": {"hour", "hourly", "day", "daily", "time", "clock", "morning", "evening"},
}
NAMES = {"month": "month of the year", "quarter": "quarter", "weekday": "weekday",
         "hour": "hour of the day"}


@dataclass(frozen=True)
class Part:
    """A calendar part to group by: from a calendar column, or from the time axis."""

    name: str  # month, weekday, hour, quarter
    column: Column  # the calendar column, or the time axis
    derived: bool  # True: computed from the time axis

    @property
    def sql(self) -> str:
        if self.derived:
            return f"{SQL_PARTS[self.name]}({self.column.expr})"
        return self.column.expr

    def filter(self, value: int) -> fig.Filter:
        if self.derived:
            return fig.part_of(self.column, self.name, value)
        return fig.equals(self.column, value)

    def label(self, value: int, figures: fig.Figures) -> str:
        """July, Monday, 18:00, Q3; a calendar column's weekday number as a checked label."""
        if self.name == "month" and 1 <= value <= 12:
            return fig.MONTHS[value - 1]
        if self.name == "weekday" and self.derived:
            return fig.WEEKDAYS[value - 1]
        recipe: fig.Recipe = {"kind": "label", "column": self.column.name}
        if self.derived:
            recipe["part"] = self.name
        text = {"hour": f"{value}:00", "quarter": f"Q{value}"}.get(self.name, f"{self.name} {value}")
        return figures.add(text, value, recipe)


def parts(table: Table, timeline: Timeline | None) -> list[Part]:
    """The calendar parts this table can be grouped by."""
    own = [
        Part(c.part, c, False)
        for c in table.having(Role.CALENDAR)
        if c.part in SQL_PARTS and c.distinct >= 2
    ]
    found = {p.name for p in own}
    if timeline is None:
        return own
    span = (timeline.last - timeline.first).days
    derived = []
    if timeline.native in ("subday", "day") and span >= 330 and "month" not in found:
        derived.append(Part("month", timeline.time, True))
    if timeline.native in ("subday", "day") and span >= 28 and "weekday" not in found:
        derived.append(Part("weekday", timeline.time, True))
    if timeline.native == "subday" and "hour" not in found:
        derived.append(Part("hour", timeline.time, True))
    if timeline.native == "month" and span >= 700 and "month" not in found:
        derived.append(Part("month", timeline.time, True))
    return own + derived


def find_seasonality(
    con: DuckDBPyConnection,
    table: Table,
    timeline: Timeline | None,
    measures: list[Column],
    limits: Thresholds,
) -> list[Insight]:
    """One insight per measure and calendar part where the parts clearly differ."""
    if timeline is None:
        return []
    per = "month" if timeline.native in ("month", "quarter") else "day"
    tested = [(p, m, _levels(con, table, timeline, p, m, per)) for p in parts(table, timeline)
              for m in measures]
    tests = max(1, len(tested))
    found = []
    for part, measure, levels in tested:
        p_value, eta2 = one_way_anova(list(levels.values()))
        if len(levels) >= 2 and p_value * tests < limits.alpha and eta2 >= MIN_ETA2:
            found.append(_insight(con, table, timeline, part, measure, per, p_value * tests, eta2))
    return found


def _levels(
    con: DuckDBPyConnection,
    table: Table,
    timeline: Timeline,
    part: Part,
    measure: Column,
    per: str,
) -> dict[int, list[float]]:
    """Per part value, the measure's level in each period of the data (day or month)."""
    query = (
        f"SELECT {part.sql}, date_trunc('{per}', {timeline.time.expr}), sum({measure.expr}), "
        f"count({measure.expr}) FROM {table.sql} WHERE {part.sql} IS NOT NULL "
        f"AND {timeline.time.expr} IS NOT NULL GROUP BY ALL"
    )
    averaged = measure.aggregation is Aggregation.MEAN and not measure.is_row_count
    levels: dict[int, list[float]] = defaultdict(list)
    for value, _, total, n in run(con, query):
        if n:
            levels[int(value)].append(float(total) / n if averaged else float(total))
    return levels


def _insight(
    con: DuckDBPyConnection,
    table: Table,
    timeline: Timeline,
    part: Part,
    measure: Column,
    per: str,
    p_value: float,
    eta2: float,
) -> Insight:
    figures = fig.Figures()
    averaged = measure.aggregation is Aggregation.MEAN and not measure.is_row_count
    recipes = {
        value: _recipe(part, measure, value, averaged, per, timeline)
        for value in _values(con, table, part)
    }
    stated = _stated(con, table, timeline, part, measure, averaged, per)
    peak = max(stated, key=stated.__getitem__)
    trough = min(stated, key=stated.__getitem__)
    unit = "on average" if averaged else f"per {per} on average"
    what = measure.quantity_label
    high = figures.number(stated[peak], recipes[peak])
    low = figures.number(stated[trough], recipes[trough])
    by: fig.Recipe = {"column": part.column.name}
    if part.derived:
        by["part"] = part.name
    variance = {
        "kind": "variance_share",
        "measure": None if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else ("mean" if averaged else "sum"),
        "by": by,
        "time": timeline.time.name,
        "per": per,
    }
    share = figures.percent(eta2, variance)
    peak_label, trough_label = part.label(peak, figures), part.label(trough, figures)
    title = (
        f"{what.capitalize()} by {NAMES[part.name]}: highest in {peak_label}, "
        f"lowest in {trough_label}"
    )
    summary = (
        f"{what.capitalize()} is highest in {peak_label} ({high} {unit}) and lowest in "
        f"{trough_label} ({low}). The {NAMES[part.name]} explains {share} of the variation "
        f"from one {per} to the next (an analysis of variance finds it far beyond chance)."
    )
    details = {
        "measure": "rows" if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else measure.aggregation.value,
        "part": part.name,
        "column": part.column.name,
        "per": None if averaged else per,
        "peak": peak,
        "trough": trough,
        "eta2": rounded(eta2),
        "p_adjusted": p_value,
        "levels": [
            {"equals": v, "value": rounded(stated[v]), "recipe": recipes[v]} for v in sorted(stated)
        ],
        "figures": figures.entries,
    }
    return Insight(
        insight_type="seasonality",
        title=title,
        summary=summary,
        details=details,
        confidence=(1.0 - min(1.0, p_value)) * (0.5 + 0.5 * min(1.0, 4 * eta2))
        * sample_factor(len(stated), 3),
        terms=frozenset(measure.terms | TERMS[part.name] | {part.name}),
        weight=min(1.0, 0.6 + eta2),
    )


def _values(con: DuckDBPyConnection, table: Table, part: Part) -> list[int]:
    rows = run(con, f"SELECT DISTINCT {part.sql} FROM {table.sql} WHERE {part.sql} IS NOT NULL")
    return [int(r[0]) for r in rows]


def _recipe(
    part: Part, measure: Column, value: int, averaged: bool, per: str, timeline: Timeline
) -> fig.Recipe:
    filters = [part.filter(value)]
    if averaged:
        return fig.aggregate(measure, "mean", filters)
    return fig.aggregate(measure, "sum", filters, per=per, time=timeline.time.name)


def _stated(
    con: DuckDBPyConnection,
    table: Table,
    timeline: Timeline,
    part: Part,
    measure: Column,
    averaged: bool,
    per: str,
) -> dict[int, float]:
    """The level of each part value as stated: the mean over its rows, or the average total
    per period (the total over its rows divided by the number of its periods)."""
    t = timeline.time.expr
    level = (
        f"avg({measure.expr})"
        if averaged
        else f"sum({measure.expr}) / count(DISTINCT date_trunc('{per}', {t}))"
    )
    rows: list[tuple[Any, ...]] = run(
        con,
        f"SELECT {part.sql}, {level} FROM {table.sql} WHERE {part.sql} IS NOT NULL "
        f"AND {t} IS NOT NULL GROUP BY 1",
    )
    return {int(v): float(x) for v, x in rows if x is not None}
