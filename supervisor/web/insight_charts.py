"""The small chart of an insight, drawn from the figures its `details` carry: a trend's series
and its fit, a season's profile, segments' levels with their sizes, an anomaly against its
usual level, a correlation on its -1..+1 scale.

`details` come from handlers as JSON: a kind this module does not know, or details without
the data a chart needs, draw no chart (None) and the page shows the figures alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supervisor.web.charts import Chart, Label, Line, Rect
from supervisor.web.present import figure, label

WIDTH = 640.0
LEFT = 64.0  # room for the y-axis figures
RIGHT = WIDTH - 12.0
TOP = 10.0
BOTTOM = 130.0  # the plot's floor; period labels below it
HEIGHT = BOTTOM + 26.0
ROW = 24.0  # one bar of a horizontal bar chart
NAMES = 150.0  # room for the names of horizontal bars
MAX_BARS = 12  # segments shown; the rest are counted in the title
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO: Monday is 1


@dataclass(frozen=True)
class Drawn:
    chart: Chart
    title: str  # what the chart shows, for its <title> and aria-label
    note: str = ""  # how to read it: which mark is which


def draw(kind: str, details: Any) -> Drawn | None:
    """The chart of an insight of `kind`, or None when there is none to draw."""
    drawer = DRAWERS.get(kind)
    if drawer is None or not isinstance(details, Mapping):
        return None
    try:
        return drawer(details)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
        return None  # details of a shape not foreseen: the figures table still shows them


# -- trend -----------------------------------------------------------------------------------


def trend(d: Mapping[str, Any]) -> Drawn | None:
    """The series per period as a line, and the fitted line from its start to its end."""
    series = [(str(p[0]), v) for p in _list(d.get("values")) if isinstance(p, list | tuple)
              and len(p) >= 2 and (v := _num(p[1])) is not None]  # fmt: skip
    start, end = _num(d.get("fitted_start")), _num(d.get("fitted_end"))
    what = f"{_measure(d)}{_scope(d)}"
    if len(series) < 2:
        if start is None or end is None:
            return None
        bars = [("fitted start", start, "bar", ""), ("fitted end", end, "high", "")]
        return Drawn(_columns(bars), f"{what}: fitted from {figure(start)} to {figure(end)}")
    fit = _fit(start, end, len(series), str(d.get("model") or "linear"))
    grain = str(d.get("grain") or "period")
    windows = _windows(d, len(series), grain)
    scale = _Scale.of([v for _, v in series] + fit + [w[2] for w in windows])
    step = (RIGHT - LEFT) / (len(series) - 1)
    chart = Chart(WIDTH, HEIGHT)
    first, last = series[0], series[-1]
    chart.lines.append(Line(tuple((LEFT + i * step, scale.y(v)) for i, (_, v) in
                                  enumerate(series)), "series",
                            f"{what} per {grain}: {figure(first[1])} in {first[0]}, "
                            f"{figure(last[1])} in {last[0]}"))  # fmt: skip
    if fit:
        chart.lines.append(Line(tuple((LEFT + i * step, scale.y(v)) for i, v in enumerate(fit)),
                                "fit", f"{d.get('model') or 'linear'} fit: {figure(start)} to "
                                f"{figure(end)}"))  # fmt: skip
    for low, high, level, title in windows:
        y = scale.y(level)
        chart.lines.append(Line(((LEFT + low * step, y), (LEFT + high * step, y)), "window", title))
    scale.label(chart)
    chart.labels += [Label(LEFT, BOTTOM + 16, first[0], "start"),
                     Label(RIGHT, BOTTOM + 16, last[0], "end")]  # fmt: skip
    title = f"{what} per {grain}, {first[0]} to {last[0]}" + (", with its fit" if fit else "")
    if windows:
        title += f", and its level in the first and last {d.get('window')} {grain}s"
    marks = "; dashed: the fitted trend" if fit else ""
    marks += "; bold: the level of each window compared" if windows else ""
    return Drawn(chart, title, f"line: the value per {grain}{marks}")


def _windows(d: Mapping[str, Any], n: int, grain: str) -> list[tuple[int, int, float, str]]:
    """The first and last `window` periods a growth compares (observed_from, observed_to):
    (first index, last index, the level per period, its tooltip); [] when not carried."""
    size, before, after = d.get("window"), _num(d.get("observed_from")), _num(d.get("observed_to"))
    if not isinstance(size, int) or isinstance(size, bool) or before is None or after is None:
        return []
    if not 1 <= size <= n // 2:
        return []
    # A total over the window for amounts and counts, an average for averaged measures.
    per = float(size) if d.get("aggregation") in ("sum", "rows", "count") else 1.0
    first = (0, size - 1, before / per, f"{figure(before)} in the first {size} {grain}s")
    return [first, (n - size, n - 1, after / per, f"{figure(after)} in the last {size} {grain}s")]


def _fit(start: float | None, end: float | None, n: int, model: str) -> list[float]:
    """The fitted values at each of n periods: a straight line, or a geometric one for an
    exponential model (straight on a log scale)."""
    if start is None or end is None:
        return []
    if model == "exponential" and start > 0 and end > 0:
        return [start * (end / start) ** (i / (n - 1)) for i in range(n)]
    return [start + (end - start) * i / (n - 1) for i in range(n)]


# -- seasonality -----------------------------------------------------------------------------


def seasonality(d: Mapping[str, Any]) -> Drawn | None:
    """One column per month, weekday, hour or quarter; the highest and lowest marked."""
    part = str(d.get("part") or "")
    levels = [(r.get("equals"), v) for r in _records(d.get("levels"))
              if (v := _num(r.get("value"))) is not None]  # fmt: skip
    if len(levels) < 2:
        return None
    names = [_part_name(part, key, [k for k, _ in levels]) for key, _ in levels]
    what = f"{_measure(d)} by {label(part) or 'period'}"
    bars = [(name, value, _mark(key, d), f"{name}: {figure(value)}")
            for name, (key, value) in zip(names, levels, strict=True)]  # fmt: skip
    return Drawn(_columns(bars), what, "darker: the highest; lighter: the lowest")


def _part_name(part: str, key: Any, keys: Sequence[Any]) -> str:
    """Jan, Mon (ISO numbering, when no key is 0), Q3, 18h; anything else as it is."""
    if isinstance(key, int) and not isinstance(key, bool):
        if part == "month" and 1 <= key <= 12:
            return MONTHS[key - 1]
        if part == "weekday" and 1 <= key <= 7 and 0 not in keys:
            return WEEKDAYS[key - 1]
        if part == "quarter":
            return f"Q{key}"
        if part == "hour":
            return f"{key}h"
    return str(key)


def _mark(key: Any, d: Mapping[str, Any]) -> str:
    return "high" if key == d.get("peak") else "low" if key == d.get("trough") else "bar"


# -- segments --------------------------------------------------------------------------------


def segments(d: Mapping[str, Any]) -> Drawn | None:
    """A bar per segment: its average (or total, or rows, as the insight compares them), with
    its number of rows and share beside it."""
    records = _records(d.get("segments"))
    basis = {"average": "average", "total": "total", "rows": "rows"}.get(str(d.get("basis")))
    key = basis or next((k for k in ("average", "total", "rows") if records and k in records[0]),
                        None)  # fmt: skip
    if key is None:
        return None
    bars = []
    for r in records:
        value = _num(r.get(key))
        if value is None:
            continue
        name = str(r.get("segment"))
        size = _size(r)
        kind = "high" if name == str(d.get("best")) else "low" if name == str(d.get("worst")) \
            else "bar"  # fmt: skip
        text = size.removeprefix(" · ") if key == "rows" else f"{figure(value)}{size}"
        bars.append((name, value, kind, text))
    if len(bars) < 2:
        return None
    shown = bars[:MAX_BARS]
    more = f" (the first {len(shown)} of {len(bars)})" if len(bars) > len(shown) else ""
    what = "rows" if key == "rows" else f"{key} {_measure(d)}"
    title = f"{what} by {label(str(d.get('segment_column') or 'segment'))}{more}"
    return Drawn(_bars(shown), title, "darker: the highest; lighter: the lowest")


def _size(r: Mapping[str, Any]) -> str:
    rows, share = _num(r.get("rows")), _num(r.get("row_share"))
    if rows is None:
        return ""
    return f" · {figure(rows)} rows" + (f" ({share * 100:.1f}%)" if share is not None else "")


# -- anomaly ---------------------------------------------------------------------------------


def anomaly(d: Mapping[str, Any]) -> Drawn | None:
    """The value of each flagged period as a column, its usual level as a dashed mark."""
    records = _records(d.get("measures"))
    record = next((r for r in records if r.get("measure") == d.get("measure")),
                  records[0] if records else None)  # fmt: skip
    if record is None:
        return None
    points = [(str(p[0]), v, e) for p in _list(record.get("points"))
              if isinstance(p, list | tuple) and len(p) >= 3
              and (v := _num(p[1])) is not None and (e := _num(p[2])) is not None]  # fmt: skip
    if not points:
        value, expected = _num(record.get("value")), _num(record.get("expected"))
        if value is None or expected is None:
            return None
        points = [(str(d.get("peak") or d.get("date") or ""), value, expected)]
    points = points[-MAX_BARS * 2 :]
    bars = [(period, value, "spike" if value >= expected else "drop",
             f"{period}: {figure(value)} against about {figure(expected)} usual")
            for period, value, expected in points]  # fmt: skip
    chart = _columns(bars, extra=[e for _, _, e in points])
    scale = _Scale.of([v for _, v, _ in points] + [e for _, _, e in points], bars=True)
    step = (RIGHT - LEFT) / len(points)
    reach = min(step * 0.45, 60.0)
    for i, (period, _, expected) in enumerate(points):
        y, middle = scale.y(expected), LEFT + (i + 0.5) * step
        chart.lines.append(Line(((middle - reach, y), (middle + reach, y)), "expected",
                                f"{period}: usual level {figure(expected)}"))  # fmt: skip
        chart.labels.append(Label(middle + reach + 4, y, f"usual {_short(expected)}", "start"))
    measure = label(str(record.get("measure") or d.get("measure") or "value"))
    share = _num(d.get("driver_share"))
    # With a driver, the segment named is the one that made most of the gap, not the scope.
    what = f"{measure} against its usual level" if share is not None else \
        f"{measure}{_scope(d)} against its usual level"  # fmt: skip
    if share is not None and d.get("segment_column"):
        what += f", driven by {label(str(d['segment_column']))} {d.get('segment')}"
    return Drawn(chart, what, "column: the value; dashed: the usual level")


# -- correlation -----------------------------------------------------------------------------


def correlation(d: Mapping[str, Any]) -> Drawn | None:
    """The correlation coefficient on its -1..+1 scale, and within segments when measured."""
    r = _num(d.get("r"))
    if r is None:
        return None
    rows = [("overall", r)]
    within = _num(d.get("r_within"))
    if within is not None:
        rows.append((f"within each {label(str(d.get('within_segment') or 'segment'))}", within))
    chart = Chart(WIDTH, len(rows) * ROW + 30)
    zero = NAMES + 10 + (RIGHT - NAMES - 10) / 2
    half = (RIGHT - NAMES - 10) / 2
    for i, (name, value) in enumerate(rows):
        y = i * ROW + 4
        x, w = (zero, value * half) if value >= 0 else (zero + value * half, -value * half)
        kind = "positive" if value >= 0 else "negative"
        chart.rects.append(Rect(x, y, max(w, 1.0), ROW - 8, kind, f"{name}: r = {value:+.2f}"))
        chart.labels.append(Label(NAMES, y + ROW / 2 - 4, name, "end"))
    bottom = len(rows) * ROW + 4
    chart.lines.append(Line(((zero, 0.0), (zero, bottom)), "axis", "no correlation"))
    for tick in (-1.0, -0.5, 0.0, 0.5, 1.0):
        chart.labels.append(Label(zero + tick * half, bottom + 12, f"{tick:+g}" if tick else "0"))
    names = [str(c) for c in _list(d.get("columns"))] or ["x", "y"]
    count = _num(d.get("rows"))
    over = f" over {figure(count)} {d.get('over') or 'rows'}" if count is not None else ""
    title = f"correlation of {' and '.join(label(n) for n in names)}: r = {r:+.2f}{over}"
    return Drawn(chart, title, "-1: they move opposite ways; +1: together; 0: no link")


def driver(d: Mapping[str, Any]) -> Drawn | None:
    """A driver insight drawn as what it carries: an association, or segments' levels."""
    return correlation(d) if "r" in d else segments(d) if "segments" in d else None


# -- shared geometry -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """Values to y, from `low` at BOTTOM to `high` at TOP."""

    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float], bars: bool = False) -> _Scale:
        """A scale over `values` and zero; for a line (not `bars`, whose lengths must compare)
        of levels far above zero, from a little below the lowest, or zero would flatten it."""
        low, high = min(min(values), 0.0), max(max(values), 0.0)
        if not bars and min(values) > 0.5 * max(values) > 0:
            low = min(values) * 0.9
        if high == low:
            high = low + 1.0
        return cls(low, high)

    def y(self, value: float) -> float:
        return BOTTOM - (value - self.low) / (self.high - self.low) * (BOTTOM - TOP)

    def label(self, chart: Chart) -> None:
        chart.labels += [Label(LEFT - 6, TOP, _short(self.high), "end"),
                         Label(LEFT - 6, BOTTOM, _short(self.low), "end")]  # fmt: skip
        if self.low < 0 < self.high:
            zero = self.y(0.0)
            chart.lines.append(Line(((LEFT, zero), (RIGHT, zero)), "axis", "zero"))


Bar = tuple[str, float, str, str]  # name, value, kind (bar, high, low, spike, drop), tooltip


def _columns(bars: Sequence[Bar], extra: Sequence[float] = ()) -> Chart:
    """Vertical bars on one scale (with `extra` values it must also hold), names below."""
    chart = Chart(WIDTH, HEIGHT)
    scale = _Scale.of([v for _, v, _, _ in bars] + list(extra), bars=True)
    base = scale.y(max(scale.low, 0.0)) if scale.low < 0 else BOTTOM
    step = (RIGHT - LEFT) / len(bars)
    every = math.ceil(len(bars) / 12)  # at most 12 names fit under the columns
    for i, (name, value, kind, tip) in enumerate(bars):
        top = scale.y(value)
        y, h = min(top, base), abs(base - top)
        width = min(step * 0.7, 56.0)  # one flagged day is a column, not a slab
        chart.rects.append(Rect(LEFT + (i + 0.5) * step - width / 2, y, width, max(h, 1.0), kind,
                                tip or f"{name}: {figure(value)}"))  # fmt: skip
        if i % every == 0:
            chart.labels.append(Label(LEFT + (i + 0.5) * step, BOTTOM + 16, name))
    scale.label(chart)
    return chart


def _bars(bars: Sequence[Bar]) -> Chart:
    """Horizontal bars on one scale, names on the left, figures on the right."""
    chart = Chart(WIDTH, len(bars) * ROW + 8)
    values = [v for _, v, _, _ in bars]
    low, high = min(min(values), 0.0), max(max(values), 0.0)
    room = RIGHT - NAMES - 10 - 190  # leaves room for the figure beside the longest bar
    scale = room / (high - low) if high > low else 0.0
    zero = NAMES + 10 - low * scale
    for i, (name, value, kind, text) in enumerate(bars):
        y = i * ROW + 4
        x, w = (zero, value * scale) if value >= 0 else (zero + value * scale, -value * scale)
        chart.rects.append(Rect(x, y, max(w, 1.0), ROW - 8, kind, f"{name}: {text}"))
        chart.labels.append(Label(NAMES, y + ROW / 2 - 4, _cut(name), "end"))
        chart.labels.append(Label(max(x + w, zero) + 6, y + ROW / 2 - 4, text, "start"))
    return chart


def _num(value: Any) -> float | None:
    """A finite number, or None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in _list(value) if isinstance(r, Mapping)]


def _measure(d: Mapping[str, Any]) -> str:
    measure = label(str(d.get("measure") or "value"))
    return "number of rows" if measure == "rows" else measure


def _scope(d: Mapping[str, Any]) -> str:
    """' for channel online' when the insight is about one segment."""
    column, value = d.get("segment_column"), d.get("segment")
    return f" for {label(str(column))} {value}" if column and value is not None else ""


def _short(value: float) -> str:
    """An axis figure: 1.2M, 35k, 12.5."""
    magnitude = abs(value)
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            return f"{value / size:.3g}{suffix}"
    return figure(value)


def _cut(name: str, chars: int = 22) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


DRAWERS: dict[str, Callable[[Mapping[str, Any]], Drawn | None]] = {
    "trend": trend,
    "seasonality": seasonality,
    "segment_comparison": segments,
    "anomaly": anomaly,
    "correlation": correlation,
    "driver": driver,
}
