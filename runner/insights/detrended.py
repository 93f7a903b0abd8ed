"""The season of a measure judged on its detrended series: month or quarter of the year.

A growing series is higher in December than in January of the same year whatever the
season, and a falling one the other way round; a test on raw levels mixes the two. So the
level of each month (or quarter) is divided by the trend around it: a centred moving
average over one cycle (2x12 for months, 2x4 for quarters) when there are three cycles or
more, else the line (straight or compounding, the better fit) through the series. The
ratios (differences for a measure whose zero is not "none", such as a temperature) are
grouped by month: a one-way analysis of variance tests them, and each month's average
ratio, normalised to average 1 over the months, is its seasonal index ("December runs 13%
above trend"). Nothing is said with fewer than two full cycles: with one year of data the
season and the trend cannot be told apart.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from runner.insights.model import Aggregation, Column
from runner.insights.series import Series, Timeline, next_period, period_index
from runner.insights.stats import fit_line, one_way_anova
from runner.insights.trends import rebucket

CYCLE = {"month": 12, "quarter": 4}
GRAIN_ORDER = ("subday", "day", "month", "quarter", "year")


@dataclass(frozen=True)
class Season:
    """A measure's seasonal index per month (or quarter) and the test behind it."""

    measure: Column
    part: str  # month or quarter
    ratio: bool  # True: index is a ratio to trend; False: a difference from it
    index: dict[int, float]  # part value -> ratio to trend (1 = on trend) or difference
    p_value: float
    eta2: float
    cycles: float
    method: str  # moving_average or fit
    first: dt.date
    last: dt.date
    trend: dict[dt.date, float] = field(default_factory=dict)  # period -> its trend level

    @property
    def peak(self) -> int:
        return max(self.index, key=self.index.__getitem__)

    @property
    def trough(self) -> int:
        return min(self.index, key=self.index.__getitem__)

    def size(self, value: int) -> float:
        """How far a part runs from trend: +0.13 (13% above), or a difference in units."""
        return self.index[value] - 1.0 if self.ratio else self.index[value]

    def expected(self, period: dt.date) -> float | None:
        """The level the trend and the season give a period (None without a trend there)."""
        level = self.trend.get(period)
        if level is None:
            return None
        index = self.index[season_part(period, self.part)]
        return level * index if self.ratio else level + index


def cycles(timeline: Timeline, part: str) -> float:
    """How many full cycles (years) of part the timeline's complete periods cover."""
    if part not in CYCLE or GRAIN_ORDER.index(timeline.native) > GRAIN_ORDER.index(part):
        return 0.0
    months = (timeline.end.year - timeline.first.year) * 12 + timeline.end.month
    months -= timeline.first.month
    if timeline.first.day != 1:
        months -= 1
    return months / 12


def detrended_season(series: Series, timeline: Timeline, part: str) -> Season | None:
    """The season of series by part on its detrended levels; None under two full cycles,
    with gaps between periods, or with levels a ratio cannot be taken of."""
    # A month with no data breaks the series: the season is judged on the longest stretch
    # without such a gap (its first and last periods go into the recipes).
    points = _longest_run(rebucket(series, timeline, part), part)
    cycle = CYCLE[part]
    if len(points) < 2 * cycle:
        return None
    values = [v for _, v in points]
    ratio = series.measure.ratio_scale and min(values) > 0
    if len(points) >= 3 * cycle:
        trend, method = _moving_average(values, cycle), "moving_average"
    else:
        trend, method = _fitted(points, part, ratio), "fit"
    grouped: dict[int, list[float]] = defaultdict(list)
    trends: dict[dt.date, float] = {}
    for (period, value), level in zip(points, trend, strict=True):
        if level is None or (ratio and level <= 0):
            continue
        trends[period] = level
        grouped[season_part(period, part)].append(value / level if ratio else value - level)
    if len(grouped) < cycle:
        return None
    # The test reads every base period (a day) against its month's trend when the measure is
    # averaged: thirty observations a month rather than one.
    tested = _base_ratios(series, timeline, part, trends, ratio) or grouped
    p_value, eta2 = one_way_anova(list(tested.values()))
    means = {k: sum(g) / len(g) for k, g in grouped.items()}
    centre = sum(means.values()) / len(means)
    if ratio and centre <= 0:
        return None
    index = {k: (m / centre if ratio else m - centre) for k, m in means.items()}
    return Season(
        series.measure,
        part,
        ratio,
        index,
        p_value,
        eta2,
        len(points) / cycle,
        method,
        points[0][0],
        points[-1][0],
        trends,
    )


def season_part(period: dt.date, part: str) -> int:
    """The month (1-12) or quarter (1-4) of a period."""
    return period.month if part == "month" else (period.month - 1) // 3 + 1


def _base_ratios(
    series: Series, timeline: Timeline, part: str, trends: dict[dt.date, float], ratio: bool
) -> dict[int, list[float]] | None:
    """Each base period's level against the trend of its month (averaged measures of finer
    data only: a day's total is no match for a month's)."""
    if series.measure.aggregation is not Aggregation.MEAN or timeline.grain == part:
        return None
    buckets = timeline.buckets(part)
    out: dict[int, list[float]] = defaultdict(list)
    for base in timeline.periods:
        level, key = series.level(base), buckets.get(base)
        if level is None or key not in trends:
            continue
        out[season_part(base, part)].append(level / trends[key] if ratio else level - trends[key])
    return out or None


def _longest_run(points: list[tuple[dt.date, float]], grain: str) -> list[tuple[dt.date, float]]:
    """The longest stretch of points with no period missing between them (the first such)."""
    start, best = 0, (0, min(1, len(points)))
    for i in range(1, len(points)):
        if next_period(points[i - 1][0], grain) != points[i][0]:
            start = i
        if i + 1 - start > best[1] - best[0]:
            best = (start, i + 1)
    return points[best[0] : best[1]]


def _moving_average(values: list[float], cycle: int) -> list[float | None]:
    """The centred 2 x cycle moving average (None where the window leaves the data)."""
    half = cycle // 2
    out: list[float | None] = []
    for i in range(len(values)):
        if i < half or i + half >= len(values):
            out.append(None)
            continue
        window = values[i - half : i + half + 1]
        out.append((sum(window) - 0.5 * (window[0] + window[-1])) / cycle)
    return out


def _fitted(points: list[tuple[dt.date, float]], grain: str, ratio: bool) -> list[float | None]:
    """The trend as the better of a straight and a compounding line (two cycles only)."""
    xs = [period_index(points[0][0], p, grain) for p, _ in points]
    values = [v for _, v in points]
    line = fit_line(xs, values)
    logged = fit_line(xs, [math.log(v) for v in values]) if ratio else None
    if logged is not None and (line is None or logged.r2 > line.r2):
        return [math.exp(logged.at(x)) for x in xs]
    if line is None:
        return [None] * len(xs)
    return [line.at(x) for x in xs]
