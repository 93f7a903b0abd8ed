"""Anomalies: days (or weeks) far from the level expected for them.

The expected level of a day is the median of the same weekday in the four weeks before and
after it (so a quiet Sunday is compared with Sundays). Residuals are taken on a square-root
scale, which makes counts and sums of amounts roughly normal, and scaled by a robust
spread that one spike cannot inflate (stats.robust_scale). A point is flagged when its z
passes a Bonferroni threshold over every point tested (never below `min_anomaly_z`) and it
is at least `min_anomaly_effect` away from the expected level. Consecutive flagged points
form one period. An event seen overall and in segments is named after the segment that
moved far more than the total, or reported as company-wide.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import median

from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Thresholds,
    number,
    percent,
    rounded,
    words,
)
from runner.insights.series import Series, Timeline
from runner.insights.stats import normal_p, normal_threshold, robust_scale, sample_factor

MIN_NEIGHBOURS = 4
MIN_ROWS_PER_PERIOD = 5  # sparser series are too lumpy for a normal-based threshold
LEAD_FACTOR = 1.5  # a segment must move 1.5x as much as the total to be named
DRIVER_SHARE = 0.6  # a segment that holds this share of an overall excess is named
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


def _lags(timeline: Timeline) -> list[int]:
    """Day offsets of the neighbours that set a period's expected level."""
    span = (timeline.last - timeline.first).days
    if timeline.grain == "day" and span >= 35:
        return [7 * k for k in (-4, -3, -2, -1, 1, 2, 3, 4)]  # same weekday
    step = 7 if timeline.grain == "week" else 1
    return [step * k for k in (-3, -2, -1, 1, 2, 3)]


def score(series: Series, timeline: Timeline) -> list[Point]:
    """Every period of a series with its expected level and robust z-score."""
    if sum(series.counts.values()) < MIN_ROWS_PER_PERIOD * len(timeline.periods):
        return []
    raw: list[tuple[dt.date, float, float]] = []
    for period in timeline.periods:
        value, expected = series.level(period), expected_level(series, period, timeline)
        if value is not None and expected is not None:
            raw.append((period, value, expected))
    # Counts and sums of positive amounts are skewed (Poisson, compound Poisson); on
    # Anscombe's square-root scale their noise is close to normal, as the threshold assumes.
    positive = all(v >= 0 and e >= 0 for _, v, e in raw)
    stabilise = _anscombe if positive else float
    residuals = [stabilise(v) - stabilise(e) for _, v, e in raw]
    scale = robust_scale(residuals)
    if scale <= 0:
        return []
    return [Point(p, v, e, r / scale) for (p, v, e), r in zip(raw, residuals, strict=True)]


def expected_level(series: Series, period: dt.date, timeline: Timeline) -> float | None:
    """The median of the series at the neighbouring periods (None with too few of them)."""
    around = [
        level
        for lag in _lags(timeline)
        if (day := period + dt.timedelta(days=lag)) in timeline.present
        and (level := series.level(day)) is not None
    ]
    return median(around) if len(around) >= MIN_NEIGHBOURS else None


def _anscombe(x: float) -> float:
    return math.sqrt(x + 0.375)


def find_anomalies(timeline: Timeline, limits: Thresholds, measures: list[Column]) -> list[Insight]:
    """Anomaly insights for these measures: one per event, named by period and segment."""
    watched = [s for s in timeline.series if any(s.measure is m for m in measures)]
    scored = [(s, score(s, timeline)) for s in watched]
    tests = sum(len(points) for _, points in scored)
    threshold = max(limits.min_anomaly_z, normal_threshold(limits.alpha, tests))
    flags = [f for s, points in scored for f in _runs(s, points, threshold, limits, timeline)]
    events = sorted(_events(flags), key=lambda e: -max(abs(f.z) for f in e))
    found = [_insight(event, threshold, tests, timeline) for event in events[:MAX_EVENTS]]
    for insight in found:
        insight.details["events_found"] = len(events)
    return found


def _runs(
    series: Series, points: list[Point], threshold: float, limits: Thresholds, timeline: Timeline
) -> list[Flag]:
    """Flagged points of one series, joined into runs of adjacent periods with one sign."""
    order = {p: i for i, p in enumerate(timeline.periods)}
    runs: list[list[Point]] = []
    for point in points:
        off = abs(point.value - point.expected)
        if abs(point.z) < threshold or off < limits.min_anomaly_effect * abs(point.expected):
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
    return [Flag(series, tuple(run), len(points)) for run in runs]


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


def _driver(flag: Flag, timeline: Timeline) -> Driver | None:
    """The segment value that accounts for most of an overall event's excess, if one does."""
    excess = sum(p.value - p.expected for p in flag.points)
    best: Driver | None = None
    for series in timeline.series:
        if series.segment is None or series.measure is not flag.series.measure:
            continue
        part = 0.0
        for point in flag.points:
            level, expected = (
                series.level(point.period),
                expected_level(series, point.period, timeline),
            )
            part += (level or 0.0) - (expected or 0.0)
        if best is None or part / excess > best.share:
            best = Driver(series.segment, str(series.value), part / excess)
    return best if best is not None and best.share >= DRIVER_SHARE else None


def _insight(event: list[Flag], threshold: float, tests: int, timeline: Timeline) -> Insight:
    flags = _lead(event)
    first = max(flags, key=lambda f: abs(f.z))
    series = first.series
    start, end = min(f.start for f in flags), max(f.end for f in flags)
    when = start.isoformat() if start == end else f"{start.isoformat()} to {end.isoformat()}"
    kind = "Spike" if first.z > 0 else "Drop"
    additive = series.measure.aggregation is Aggregation.SUM
    driver = _driver(first, timeline) if series.segment is None and additive else None
    segment = driver.segment if driver else series.segment
    value = driver.value if driver else series.value
    where = "" if series.segment is None else f" for {series.segment.label} {series.value}"
    ratio = _ratio(first)
    what = series.measure.quantity_label
    because = ""
    if driver:
        because = (
            f"; {driver.segment.label} {driver.value} accounts for {percent(driver.share)} of it"
        )
    summary = (
        f"On {when}, {what}{where} was {number(sum(p.value for p in first.points))} against "
        f"about {number(sum(p.expected for p in first.points))} expected ({ratio} the usual "
        f"level){because}. Worth checking for a promotion, an outage or a data error."
    )
    cause = f", driven by {driver.segment.label} {driver.value}" if driver else ""
    details = {
        "date": start.isoformat(),
        "end": end.isoformat(),
        "direction": "spike" if first.z > 0 else "drop",
        "segment_column": segment.name if segment else None,
        "segment": value,
        "driver_share": rounded(min(driver.share, 1.0)) if driver else None,
        "measures": [_measure(f) for f in flags],
        "z_threshold": rounded(threshold, 2),
        "points_tested": tests,
        "also_flagged": sorted({f.series.scope for f in event} - {series.scope}),
    }
    p_value = min(1.0, tests * normal_p(first.z))
    terms = series.measure.terms | {"anomaly", kind.lower()}
    if segment is not None:
        terms |= segment.terms | words(str(value))
    return Insight(
        insight_type="anomaly",
        title=f"{kind} in {what}{where} on {when}{cause} ({ratio} the usual level)",
        summary=summary,
        details=details,
        confidence=(1.0 - p_value) * sample_factor(first.tested, 30),
        terms=frozenset(terms),
        weight=min(1.0, 0.6 + abs(first.rel) / 4),
    )


def _ratio(flag: Flag) -> str:
    expected = sum(p.expected for p in flag.points)
    if expected <= 0:
        return "far from"
    return f"{sum(p.value for p in flag.points) / expected:.1f}x"


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
