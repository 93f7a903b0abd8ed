"""Anomalies: days (or months, quarters) far from the level expected for them.

The expected level of a day is the median of the same weekday in the four weeks before and
after it (so a quiet Sunday is compared with Sundays); of a month or a quarter, the median
of the three before and after. Only periods where the series has rows count: a segment with
no rows on a day has no value that day, not a zero. Yearly data has too few periods.
Residuals are taken on a square-root scale, which makes counts and sums of amounts roughly
normal, and scaled by a robust spread that one spike cannot inflate (stats.robust_scale). A
point is flagged when its z passes a Bonferroni threshold over every point tested (never
below `min_anomaly_z`) and it is at least `min_anomaly_effect` away from the expected
level. Consecutive flagged points form one period. An event seen overall and in segments is
named after the segment that moved far more than the total, or reported as company-wide.

A series with a season (monthly or quarterly data in which the season code finds one on the
detrended series, detrended.py) is judged instead against its trend and season: a recurring
December peak is expected, and a neighbour median would call it a spike every year while it
hides a spike that falls next to a seasonal peak. The expected level of a period is then its
trend times its month's seasonal index (plus the index, for a difference season), and the
residual, log(value / expected) or value - expected, is scaled by the robust spread of all
the residuals; the same threshold and material floor apply. Periods where the trend is not
known (the ends the moving average does not reach) are not tested in such a series.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import median

from runner.insights import figures as fig
from runner.insights.detrended import CYCLE, Season, detrended_season, season_part
from runner.insights.model import Aggregation, Column, Insight, Thresholds, rounded, words
from runner.insights.seasonality import MIN_ETA2
from runner.insights.series import Series, Timeline, next_period, shift
from runner.insights.stats import normal_p, normal_threshold, robust_scale, sample_factor

MIN_NEIGHBOURS = 4
MIN_ROWS_PER_PERIOD = 5  # sparser series are too lumpy for a normal-based threshold
LEAD_FACTOR = 1.5  # a segment must move 1.5x as much as the total to be named
DRIVER_SHARE = 0.6  # a segment that holds this share of an overall excess is named
MATERIAL_SPREADS = 5  # a recorded series' material distance, in its usual distances
MAX_EVENTS = 10  # the strongest; details.events_found tells how many there were


@dataclass(frozen=True)
class Point:
    period: dt.date
    value: float
    expected: float
    z: float


@dataclass(frozen=True)
class Flag:
    """A run of consecutive anomalous periods in one series."""

    series: Series
    points: tuple[Point, ...]
    tested: int  # points tested in the series
    season: Season | None = None  # the season the expected levels come from, if any

    @property
    def start(self) -> dt.date:
        return self.points[0].period

    @property
    def end(self) -> dt.date:
        return self.points[-1].period

    @property
    def rel(self) -> float:
        """Relative distance from the expected level, summed over the run."""
        expected = sum(p.expected for p in self.points)
        excess = sum(p.value for p in self.points) - expected
        return excess / abs(expected) if expected else float("inf") * (1 if excess > 0 else -1)

    @property
    def z(self) -> float:
        return max((p.z for p in self.points), key=abs)


@dataclass(frozen=True)
class Driver:
    """The segment value behind most of an overall event."""

    segment: Column
    value: str
    share: float  # of the overall excess


def lags(timeline: Timeline) -> list[int]:
    """Offsets, in base periods, of the neighbours that set a period's expected level."""
    span = (timeline.last - timeline.first).days
    if timeline.grain == "day" and span >= 35:
        return [7 * k for k in (-4, -3, -2, -1, 1, 2, 3, 4)]  # same weekday
    return [-3, -2, -1, 1, 2, 3]


def score(series: Series, timeline: Timeline, season: Season | None = None) -> list[Point]:
    """Every period of a series with its expected level and robust z-score: from its trend
    and season when it has one, else from its neighbours."""
    # Few rows a period make a lumpy sum of events; one row a period is the period's own
    # reading (births a day, deaths a month), as steady as the thing measured.
    recorded = _recorded(series, timeline)
    sparse = sum(series.counts.values()) < MIN_ROWS_PER_PERIOD * len(timeline.periods)
    if timeline.grain == "year" or (sparse and not timeline.snapshot and not recorded):
        return []
    if timeline.snapshot and series.measure.is_row_count:
        return []  # how many states were recorded says nothing about them
    raw: list[tuple[dt.date, float, float]] = []
    offsets = lags(timeline)
    levels = {p: v for p in timeline.periods if (v := series.level(p)) is not None}
    if sum(1 for v in levels.values() if v == 0) * 2 >= len(levels):
        return []  # mostly zero (rain, returns): a median of zero makes any value a spike
    if season is not None:
        return _against_season(levels, season)
    for period, value in levels.items():
        near = timeline.neighbours(period, offsets)
        around = [level for at in near if (level := levels.get(at)) is not None]
        if len(around) >= MIN_NEIGHBOURS:
            raw.append((period, value, median(around)))
    # Counts and sums of positive amounts are skewed (Poisson, compound Poisson); on
    # Anscombe's square-root scale their noise is close to normal, as the threshold assumes.
    positive = all(v >= 0 and e >= 0 for _, v, e in raw)
    stabilise = _anscombe if positive else float
    residuals = [stabilise(v) - stabilise(e) for _, v, e in raw]
    scale = robust_scale(residuals)
    if scale <= 0:
        return []
    return [Point(p, v, e, r / scale) for (p, v, e), r in zip(raw, residuals, strict=True)]


def seasonal(series: Series, timeline: Timeline, limits: Thresholds) -> Season | None:
    """The season of a monthly or quarterly series, when the season code finds a clear one
    on its detrended levels (at the alpha and the share of variation seasonality.py asks)."""
    if timeline.grain not in CYCLE or (timeline.snapshot and series.measure.is_row_count):
        return None
    season = detrended_season(series, timeline, timeline.grain)
    if season is None or season.p_value >= limits.alpha or season.eta2 < MIN_ETA2:
        return None
    return season


def _against_season(levels: dict[dt.date, float], season: Season) -> list[Point]:
    """Each period with a trend, against trend x seasonal index (or trend + index); the
    residual on the season's own scale (a log ratio, or a difference) over its robust spread."""
    raw = [
        (period, value, expected)
        for period, value in levels.items()
        if (expected := season.expected(period)) is not None
    ]
    if season.ratio:
        if any(v <= 0 or e <= 0 for _, v, e in raw):
            return []
        residuals = [math.log(v / e) for _, v, e in raw]
    else:
        residuals = [v - e for _, v, e in raw]
    scale = robust_scale(residuals)
    if scale <= 0:
        return []
    return [Point(p, v, e, r / scale) for (p, v, e), r in zip(raw, residuals, strict=True)]


def expected_level(series: Series, period: dt.date, grain: str, offsets: list[int]) -> float | None:
    """The median of the series at the neighbouring periods (None with too few of them)."""
    around = [
        level for lag in offsets if (level := series.level(shift(period, grain, lag))) is not None
    ]
    return median(around) if len(around) >= MIN_NEIGHBOURS else None


def _recorded(series: Series, timeline: Timeline) -> bool:
    """One row a period: the period's own reading of a measure, not a sum of events. Not of
    quarters: three neighbours each side span eighteen months, too long for a level the trend
    does not move."""
    one = not series.measure.is_row_count and set(series.counts.values()) <= {0, 1}
    return one and timeline.grain in ("subday", "hour", "day", "week", "month")


def _anscombe(x: float) -> float:
    return math.sqrt(x + 0.375)


def find_anomalies(timeline: Timeline, limits: Thresholds, measures: list[Column]) -> list[Insight]:
    """Anomaly insights for these measures: one per event, named by period and segment."""
    watched = [s for s in timeline.series if any(s.measure is m for m in measures)]
    seasons = [(s, seasonal(s, timeline, limits)) for s in watched]
    scored = [(s, season, score(s, timeline, season)) for s, season in seasons]
    tests = sum(len(points) for _, _, points in scored)
    threshold = max(limits.min_anomaly_z, normal_threshold(limits.alpha, tests))
    flags = [
        f
        for s, season, points in scored
        for f in _runs(s, points, threshold, limits, timeline, season)
    ]
    # Events seen in the whole series come first: a segment's own blips follow.
    events = sorted(
        _events(flags),
        key=lambda e: (all(f.series.segment for f in e), -max(abs(f.z) for f in e)),
    )
    found = [_insight(event, threshold, tests, timeline) for event in events[:MAX_EVENTS]]
    for insight in found:
        insight.details["events_found"] = len(events)
    return found


def _runs(
    series: Series,
    points: list[Point],
    threshold: float,
    limits: Thresholds,
    timeline: Timeline,
    season: Season | None = None,
) -> list[Flag]:
    """Flagged points of one series, joined into runs of adjacent periods with one sign."""
    order = {p: i for i, p in enumerate(timeline.periods)}
    runs: list[list[Point]] = []
    floor = limits.min_anomaly_effect
    distances = [abs(p.value - p.expected) / abs(p.expected) for p in points if p.expected]
    if _recorded(series, timeline) and distances:
        # A steady reading (births a day) is far off well before 25%: MATERIAL_SPREADS of
        # its own usual distance from the expected level, up to the usual floor.
        floor = min(floor, MATERIAL_SPREADS * median(distances))
    for point in points:
        off = abs(point.value - point.expected)
        if abs(point.z) < threshold or off < floor * abs(point.expected):
            continue
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and order[point.period] == order[last.period] + 1
            and (last.z > 0) == (point.z > 0)
        ):
            runs[-1].append(point)
        else:
            runs.append([point])
    return [Flag(series, tuple(run), len(points), season) for run in runs]


def _events(flags: list[Flag]) -> list[list[Flag]]:
    """Flags grouped by overlapping periods and the same direction."""
    events: list[list[Flag]] = []
    for flag in sorted(flags, key=lambda f: (f.start, f.z < 0)):
        for event in events:
            same_sign = (event[0].z > 0) == (flag.z > 0)
            if same_sign and flag.start <= max(f.end for f in event) and flag.end >= event[0].start:
                event.append(flag)
                break
        else:
            events.append([flag])
    return events


def _lead(event: list[Flag]) -> list[Flag]:
    """The flags of the scope that explains the event: one segment, or the whole business."""
    segmental = [f for f in event if f.series.segment is not None]
    overall = [f for f in event if f.series.segment is None]
    lead = max(segmental, key=lambda f: abs(f.rel), default=None)
    if lead is None:
        return overall
    total = next((f for f in overall if f.series.measure is lead.series.measure), None)
    total = total or max(overall, key=lambda f: abs(f.rel), default=None)
    if total is not None and abs(lead.rel) < LEAD_FACTOR * abs(total.rel):
        return overall
    return [
        f
        for f in event
        if f.series.segment is lead.series.segment and f.series.value == lead.series.value
    ]


def _driver(point: Point, flag: Flag, timeline: Timeline) -> Driver | None:
    """The segment value that accounts for most of an overall event's excess, if one does."""
    excess = point.value - point.expected
    offsets = lags(timeline)
    best: Driver | None = None
    for series in timeline.series:
        if series.segment is None or series.measure is not flag.series.measure:
            continue
        level = series.level(point.period)
        expected = expected_level(series, point.period, timeline.grain, offsets)
        if level is None or expected is None:
            continue
        if best is None or (level - expected) / excess > best.share:
            best = Driver(series.segment, str(series.value), (level - expected) / excess)
    return best if best is not None and best.share >= DRIVER_SHARE else None


@dataclass(frozen=True)
class _Recipes:
    """How the value, the expected level and their comparison at one period are computed."""

    value: fig.Recipe
    expected: fig.Recipe

    @classmethod
    def of(
        cls, series: Series, period: dt.date, timeline: Timeline, season: Season | None = None
    ) -> _Recipes:
        segment = [fig.equals(series.segment, series.value)] if series.segment else []
        window = [fig.within(timeline.time, timeline.first, timeline.end)]
        measure, aggregation = series.measure, series.measure.aggregation.value
        inside = fig.within(timeline.time, period, next_period(period, timeline.grain))
        value = fig.aggregate(measure, aggregation, [*segment, inside])
        if season is not None:
            base = fig.aggregate(measure, aggregation, segment)
            return cls(value, _seasonal_recipe(base, season, period, timeline))
        expected = fig.aggregate(measure, aggregation, [*segment, *window]) | {
            "kind": "baseline",
            "time": timeline.time.name,
            "grain": timeline.grain,
            "period": period.isoformat(),
            "lags": lags(timeline),
            "min_neighbours": MIN_NEIGHBOURS,
        }
        return cls(value, expected)


def _seasonal_recipe(
    base: fig.Recipe, season: Season, period: dt.date, timeline: Timeline
) -> fig.Recipe:
    """Trend x seasonal index at a period, as the evaluation re-derives it (seasonal_expected)."""
    return base | {
        "kind": "seasonal_expected",
        "time": timeline.time.name,
        "grain": season.part,
        "from": season.first.isoformat(),
        "before": next_period(season.last, season.part).isoformat(),
        "part": season.part,
        "period": period.isoformat(),
        "model": "ratio" if season.ratio else "difference",
        "detrend": season.method,
    }


def _insight(event: list[Flag], threshold: float, tests: int, timeline: Timeline) -> Insight:
    flags = _lead(event)
    first = max(flags, key=lambda f: abs(f.z))
    peak = max(first.points, key=lambda p: abs(p.z))
    series = first.series
    figures = fig.Figures()
    start, end = min(f.start for f in flags), max(f.end for f in flags)
    kind = "Spike" if first.z > 0 else "Drop"
    additive = series.measure.aggregation is Aggregation.SUM or series.measure.is_row_count
    # A driver's share is read against the neighbour medians of the segments: not for a
    # total judged against its season.
    plain = first.season is None and series.segment is None
    driver = _driver(peak, first, timeline) if plain and additive else None
    segment = driver.segment if driver else series.segment
    value = driver.value if driver else series.value
    where = (
        "" if series.segment is None else f" for {_scope(series.segment, series.value, figures)}"
    )
    what = series.measure.quantity_label
    recipes = _Recipes.of(series, peak.period, timeline, first.season)
    on = figures.period(timeline.time, timeline.grain, peak.period)
    when = on
    if start != end:
        span = (
            f"{figures.period(timeline.time, timeline.grain, start)} to "
            f"{figures.period(timeline.time, timeline.grain, end)}"
        )
        when = f"{on} (within {span})"
    averaged = "" if additive else " on average"
    shown = figures.number(peak.value, recipes.value)
    expected = figures.number(peak.expected, recipes.expected)
    versus = _versus(peak, series, figures, recipes, first.season is not None)
    because = ""
    if driver:
        seg = _Recipes.of(_segment_series(timeline, first, driver), peak.period, timeline)
        share = fig.ratio(
            fig.difference(seg.value, seg.expected),
            fig.difference(recipes.value, recipes.expected),
        )
        shown = figures.percent(driver.share, share)
        scope = _scope(driver.segment, driver.value, figures)
        # Above 100 %, the other segments moved the other way: no share "accounts for" more
        # than the whole.
        because = (
            f"; {scope} accounts for {shown} of the gap"
            if driver.share <= 1
            else f"; {scope} alone moved by more than the whole gap ({shown} of it), the rest "
            "the other way"
        )
    summary = (
        f"{_preposition(timeline.grain).capitalize()} {when}, {what}{where} was "
        f"{shown}{averaged} against about {expected} expected "
        f"{_basis(timeline, first.season, peak.period)} ({versus}){because}. "
        "Worth checking what happened then, or whether the data is complete."
    )
    cause = f", driven by {_scope(driver.segment, driver.value, figures)}" if driver else ""
    details = {
        "date": start.isoformat(),
        "end": end.isoformat(),
        "peak": peak.period.isoformat(),
        "grain": timeline.grain,
        "direction": "spike" if first.z > 0 else "drop",
        "measure": series.measure.name if not series.measure.is_row_count else "rows",
        "segment_column": segment.name if segment else None,
        "segment": value,
        "driver_share": rounded(min(driver.share, 1.0)) if driver else None,
        "measures": [_measure(f) for f in flags],
        "expected_from": "trend_and_season" if first.season else "neighbours",
        "z_threshold": rounded(threshold, 2),
        "points_tested": tests,
        "also_flagged": sorted({f.series.scope for f in event} - {series.scope}),
        "figures": figures.entries,
    }
    p_value = min(1.0, tests * normal_p(first.z))
    terms = series.measure.terms | {"anomaly", kind.lower()}
    if segment is not None:
        terms |= segment.terms | words(str(value))
    return Insight(
        insight_type="anomaly",
        title=f"{kind} in {what}{where} {_preposition(timeline.grain)} {on}{cause} ({versus})",
        summary=summary,
        details=details,
        confidence=(1.0 - p_value) * sample_factor(first.tested, 30),
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + abs(first.rel) / 4),
    )


def _preposition(grain: str) -> str:
    return "on" if grain == "day" else "in"


def _scope(segment: Column, value: object, figures: fig.Figures) -> str:
    """'region North', '4 cylinders'."""
    shown = figures.segment(segment, value)
    return shown if shown != str(value) else f"{segment.label} {value}"


def _basis(timeline: Timeline, season: Season | None, period: dt.date) -> str:
    """What the expected level is: 'for a January on the trend', or 'from the three ...'."""
    if season is None:
        return f"from {_neighbours(timeline)}"
    part = season_part(period, season.part)
    name = fig.MONTHS[part - 1] if season.part == "month" else f"Q{part}"
    article = "an" if name[0] in "AEIOU" else "a"
    return f"for {article} {name} on the trend and season"


def _neighbours(timeline: Timeline) -> str:
    if timeline.grain == "day" and lags(timeline)[0] == -28:
        return "the same weekday in the four weeks around it"
    return f"the three {timeline.grain}s either side"


def _segment_series(timeline: Timeline, flag: Flag, driver: Driver) -> Series:
    return next(
        s
        for s in timeline.series
        if s.segment is driver.segment
        and str(s.value) == driver.value
        and s.measure is flag.series.measure
    )


def _versus(
    point: Point, series: Series, figures: fig.Figures, recipes: _Recipes, seasonal: bool
) -> str:
    """'6.1x the usual level' for positive levels, else the gap: '+63.8 on the usual level'
    ('the expected level' when it comes from the trend and season)."""
    level = "the expected level" if seasonal else "the usual level"
    if series.measure.ratio_scale and point.expected > 0:
        times = figures.times(
            point.value / point.expected, fig.ratio(recipes.value, recipes.expected)
        )
        return f"{times} {level}"
    gap = figures.add(
        f"{point.value - point.expected:+,.1f}",
        rounded(point.value - point.expected),
        fig.difference(recipes.value, recipes.expected),
    )
    return f"{gap} on {level}"


def _measure(flag: Flag) -> dict[str, object]:
    return {
        "measure": flag.series.measure.name,
        "value": rounded(sum(p.value for p in flag.points)),
        "expected": rounded(sum(p.expected for p in flag.points)),
        "change_pct": rounded(flag.rel * 100, 2) if abs(flag.rel) != float("inf") else None,
        "z": rounded(flag.z, 2),
        "points": [
            [p.period.isoformat(), rounded(p.value), rounded(p.expected)] for p in flag.points
        ],
    }
