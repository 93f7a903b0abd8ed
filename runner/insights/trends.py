"""Trends: does a measure rise or fall over time, overall and per segment?

Each series is re-bucketed to calendar periods (years and quarters stay as they are;
daily data becomes weekly, or monthly beyond two years), partial first/last periods are
dropped (and named), and a least-squares line is fitted, as it is and through the
logarithms: the better fit says whether growth is additive or compounding. The line only
TESTS the trend (its slope survives a Holm-corrected t-test at `alpha`, the overall series
and the segments' series being two families of tests). What is stated is OBSERVED: the
level of the first full periods against the last ones, windows of equal length (a year of
months or quarters when there are two years or more, so the season cancels out; else a
quarter of the periods), and for compounding growth over years the rate per year. No
fitted value is ever printed, so none can lie outside what the data went through. The
observed change must agree with the slope and reach `min_trend_change`. A segment that
merely moves with the total is not reported separately.
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
    change: float  # observed: last window against the first, relative to the first
    low_base: bool  # started near zero or below: a percentage of the start would mislead
    window: int = 1  # periods in each of the two windows compared
    first_level: float = 0.0  # observed level of the first window
    last_level: float = 0.0  # ... and of the last one
    compounding: bool = False  # the log-linear fit beats the straight line
    p_value: float = 1.0  # of the slope, on levels net of the calendar's season when it has one

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


PER_YEAR = {"day": 365, "week": 52, "month": 12, "quarter": 4, "year": 1}


def window_size(periods: int, grain: str) -> int:
    """Periods in each compared window: a year's when there are two years or more (the
    season cancels out), else a quarter of them (one for yearly data)."""
    year = PER_YEAR[grain]
    if periods >= 2 * year:
        return year
    return max(1, periods // 4)


def window_level(series: Series, timeline: Timeline, grain: str, keys: list[dt.date]) -> float:
    """The observed level over the periods keys: the average over their rows for averaged
    measures, the total for amounts (the average per period for snapshots)."""
    wanted = set(keys)
    buckets = timeline.buckets(grain)
    total, n = 0.0, 0
    for base, count in series.counts.items():
        if count and buckets.get(base) in wanted:
            total += series.sums[base]
            n += count
    if series.measure.aggregation is Aggregation.MEAN:
        return total / n if n else 0.0
    return total / len(keys) if timeline.snapshot else total


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
    compounding = False
    if min(values) > 0 and series.measure.ratio_scale:
        logged = fit_line(xs, [math.log(v) for v in values])
        if logged is not None and logged.r2 > fit.r2:
            fit, model, compounding = logged, "exponential", True
    back = math.exp if model == "exponential" else float
    start, end = back(fit.at(xs[0])), back(fit.at(xs[-1]))
    window = window_size(len(periods), grain)
    first = window_level(series, timeline, grain, periods[:window])
    last = window_level(series, timeline, grain, periods[-window:])
    # A percentage of a temperature, or of a start near zero or below it, would mislead.
    low_base = first <= LOW_BASE * level or not series.measure.ratio_scale
    change = (last - first) / level if low_base else last / first - 1.0
    return Tested(
        series,
        grain,
        periods,
        values,
        fit,
        model,
        start,
        end,
        change,
        low_base,
        window,
        first,
        last,
        compounding,
        min(fit.p_value, _seasonless_p(periods, values, xs, grain, model)),
    )


def _seasonless_p(
    periods: list[dt.date], values: list[float], xs: list[float], grain: str, model: str
) -> float:
    """The slope's p-value once each month's (quarter's) own average offset is taken out,
    over whole years only: a strong season otherwise hides a steady trend in the noise."""
    year = PER_YEAR[grain]
    if grain not in ("month", "quarter") or len(values) < 2 * year:
        return 1.0
    whole = len(values) - len(values) % year
    ys = [math.log(v) for v in values[:whole]] if model == "exponential" else values[:whole]
    by_part: dict[int, list[float]] = defaultdict(list)
    for p, y in zip(periods[:whole], ys, strict=True):
        by_part[p.month].append(y)
    means = {k: sum(v) / len(v) for k, v in by_part.items()}
    adjusted = [y - means[p.month] for p, y in zip(periods[:whole], ys, strict=True)]
    fit = fit_line(xs[:whole], adjusted)
    return fit.p_value if fit is not None else 1.0


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
        adjusted = holm([t.p_value for t in family])
        found += [
            (t, p)
            for t, p in zip(family, adjusted, strict=True)
            if p < limits.alpha
            and _material(t, limits)
            and (t.change > 0) == (t.fit.slope > 0)  # what was seen agrees with the line
        ]
    overall = {id(t.series.measure): t for t, _ in found if t.series.segment is None}
    return [
        _insight(t, p, len(tested), timeline)
        for t, p in found
        if t.series.segment is None or _differs(t, overall.get(id(t.series.measure)), limits)
    ]


MIN_NOISES = 3.0  # an observed change this many times the spread around the line is material


def _material(t: Tested, limits: Thresholds) -> bool:
    """A change of min_trend_change of the level, or (a small change in a quiet series, such
    as a century's warming of 1.4 degrees on 21) a straight line rising or falling by
    MIN_NOISES times the spread of the periods around it."""
    if abs(t.change) >= limits.min_trend_change:
        return True
    xs = [period_index(t.periods[0], p, t.grain) for p in t.periods]
    line = fit_line(xs, t.values)
    if line is None or len(t.values) < 3:
        return False
    spread = math.sqrt(
        sum((v - line.at(x)) ** 2 for x, v in zip(xs, t.values, strict=True)) / (len(xs) - 2)
    )
    # The line's rise over the period: single first and last years are as noisy as any.
    return abs(line.slope * (xs[-1] - xs[0])) >= MIN_NOISES * spread


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
    amount, title_amount = _observed(t, figures, timeline)
    growth = growth_per_year(t, timeline)
    if growth is not None:
        rate = {k: v for k, v in growth.items() if k != "value"}
        amount += f" ({figures.percent(growth['value'], rate, signed=True)} a year, compounded)"
    summary = f"{what}{where} {verb} {amount}"
    summary += f", {_shape(t, figures, fitted)}.{_partial(t, figures, timeline)}"
    details = {
        "measure": series.measure.name,
        "aggregation": series.measure.aggregation.value,
        "segment_column": series.segment.name if series.segment else None,
        "segment": series.value,
        "direction": "up" if rising else "down",
        "model": t.model,
        "compounding": t.compounding,
        "growth_per_year": growth,
        "change_pct": None if t.low_base else rounded(t.change * 100, 2),
        "observed_from": rounded(t.first_level),
        "observed_to": rounded(t.last_level),
        "window": t.window,
        "grain": t.grain,
        "start": t.periods[0].isoformat(),
        "end": t.periods[-1].isoformat(),
        "periods": len(t.periods),
        "r2": rounded(t.fit.r2),
        "p_value": t.p_value,
        "p_adjusted": p_adjusted,
        "series_tested": tests,
        "fit": fitted,
        "values": [[p.isoformat(), rounded(v)] for p, v in zip(t.periods, t.values, strict=True)],
    }
    terms = series.measure.terms | {"trend", "growth" if rising else "decline"}
    if series.segment is not None:
        terms |= series.segment.terms | words(str(series.value))
    fit_weight = 0.5 + 0.5 * t.fit.r2
    return Insight(
        insight_type="trend",
        title=f"{what}{where} {verb} {title_amount}",
        summary=summary,
        details=details | {"figures": figures.entries},
        confidence=(1.0 - p_adjusted) * fit_weight * sample_factor(len(t.periods), 4),
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + abs(t.change)) * series.measure.importance,
    )


def window_recipe(t: Tested, timeline: Timeline, keys: list[dt.date]) -> fig.Recipe:
    """The observed level over the periods keys, as a recipe."""
    series = t.series
    filters = [fig.equals(series.segment, series.value)] if series.segment else []
    filters.append(fig.within(timeline.time, keys[0], next_period(keys[-1], t.grain)))
    recipe = fig.aggregate(series.measure, series.measure.aggregation.value, filters)
    if timeline.snapshot and series.measure.aggregation is Aggregation.SUM:
        recipe |= {"per": t.grain, "time": timeline.time.name}
    return recipe


def _window_label(t: Tested, figures: fig.Figures, timeline: Timeline, keys: list[dt.date]) -> str:
    """'2000', 'March 2013', or 'the 13 weeks from week of 2013-01-07'."""
    time = timeline.time
    if len(keys) == 1:
        return figures.period(time, t.grain, keys[0])
    a_year = t.window == PER_YEAR[t.grain] and keys[0].month == 1 and t.grain != "day"
    if a_year and t.grain in ("month", "quarter"):
        return figures.period(time, "year", keys[0])
    count = figures.parameter(f"{len(keys)} {t.grain}s", "periods compared")
    return f"the {count} from {figures.period(time, t.grain, keys[0])}"


def _observed(t: Tested, figures: fig.Figures, timeline: Timeline) -> tuple[str, str]:
    """(summary, title) of the observed change: 'by 49.0% from 45.2 in 2000 to 67.4 in
    2010', and from a low base only the two levels."""
    first, last = t.periods[: t.window], t.periods[-t.window :]
    early, late = window_recipe(t, timeline, first), window_recipe(t, timeline, last)
    a = figures.number(t.first_level, early)
    b = figures.number(t.last_level, late)
    since = _window_label(t, figures, timeline, first)
    until = _window_label(t, figures, timeline, last)
    levels = f"from {a} in {since} to {b} in {until}"
    if t.low_base:
        return levels, levels
    change = figures.percent(abs(t.change), {**fig.change(early, late), "absolute": True})
    return f"by {change} {levels}", f"{change} from {since} to {until}"


def growth_per_year(t: Tested, timeline: Timeline) -> fig.Recipe | None:
    """For compounding growth over two years or more, the rate a year (CAGR) between the
    compared windows, with its recipe: growth_rate = (to / from) ** (1 / years) - 1."""
    if not t.compounding or t.low_base or t.first_level <= 0 or t.last_level <= 0:
        return None
    years = period_index(t.periods[0], t.periods[-t.window], t.grain) / PER_YEAR[t.grain]
    if years < 2:
        return None
    rate = (t.last_level / t.first_level) ** (1 / years) - 1
    first, last = t.periods[: t.window], t.periods[-t.window :]
    return {
        "value": rounded(rate, 6),
        "kind": "growth_rate",
        "from": window_recipe(t, timeline, first),
        "to": window_recipe(t, timeline, last),
        "years": rounded(years, 6),
    }


def _partial(t: Tested, figures: fig.Figures, timeline: Timeline) -> str:
    """' December 2013 is left out as a partial month.' for the edge periods not compared."""
    if t.grain == timeline.grain:
        return ""
    keys = sorted(set(timeline.buckets(t.grain).values()))
    cut = [k for k in keys if k < timeline.first or next_period(k, t.grain) > timeline.end]
    if t.series.segment is not None or not cut:
        return ""
    named = " and ".join(figures.period(timeline.time, t.grain, k) for k in cut)
    verb = "are" if len(cut) > 1 else "is"
    return f" {named} {verb} left out as partial {t.grain}{'s' if len(cut) > 1 else ''}."


def _scope(segment: Column, series: Series, figures: fig.Figures) -> str:
    """'origin USA', '4 cylinders'."""
    shown = figures.segment(segment, series.value)
    return shown if shown != str(series.value) else f"{segment.label} {series.value}"


def _shape(t: Tested, figures: fig.Figures, fitted: fig.Recipe) -> str:
    """How steady the movement is, in words, from the fit's R² (no fitted level)."""
    r2 = t.fit.r2
    scale = " of a compounding line" if t.model == "exponential" else " of a straight line"
    shown = figures.add(f"{r2:.2f}", rounded(r2), fitted | {"at": "r2"})
    if r2 >= 0.7:
        return f"a steady movement (R² {shown}{scale})"
    if r2 >= 0.3:
        return f"a clear direction with ups and downs around it (R² {shown}{scale})"
    return f"a consistent drift under noisy {ADJECTIVE[t.grain]} figures (R² {shown}{scale})"
