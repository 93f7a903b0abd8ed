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
from runner.insights.detrended import CYCLE, Season, cycles, detrended_season
from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Role,
    Table,
    Thresholds,
    number,
    rounded,
)
from runner.insights.series import Timeline, next_period
from runner.insights.sql import run
from runner.insights.stats import one_way_anova, sample_factor

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_ETA2 = 0.05
SQL_PARTS = {"month": "month", "weekday": "isodow", "hour": "hour", "quarter": "quarter"}
TERMS = {
    "month": {
        "month",
        "monthly",
        "season",
        "seasonal",
        "seasonality",
        "year",
        "summer",
        "winter",
        "spring",
        "autumn",
        "time",
    },
    "quarter": {"quarter", "quarterly", "season", "seasonal", "seasonality", "year", "time"},
    "weekday": {"weekday", "week", "weekly", "weekend", "day", "days", "time"},
    "hour": {"hour", "hourly", "day", "daily", "time", "clock", "morning", "evening"},
}
AT = {"month": "in", "quarter": "in", "weekday": "on", "hour": "at"}
NAMES = {
    "month": "month of the year",
    "quarter": "quarter",
    "weekday": "weekday",
    "hour": "hour of the day",
}


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
        names = {"hour": f"{value}:00", "quarter": f"Q{value}"}
        text = names.get(self.name, f"{self.name} {value}")
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
    if timeline.native == "quarter" and span >= 700 and "quarter" not in found:
        derived.append(Part("quarter", timeline.time, True))
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
    # How many states were recorded per hour or month says nothing about them.
    measures = [m for m in measures if not (table.snapshot and m.is_row_count)]
    per = "month" if timeline.native in ("month", "quarter") else "day"
    found = [(p, _buckets(con, table, timeline, p, measures, per)) for p in parts(table, timeline)]
    tests = max(1, len(found) * len(measures))
    insights = []
    for part, buckets in found:
        for i, measure in enumerate(measures):
            if part.name in CYCLE and cycles(timeline, part.name) >= 2:
                season = _season(timeline, measure, part.name)
                if season and season.p_value * tests < limits.alpha and season.eta2 >= MIN_ETA2:
                    insights.append(_detrended_insight(timeline, part, season, tests))
                continue  # judged on the detrended series only
            levels = _levels(buckets, i, averaged(measure))
            p_value, eta2 = one_way_anova(list(levels.values()))
            if len(levels) >= 2 and p_value * tests < limits.alpha and eta2 >= MIN_ETA2:
                stated = _stated(buckets, i, averaged(measure))
                periods = sum(len(v) for v in levels.values())
                tested = (min(1.0, p_value * tests), eta2, periods)
                insights.append(_insight(timeline, part, measure, per, stated, tested))
    return insights


def _season(timeline: Timeline, measure: Column, part: str) -> Season | None:
    series = next((s for s in timeline.totals() if s.measure.name == measure.name), None)
    return detrended_season(series, timeline, part) if series is not None else None


def _detrended_insight(timeline: Timeline, part: Part, season: Season, tests: int) -> Insight:
    """'Sales peak in December, 13.2% above trend, and are lowest in February, 9.1% below'."""
    figures = fig.Figures()
    measure = season.measure
    recipes = {v: _index_recipe(timeline, season, v) for v in season.index}
    peak, trough = season.peak, season.trough
    what = measure.quantity_label
    high = _index_size(figures, season, peak, recipes[peak])
    low = _index_size(figures, season, trough, recipes[trough])
    peak_label, trough_label = part.label(peak, figures), part.label(trough, figures)
    at = AT[part.name]
    share = "most" if season.eta2 >= 0.5 else "much" if season.eta2 >= 0.25 else "some"
    title = (
        f"{what.capitalize()} peaks {at} {peak_label}, {high} trend, and is lowest {at} "
        f"{trough_label}, {low} it"
    )
    summary = (
        f"Once the trend is taken out, {what} runs {high} trend {at} {peak_label} and {low} it "
        f"{at} {trough_label}, every year alike: the {NAMES[part.name]} explains {share} of the "
        f"variation around the trend (an analysis of variance finds it far beyond chance)."
    )
    p_adjusted = min(1.0, season.p_value * tests)
    details = {
        "measure": "rows" if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else measure.aggregation.value,
        "part": part.name,
        "column": timeline.time.name,
        "detrended": season.method,
        "index_model": "ratio" if season.ratio else "difference",
        "cycles": rounded(season.cycles, 2),
        "peak": peak,
        "trough": trough,
        "eta2": rounded(season.eta2),
        "p_adjusted": p_adjusted,
        "levels": [
            {"equals": v, "value": rounded(season.size(v)), "recipe": recipes[v]}
            for v in sorted(season.index)
        ],
        "figures": figures.entries,
    }
    return Insight(
        insight_type="seasonality",
        title=title,
        summary=summary,
        details=details,
        confidence=(1.0 - p_adjusted) * sample_factor(season.cycles, 2),
        terms=frozenset(measure.terms | TERMS[part.name] | {part.name}),
        weight=min(1.0, 0.6 + 2.5 * season.eta2),
    )


def _index_recipe(timeline: Timeline, season: Season, value: int) -> fig.Recipe:
    """How far a month runs from trend, as the evaluation re-derives it (seasonal_index)."""
    measure = season.measure
    return {
        "kind": "seasonal_index",
        "measure": None if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else measure.aggregation.value,
        "filters": [],
        "time": timeline.time.name,
        "grain": season.part,
        "from": season.first.isoformat(),
        "before": next_period(season.last, season.part).isoformat(),
        "part": season.part,
        "equals": value,
        "model": "ratio" if season.ratio else "difference",
        "detrend": season.method,
    }


def _index_size(figures: fig.Figures, season: Season, value: int, recipe: fig.Recipe) -> str:
    """'13.2% above' / '9.1% below', or '4.3 above' for a difference from trend."""
    size = season.size(value)
    where = "above" if size >= 0 else "below"
    if season.ratio:
        shown = figures.add(
            f"{abs(size) * 100:.1f}%", rounded(abs(size), 6), recipe | {"absolute": True}, "percent"
        )
    else:
        shown = figures.add(number(abs(size)), rounded(abs(size)), recipe | {"absolute": True})
    return f"{shown} {where}"


def averaged(measure: Column) -> bool:
    return measure.aggregation is Aggregation.MEAN and not measure.is_row_count


Buckets = list[tuple[Any, ...]]  # (part value, period, sum, count, sum, count, ...)


def _buckets(
    con: DuckDBPyConnection,
    table: Table,
    timeline: Timeline,
    part: Part,
    measures: list[Column],
    per: str,
) -> Buckets:
    """Per part value and period of the data (day or month), each measure's sum and count."""
    values = ", ".join(f"sum({m.expr}), count({m.expr})" for m in measures)
    query = (
        f"SELECT {part.sql}, date_trunc('{per}', {timeline.time.expr}), {values} "
        f"FROM {table.sql} WHERE {part.sql} IS NOT NULL "
        f"AND {timeline.time.expr} IS NOT NULL GROUP BY ALL"
    )
    return run(con, query)


def _levels(buckets: Buckets, i: int, mean: bool) -> dict[int, list[float]]:
    """Per part value, the measure's level in each period: its average, or its total."""
    levels: dict[int, list[float]] = defaultdict(list)
    for row in buckets:
        total, n = row[2 + 2 * i], row[3 + 2 * i]
        if n:
            levels[int(row[0])].append(float(total) / n if mean else float(total))
    return levels


def _stated(buckets: Buckets, i: int, mean: bool) -> dict[int, float]:
    """The level of each part value as stated: the average over its rows, or its total (the
    share of the total follows; an average per day would count only days with rows)."""
    sums: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for row in buckets:
        value = int(row[0])
        sums[value] += float(row[2 + 2 * i] or 0.0)
        counts[value] += int(row[3 + 2 * i])
    if mean:
        return {v: sums[v] / counts[v] for v in sums if counts[v]}
    return dict(sums)


def _insight(
    timeline: Timeline,
    part: Part,
    measure: Column,
    per: str,
    stated: dict[int, float],
    tested: tuple[float, float, int],
) -> Insight:
    """The insight; tested is (adjusted p-value, eta², levels tested)."""
    p_value, eta2, periods = tested
    figures = fig.Figures()
    mean = averaged(measure)
    recipes = {value: _recipe(part, measure, value, mean) for value in stated}
    peak = max(stated, key=stated.__getitem__)
    trough = min(stated, key=stated.__getitem__)
    what = measure.quantity_label
    high = _level(figures, stated, peak, recipes, mean)
    low = _level(figures, stated, trough, recipes, mean)
    by: fig.Recipe = {"column": part.column.name}
    if part.derived:
        by["part"] = part.name
    variance = {
        "kind": "variance_share",
        "measure": None if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else ("mean" if mean else "sum"),
        "by": by,
        "time": timeline.time.name,
        "per": per,
    }
    share = figures.percent(eta2, variance)
    peak_label, trough_label = part.label(peak, figures), part.label(trough, figures)
    at = AT[part.name]
    title = (
        f"{what.capitalize()} by {NAMES[part.name]}: highest {at} {peak_label}, "
        f"lowest {at} {trough_label}"
    )
    summary = (
        f"{what.capitalize()} is highest {at} {peak_label} ({high}) and lowest {at} "
        f"{trough_label} ({low}). The {NAMES[part.name]} explains {share} of the variation "
        f"from one {per} to the next (an analysis of variance finds it far beyond chance)."
    )
    details = {
        "measure": "rows" if measure.is_row_count else measure.name,
        "aggregation": "rows" if measure.is_row_count else measure.aggregation.value,
        "part": part.name,
        "column": part.column.name,
        "per": per,
        "peak": peak,
        "trough": trough,
        "eta2": rounded(eta2),
        "p_adjusted": p_value,
        "levels": [
            {"equals": v, "value": rounded(stated[v]), "recipe": recipes[v]} for v in sorted(stated)
        ],
        "figures": figures.entries,
    }
    weight = min(1.0, 0.6 + 2.5 * eta2)
    if part.name in CYCLE:
        # Under two years, the months differ, but whether by season or by trend is unknown.
        summary += " With under two years of data, this is not yet a season: the trend may be it."
        details["cycles"] = rounded(cycles(timeline, part.name), 2)
        weight *= 0.7
    return Insight(
        insight_type="seasonality",
        title=title,
        summary=summary,
        details=details,
        confidence=(1.0 - min(1.0, p_value)) * sample_factor(periods, 30),
        terms=frozenset(measure.terms | TERMS[part.name] | {part.name}),
        weight=weight,
    )


def _level(
    figures: fig.Figures,
    stated: dict[int, float],
    value: int,
    recipes: dict[int, fig.Recipe],
    mean: bool,
) -> str:
    """'21.7 on average', or for amounts and counts the total and its share: '27,242, 8.1%'."""
    shown = figures.number(stated[value], recipes[value])
    if mean:
        return f"{shown} on average"
    whole = sum(stated.values())
    if whole <= 0 or min(stated.values()) < 0:
        return shown
    dated = {"column": recipes[value]["filters"][0]["column"], "missing": False}
    part_of = fig.share(recipes[value], recipes[value] | {"filters": [dated]})
    return f"{shown}, {figures.percent(stated[value] / whole, part_of)} of the total"


def _recipe(part: Part, measure: Column, value: int, mean: bool) -> fig.Recipe:
    return fig.aggregate(measure, "mean" if mean else "sum", [part.filter(value)])
