"""Trends: does a measure rise or fall over time, overall and per segment?

Each series is re-bucketed to calendar periods (years and quarters stay as they are;
daily data becomes weekly, or monthly beyond two years), partial first/last periods are
dropped, and a least-squares line is fitted. A measure that cannot go below zero gets an
exponential fit instead when the straight line would leave that range, so no fitted level
is negative and no decline passes -100%. A trend is reported when its slope survives a
Holm-corrected t-test at `alpha` (the overall series and the segments' series being two
families of tests), and the fitted change over the period is at least `min_trend_change`.
A segment that merely moves with the total is not reported separately.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from runner.insights import figures as fig
from runner.insights.model import Aggregation, Column, Insight, Thresholds, rounded, words
from runner.insights.series import Series, Timeline, next_period, period_index
from runner.insights.stats import LineFit, fit_line, holm, sample_factor

MIN_POINTS = 8
ADJECTIVE = {
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "quarter": "quarterly",
    "year": "yearly",
}
LOW_BASE = 0.25  # a fitted start below a quarter of the average level is "from almost nothing"


@dataclass(frozen=True)
class Tested:
    """A series with its fitted line and the relative change the line implies."""

    series: Series
    grain: str
    periods: list[dt.date]
    values: list[float]
    fit: LineFit
    model: str  # linear or exponential (a line through the logarithms)
    start: float  # fitted level in the first period
    end: float  # fitted level in the last period
    change: float  # relative to the start, or to the average level when the start is low
    low_base: bool  # started near zero or below: a percentage of the start would mislead

    def at(self, x: float) -> float:
        value = self.fit.at(x)
        return math.exp(value) if self.model == "exponential" else value


def trend_grain(timeline: Timeline) -> str:
    """Periods to fit over: the data's own beyond a day; weeks, or months beyond two years."""
    if timeline.grain != "day":
        return timeline.grain
    span = (timeline.last - timeline.first).days
    if span >= 730:
        return "month"
    return "week" if span >= 56 else "day"


def rebucket(series: Series, timeline: Timeline, grain: str) -> list[tuple[dt.date, float]]:
    """The series per complete period of grain (totals, or averages for averaged measures)."""
    if grain == timeline.grain:  # the base periods are complete periods of their grain
        return [(p, level) for p in timeline.periods if (level := series.level(p)) is not None]
    sums: dict[dt.date, float] = defaultdict(float)
    counts: dict[dt.date, int] = defaultdict(int)
    keys = timeline.buckets(grain)
    for base, n in series.counts.items():
        if n and base in keys:
            key = keys[base]
            sums[key] += series.sums[base]
            counts[key] += n
    points = []
    for key in sorted(sums):
        if key < timeline.first or next_period(key, grain) > timeline.end:
            continue  # a period the data covers only in part
        if series.measure.aggregation is Aggregation.MEAN:
            points.append((key, sums[key] / counts[key]))
        else:
            points.append((key, sums[key]))
    return points


def test_series(series: Series, timeline: Timeline, grain: str) -> Tested | None:
    """Fit a line through one series; None when there are too few periods to judge."""
    points = rebucket(series, timeline, grain)
    if len(points) < MIN_POINTS:
        return None
    periods = [p for p, _ in points]
    values = [v for _, v in points]
    xs = [period_index(periods[0], p, grain) for p in periods]
    level = sum(abs(v) for v in values) / len(values)
    fit, model = fit_line(xs, values), "linear"
    if fit is None or level == 0:
        return None
    if series.measure.is_row_count and timeline.snapshot:
        return None  # the number of states recorded (entities joining a panel) is no trend
    floor = series.measure.non_negative
    if floor and min(fit.at(xs[0]), fit.at(xs[-1])) < 0:
        if min(values) <= 0:
            return None  # neither a line nor a growth rate describes it
        fit, model = fit_line(xs, [math.log(v) for v in values]), "exponential"
        if fit is None:
            return None
    back = math.exp if model == "exponential" else float
    start, end = back(fit.at(xs[0])), back(fit.at(xs[-1]))
    # A percentage of a temperature, or of a start near zero or below it, would mislead.
    low_base = start < LOW_BASE * level or not series.measure.ratio_scale
    change = (end - start) / level if low_base else end / start - 1.0
    return Tested(series, grain, periods, values, fit, model, start, end, change, low_base)


def find_trends(timeline: Timeline, limits: Thresholds) -> list[Insight]:
    """Trend insights for every series of the timeline that shows one."""
    grain = trend_grain(timeline)
    tested = [t for s in timeline.series if (t := test_series(s, timeline, grain)) is not None]
    # Two families, each held at alpha: the overall series (a few), the segments' (many).
    found = []
    for family in (
        [t for t in tested if t.series.segment is None],
        [t for t in tested if t.series.segment is not None],
    ):
        adjusted = holm([t.fit.p_value for t in family])
        found += [
            (t, p)
            for t, p in zip(family, adjusted, strict=True)
            if p < limits.alpha and abs(t.change) >= limits.min_trend_change
        ]
    overall = {id(t.series.measure): t for t, _ in found if t.series.segment is None}
    return [
        _insight(t, p, len(tested), timeline)
        for t, p in found
        if t.series.segment is None or _differs(t, overall.get(id(t.series.measure)), limits)
    ]


def _differs(segment: Tested, overall: Tested | None, limits: Thresholds) -> bool:
    """A segment trend is news unless the total moves the same way by about as much."""
    if overall is None:
        return True
    gap = abs(segment.change - overall.change)
    return gap >= max(limits.min_trend_change, 0.5 * abs(overall.change))


def recipe(t: Tested, timeline: Timeline) -> fig.Recipe:
    """What the fit was made of: the measure per period of the grain, in the fitted window."""
    series = t.series
    filters = [fig.equals(series.segment, series.value)] if series.segment else []
    base = fig.aggregate(series.measure, series.measure.aggregation.value, filters)
    return base | {
        "kind": "fit",
        "time": timeline.time.name,
        "grain": t.grain,
        "from": t.periods[0].isoformat(),
        "before": next_period(t.periods[-1], t.grain).isoformat(),
        "model": t.model,
    }


def _insight(t: Tested, p_adjusted: float, tests: int, timeline: Timeline) -> Insight:
    series = t.series
    figures = fig.Figures()
    fitted = recipe(t, timeline)
    rising = t.change > 0
    what = series.measure.quantity_label.capitalize()
    where = "" if series.segment is None else f" for {_scope(series.segment, series, figures)}"
    verb = "grew" if rising else "fell"
    first = figures.period(timeline.time, t.grain, t.periods[0])
    last = figures.period(timeline.time, t.grain, t.periods[-1])
    amount = _amount(t, figures, fitted, timeline.snapshot)
    shape = _shape(t, figures, fitted)
    summary = f"{what}{where} {verb} {amount} from {first} to {last}, {shape}."
    details = {
        "measure": series.measure.name,
        "aggregation": series.measure.aggregation.value,
        "segment_column": series.segment.name if series.segment else None,
        "segment": series.value,
        "direction": "up" if rising else "down",
        "model": t.model,
        "change_pct": None if t.low_base else rounded(t.change * 100, 2),
        "grain": t.grain,
        "start": t.periods[0].isoformat(),
        "end": t.periods[-1].isoformat(),
        "periods": len(t.periods),
        "fitted_start": rounded(t.start),
        "fitted_end": rounded(t.end),
        "r2": rounded(t.fit.r2),
        "p_value": t.fit.p_value,
        "p_adjusted": p_adjusted,
        "series_tested": tests,
        "fit": fitted,
        "values": [[p.isoformat(), rounded(v)] for p, v in zip(t.periods, t.values, strict=True)],
    }
    terms = series.measure.terms | {"trend", "growth" if rising else "decline"}
    if series.segment is not None:
        terms |= series.segment.terms | words(str(series.value))
    fit_weight = 0.5 + 0.5 * t.fit.r2
    title_amount = amount.split(" (")[0]
    return Insight(
        insight_type="trend",
        title=f"{what}{where} {verb} {title_amount}",
        summary=summary,
        details=details | {"figures": figures.entries},
        confidence=(1.0 - p_adjusted) * fit_weight * sample_factor(len(t.periods), 4),
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + abs(t.change)) * series.measure.importance,
    )


def _scope(segment: Column, series: Series, figures: fig.Figures) -> str:
    """'origin USA', '4 cylinders'."""
    shown = figures.segment(segment, series.value)
    return shown if shown != str(series.value) else f"{segment.label} {series.value}"


def _amount(t: Tested, figures: fig.Figures, fitted: fig.Recipe, snapshot: bool) -> str:
    """'by 23.5% (fitted 1,200 to 1,482 per week)' or, from a low base, 'from 2 to 51 a month'."""
    # A total per period for amounts; never for states (a population is not per year).
    flow = t.series.measure.aggregation is Aggregation.SUM and not snapshot
    unit = f" per {t.grain}" if flow else ""
    start = figures.number(t.start, fitted | {"at": "start"})
    end = figures.number(t.end, fitted | {"at": "end"})
    span = f"{start} to {end}{unit}"
    if t.low_base:
        return f"from {span} (fitted)"
    change = figures.percent(abs(t.change), fitted | {"at": "change", "absolute": True})
    return f"by {change} (fitted {span})"


def _shape(t: Tested, figures: fig.Figures, fitted: fig.Recipe) -> str:
    """How steady the movement is, in words, from the fit's R²."""
    r2 = t.fit.r2
    scale = " on a log scale" if t.model == "exponential" else ""
    shown = figures.add(f"{r2:.2f}", rounded(r2), fitted | {"at": "r2"})
    if r2 >= 0.7:
        return f"a steady movement (R² {shown}{scale})"
    if r2 >= 0.3:
        return f"a clear direction with ups and downs around it (R² {shown}{scale})"
    return f"a consistent drift under noisy {ADJECTIVE[t.grain]} figures (R² {shown}{scale})"
