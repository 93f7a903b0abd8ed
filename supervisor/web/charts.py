"""The geometry of the dashboard's charts: plain rectangles and labels in a fixed viewBox,
drawn as inline SVG by the templates (which escape every label). No JavaScript."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervisor.durations import human

WIDTH = 1000.0
HEIGHT = 140.0
LEFT = 40.0  # room for the y-axis figures
ROW = 26.0  # one job type of the duration chart


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    kind: str  # the CSS class: completed, failed, median, p95, a status, an outcome
    title: str  # the tooltip


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Line:
    """A polyline: a series, its fit, a baseline."""

    points: tuple[tuple[float, float], ...]
    kind: str  # the CSS class: series, fit, expected, axis
    title: str

    @property
    def path(self) -> str:
        """The `points` attribute of the SVG polyline."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass
class Chart:
    width: float
    height: float
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    empty: bool = False
    lines: list[Line] = field(default_factory=list)


def throughput(hours: Sequence[Mapping[str, Any]]) -> Chart:
    """Jobs ended per hour: completed with failed stacked on top, one bar an hour."""
    chart = Chart(WIDTH, HEIGHT + 20)
    top = max((h["completed"] + h["failed"] for h in hours), default=0)
    chart.empty = top == 0
    scale = HEIGHT / top if top else 0.0
    step = (WIDTH - LEFT) / max(len(hours), 1)
    for i, hour in enumerate(hours):
        x = LEFT + i * step + step * 0.1
        done, failed = hour["completed"], hour["failed"]
        stamp = _hour(hour["hour"])
        title = f"{stamp}: {done} completed, {failed} failed"
        chart.rects.append(Rect(x, HEIGHT - done * scale, step * 0.8, done * scale,
                                "completed", title))  # fmt: skip
        chart.rects.append(Rect(x, HEIGHT - (done + failed) * scale, step * 0.8, failed * scale,
                                "failed", title))  # fmt: skip
        if i % 6 == 0:
            chart.labels.append(Label(x + step * 0.4, HEIGHT + 15, stamp))
    chart.labels += [Label(LEFT - 6, 10, str(top), "end"), Label(LEFT - 6, HEIGHT, "0", "end")]
    return chart


def durations(rows: Sequence[Mapping[str, Any]]) -> Chart:
    """Median and 95th percentile of each job type's run time, on one scale."""
    name_width = 150.0
    chart = Chart(WIDTH, max(len(rows), 1) * ROW + 4, empty=not rows)
    longest = max((float(r["p95"] or 0) for r in rows), default=0.0)
    scale = (WIDTH - name_width - 130) / longest if longest else 0.0
    for i, row in enumerate(rows):
        y = i * ROW + 4
        median, p95 = float(row["median"] or 0), float(row["p95"] or 0)
        title = f"{row['job_type']}: median {human(median)}, p95 {human(p95)}, {row['jobs']} jobs"
        chart.rects.append(Rect(name_width, y, max(p95 * scale, 1), ROW - 8, "p95", title))
        chart.rects.append(Rect(name_width, y, max(median * scale, 1), ROW - 8, "median", title))
        chart.labels.append(Label(name_width - 8, y + ROW / 2, str(row["job_type"]), "end"))
        chart.labels.append(Label(name_width + max(p95 * scale, 1) + 8, y + ROW / 2,
                                  f"{human(median)} / {human(p95)}", "start"))  # fmt: skip
    return chart


def shares(counts: Mapping[str, int], height: float = 28.0) -> Chart:
    """One bar split by `counts` (jobs by status), each part as wide as its share."""
    total = sum(counts.values())
    chart = Chart(WIDTH, height, empty=total == 0)
    x = 0.0
    for kind, count in counts.items():
        if count:
            w = WIDTH * count / total
            chart.rects.append(Rect(x, 0, w, height, kind, f"{kind}: {count:,} jobs"))
            x += w
    return chart


def timeline(attempts: Sequence[Mapping[str, Any]], height: float = 36.0) -> Chart:
    """Each attempt that ran as a bar from its start for its seconds, on one time axis."""
    spans = [(a, _start(a)) for a in attempts]
    ran = [(a, s) for a, s in spans if s is not None and a.get("seconds") is not None]
    chart = Chart(WIDTH, height + 18, empty=not ran)
    if not ran:
        return chart
    first = min(s for _, s in ran)
    last = max(s + float(a["seconds"]) for a, s in ran)
    scale = WIDTH / max(last - first, 1e-3)
    for attempt, start in ran:
        x = (start - first) * scale
        w = max(float(attempt["seconds"]) * scale, 3.0)
        title = f"attempt {attempt.get('attempt')}: {attempt.get('outcome')}, " + (
            f"{human(float(attempt['seconds']))} on {attempt.get('host')} pid {attempt.get('pid')}"
        )
        chart.rects.append(
            Rect(min(x, WIDTH - w), 0, w, height, str(attempt.get("outcome")), title)
        )
    chart.labels += [Label(0, height + 14, "0s", "start"),
                     Label(WIDTH, height + 14, human(last - first), "end")]  # fmt: skip
    return chart


def _hour(value: Any) -> str:
    return value.strftime("%H:00") if isinstance(value, datetime) else str(value)


def _start(attempt: Mapping[str, Any]) -> float | None:
    started = attempt.get("started")
    if not isinstance(started, str):
        return None
    try:
        return datetime.fromisoformat(started).timestamp()
    except ValueError:
        return None
