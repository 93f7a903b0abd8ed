"""Trends: does a measure rise or fall over time, overall and per segment?

Each series is re-bucketed to weeks (months beyond two years, days below eight weeks),
partial first/last periods are dropped, and a least-squares line is fitted. A trend is
reported when its slope survives a Holm-corrected t-test at `alpha` across every series
tested, and the fitted change over the period is at least `min_trend_change`. A segment
that merely moves with the total is not reported separately.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from runner.insights.model import Aggregation, Insight, Thresholds, number, percent, rounded, words
from runner.insights.series import Series, Timeline, next_period, period_index, period_start
from runner.insights.stats import LineFit, fit_line, holm, sample_factor

MIN_POINTS = 8
LOW_BASE = 0.25  # a fitted start below a quarter of the average level is "from almost nothing"


@dataclass(frozen=True)
class Tested:
    """A series with its fitted line and the relative change the line implies."""

    series: Series
    grain: str
    periods: list[dt.date]
    values: list[float]
    fit: LineFit
    start: float  # fitted level in the first period
    end: float  # fitted level in the last period
    change: float  # relative to the start, or to the average level when the start is low
    low_base: bool  # started near zero: a percentage of the start would mislead


def trend_grain(timeline: Timeline) -> str:
    """Weeks for most data; months beyond two years; days below eight weeks."""
    span = (timeline.last - timeline.first).days
    if timeline.grain == "week" or span >= 730:
        return "month"
    return "week" if span >= 56 else "day"


def rebucket(series: Series, timeline: Timeline, grain: str) -> list[tuple[dt.date, float]]:
    """The series per complete period of grain (totals, or averages for averaged measures)."""
    sums: dict[dt.date, float] = defaultdict(float)
    counts: dict[dt.date, int] = defaultdict(int)
    for base in timeline.periods:
        key = period_start(base, grain)
        sums[key] += series.sums.get(base, 0.0)
        counts[key] += series.counts.get(base, 0)
    data_end = timeline.last + dt.timedelta(days=6 if timeline.grain == "week" else 0)
    points = []
    for key in sorted(sums):
        partial = key < timeline.first or next_period(key, grain) - dt.timedelta(days=1) > data_end
        if partial:
            continue
        if series.measure.aggregation is Aggregation.MEAN:
            if counts[key]:
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
    fit = fit_line(xs, values)
    if fit is None:
        return None
    start, end = fit.at(xs[0]), fit.at(xs[-1])
    level = sum(abs(v) for v in values) / len(values)
    if level == 0:
        return None
    low_base = start < LOW_BASE * level
    change = (end - start) / level if low_base else end / start - 1.0
    return Tested(series, grain, periods, values, fit, start, end, change, low_base)


def find_trends(timeline: Timeline, limits: Thresholds) -> list[Insight]:
    """Trend insights for every series of the timeline that shows one."""
    grain = trend_grain(timeline)
    tested = [t for s in timeline.series if (t := test_series(s, timeline, grain)) is not None]
    adjusted = holm([t.fit.p_value for t in tested])
    found = [
        (t, p)
        for t, p in zip(tested, adjusted, strict=True)
        if p < limits.alpha and abs(t.change) >= limits.min_trend_change
    ]
    overall = {id(t.series.measure): t for t, _ in found if t.series.segment is None}
    return [
        _insight(t, p, len(tested))
        for t, p in found
        if t.series.segment is None or _differs(t, overall.get(id(t.series.measure)), limits)
    ]


def _differs(segment: Tested, overall: Tested | None, limits: Thresholds) -> bool:
    """A segment trend is news unless the total moves the same way by about as much."""
    if overall is None:
        return True
    gap = abs(segment.change - overall.change)
    return gap >= max(limits.min_trend_change, 0.5 * abs(overall.change))


def _insight(t: Tested, p_adjusted: float, tests: int) -> Insight:
    series = t.series
    rising = t.change > 0
    what = series.measure.quantity_label.capitalize()
    where = "" if series.segment is None else f" for {series.segment.label} {series.value}"
    verb = "grew" if rising else "fell"
    span = f"{_when(t.periods[0], t.grain)} to {_when(t.periods[-1], t.grain)}"
    amount = _amount(t)
    summary = f"{what}{where} {verb} {amount} from {span}, {_shape(t.fit.r2, t.grain)}."
    details = {
        "measure": series.measure.name,
        "aggregation": series.measure.aggregation.value,
        "segment_column": series.segment.name if series.segment else None,
        "segment": series.value,
        "direction": "up" if rising else "down",
        "change_pct": None if t.low_base else rounded(t.change * 100, 2),
        "change_vs_average_pct": rounded((t.end - t.start) / _level(t) * 100, 2),
        "grain": t.grain,
        "start": t.periods[0].isoformat(),
        "end": t.periods[-1].isoformat(),
        "periods": len(t.periods),
        "fitted_start": rounded(t.start),
        "fitted_end": rounded(t.end),
        "slope_per_period": rounded(t.fit.slope),
        "r2": rounded(t.fit.r2),
        "p_value": t.fit.p_value,
        "p_adjusted": p_adjusted,
        "series_tested": tests,
        "values": [[p.isoformat(), rounded(v)] for p, v in zip(t.periods, t.values, strict=True)],
    }
    terms = series.measure.terms | {"trend", "growth" if rising else "decline"}
    if series.segment is not None:
        terms |= series.segment.terms | words(str(series.value))
    fit_weight = 0.5 + 0.5 * t.fit.r2
    return Insight(
        insight_type="trend",
        title=f"{what}{where} {verb} {amount}",
        summary=summary,
        details=details,
        confidence=(1.0 - p_adjusted) * fit_weight * sample_factor(len(t.periods), 4),
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + abs(t.change)),
    )


def _level(t: Tested) -> float:
    return sum(abs(v) for v in t.values) / len(t.values)


def _amount(t: Tested) -> str:
    """'by 23.5% (1,200 to 1,482 per week)' or, from a low base, 'from 2 to 51 per month'."""
    span = f"{number(t.start)} to {number(t.end)} per {t.grain}"
    return f"from {span}" if t.low_base else f"by {percent(abs(t.change))} ({span})"


def _shape(r2: float, grain: str) -> str:
    """How steady the movement is, in words, from the fit's R²."""
    if r2 >= 0.7:
        return f"a steady movement ({percent(r2)} of the {grain}ly variation follows the line)"
    if r2 >= 0.3:
        return f"a clear direction with ups and downs around it (R² {r2:.2f})"
    return f"a consistent drift under noisy {grain}ly figures (R² {r2:.2f})"


def _when(period: dt.date, grain: str) -> str:
    return period.strftime("%B %Y") if grain == "month" else f"the {grain} of {period.isoformat()}"
