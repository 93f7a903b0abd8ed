"""Falls from a peak: how far a level fell, from when to when, and where it stands now.

For states rather than events (a headcount, a price, the yearly output of a plant), what a
reader asks first after a shock is how far the level fell from its peak, when it hit
bottom, and whether it came back. Each series of snapshot data is taken per period of its
trend grain; its largest fall from a running peak is reported when it is at least
`MIN_FALL` of the peak and far beyond the series' usual change from one period to the next.
A series that merely falls from its first period to its last is a trend, not a fall. A
fall that the season repeats (the same calendar months fall at least half as far in most
other years) is the season's, not a fall from a peak. Whether the level came back is read
from every period after the trough: a series that beat its old peak since has recovered,
whatever its latest level. When the series set its all-time high after the deepest fall's
peak, the fall from that record is reported too (where the level stands against its record).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from runner.insights import figures as fig
from runner.insights.detrended import CYCLE, cycles, detrended_season
from runner.insights.model import Aggregation, Insight, Thresholds, rounded, words
from runner.insights.series import Series, Timeline, next_period
from runner.insights.stats import robust_scale, sample_factor
from runner.insights.trends import rebucket, trend_grain

MIN_FALL = 0.02  # of the peak; the noise test below is what makes a fall news
MIN_SCALES = 4.0  # the fall, in robust standard deviations of the period-to-period changes
MAX_FALLS = 10
SEASON_ALPHA = 0.01
MIN_DAYS = 730  # within a year or two, a fall is as likely the season's (winter temperatures)


@dataclass(frozen=True)
class Fall:
    series: Series
    grain: str
    peak: tuple[dt.date, float]
    trough: tuple[dt.date, float]
    latest: tuple[dt.date, float]
    first: dt.date
    noise: float  # robust scale of the changes between periods
    beaten: tuple[dt.date, float] | None = None  # the first period above the peak since

    @property
    def depth(self) -> float:
        return 1 - self.trough[1] / self.peak[1]


def find_falls(timeline: Timeline, limits: Thresholds) -> list[Insight]:
    """The largest falls from a peak of the snapshot series (none for events)."""
    if not timeline.snapshot or (timeline.last - timeline.first).days < MIN_DAYS:
        return []
    grain = trend_grain(timeline)
    falls = [f for s in timeline.series for f in _falls(s, timeline, grain)]
    falls.sort(
        key=lambda f: (f.series.segment is not None, not f.series.measure.is_total, -f.depth)
    )
    return [_insight(f, timeline) for f in falls[:MAX_FALLS]]


def _falls(series: Series, timeline: Timeline, grain: str) -> list[Fall]:
    """The deepest fall of a series, and the fall from its all-time high when that record
    came after the deepest fall's peak."""
    if not series.measure.ratio_scale or series.measure.is_row_count:
        return []
    points = rebucket(series, timeline, grain)
    if len(points) < 8 or min(v for _, v in points) <= 0:
        return []
    best: tuple[int, int] | None = None
    top = 0
    for i, (_, value) in enumerate(points):
        if value > points[top][1]:
            top = i
        if best is None or 1 - value / points[top][1] > 1 - points[best[1]][1] / points[best[0]][1]:
            best = (top, i)
    if best is None:
        return []
    found = [_fall(series, timeline, grain, points, *best)]
    record = max(range(len(points)), key=lambda i: points[i][1])
    if record > best[0] and record < len(points) - 1:
        low = min(range(record + 1, len(points)), key=lambda i: points[i][1])
        found.append(_fall(series, timeline, grain, points, record, low))
    return [f for f in found if f is not None]


def _fall(
    series: Series,
    timeline: Timeline,
    grain: str,
    points: list[tuple[dt.date, float]],
    peak: int,
    trough: int,
) -> Fall | None:
    """The fall from points[peak] to points[trough], if it is news: deep beyond the noise,
    not the whole series' trend, not the season's."""
    changes = [b - a for (_, a), (_, b) in itertools.pairwise(points)]
    noise = robust_scale(changes)
    drop = points[peak][1] - points[trough][1]
    if drop < MIN_FALL * points[peak][1] or (noise > 0 and drop < MIN_SCALES * noise):
        return None
    if peak == 0 and trough == len(points) - 1:
        return None  # a fall from start to end is the trend's to report
    if seasonal_repeat(points, peak, trough) or _within_season(
        series, timeline, grain, drop / points[peak][1]
    ):
        return None  # the season's dip, every year alike
    beaten = next((p for p in points[trough + 1 :] if p[1] > points[peak][1]), None)
    return Fall(
        series, grain, points[peak], points[trough], points[-1], points[0][0], noise, beaten
    )


def _within_season(series: Series, timeline: Timeline, grain: str, depth: float) -> bool:
    """True when the series has a clear season (two cycles at least, far beyond chance)
    whose swing from low to high is at least half the fall: from a seasonal high to a
    seasonal low in a later year, most of the fall is the season's."""
    if grain not in CYCLE or cycles(timeline, grain) < 2:
        return False
    season = detrended_season(series, timeline, grain)
    if season is None or season.p_value >= SEASON_ALPHA or not season.ratio:
        return False
    swing = season.index[season.peak] - season.index[season.trough]
    return swing >= 0.5 * depth


def seasonal_repeat(points: list[tuple[dt.date, float]], peak: int, trough: int) -> bool:
    """True when a fall within a year recurs between the same calendar positions, at least
    half as deep, in most of the other years that can be compared."""
    (start, high), (end, low) = points[peak], points[trough]
    if (end - start).days >= 365 or high <= 0:
        return False
    depth = 1 - low / high
    levels = dict(points)
    falls = []
    for years in range(-(start.year - points[0][0].year), points[-1][0].year - start.year + 1):
        if years == 0:
            continue
        a, b = _shifted(start, years), _shifted(end, years)
        if a in levels and b in levels and levels[a] > 0:
            falls.append(1 - levels[b] / levels[a])
    repeated = [f for f in falls if f >= depth / 2]
    return len(falls) >= 2 and 2 * len(repeated) >= len(falls)


def _shifted(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _insight(f: Fall, timeline: Timeline) -> Insight:
    figures = fig.Figures()
    series = f.series
    m = series.measure
    aggregation = "mean" if m.aggregation is Aggregation.MEAN else "sum"
    segment = [fig.equals(series.segment, series.value)] if series.segment else []

    def level(at: dt.date) -> fig.Recipe:
        inside = fig.within(timeline.time, at, next_period(at, f.grain))
        return fig.aggregate(m, aggregation, [*segment, inside])

    def when(at: dt.date) -> str:
        return figures.period(timeline.time, f.grain, at)

    what = m.quantity_label.capitalize()
    where = ""
    if series.segment is not None:
        shown = figures.segment(series.segment, series.value)
        where = f" for {shown if shown != series.value else f'{series.segment.label} {shown}'}"
    fell = figures.percent(
        f.depth,
        {"kind": "change", "from": level(f.peak[0]), "to": level(f.trough[0]), "absolute": True},
    )
    summary = (
        f"{what}{where} fell {fell} from its peak of {figures.number(f.peak[1], level(f.peak[0]))} "
        f"in {when(f.peak[0])} to {figures.number(f.trough[1], level(f.trough[0]))} in "
        f"{when(f.trough[0])}"
    )
    recovered = f.beaten is not None
    if f.beaten is not None:
        summary += (
            f", and beat that peak again in {when(f.beaten[0])} "
            f"({figures.number(f.beaten[1], level(f.beaten[0]))})"
        )
    elif f.latest[0] != f.trough[0]:
        back = figures.percent(
            f.latest[1] / f.trough[1] - 1,
            fig.change(level(f.trough[0]), level(f.latest[0])),
            signed=True,
        )
        now = figures.number(f.latest[1], level(f.latest[0]))
        state = "still below its old peak"
        summary += f", and stood at {now} in {when(f.latest[0])} ({back} on the low, {state})"
    details = {
        "measure": "rows" if m.is_row_count else m.name,
        "aggregation": aggregation,
        "segment_column": series.segment.name if series.segment else None,
        "segment": series.value,
        "grain": f.grain,
        "peak": f.peak[0].isoformat(),
        "trough": f.trough[0].isoformat(),
        "latest": f.latest[0].isoformat(),
        "depth": rounded(f.depth),
        "recovered": recovered,
        "beaten": f.beaten[0].isoformat() if f.beaten else None,
        "figures": figures.entries,
    }
    terms = m.terms | {"decline", "drop", "fall", "peak", "recovery", "recession", "crisis"}
    if series.segment is not None:
        terms |= series.segment.terms | words(str(series.value))
    return Insight(
        insight_type="drawdown",
        title=f"{what}{where} fell {fell} from its {when(f.peak[0])} peak to {when(f.trough[0])}",
        summary=summary + ".",
        details=details,
        confidence=sample_factor((f.peak[1] - f.trough[1]) / f.noise, 4) if f.noise else 0.9,
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + 2 * f.depth) * m.importance,
    )
