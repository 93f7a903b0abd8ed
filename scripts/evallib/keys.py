"""A dataset of the corpus, its key findings, and how an insight stating one is recognised.

A key is recognised by an insight's `details` (its kind, measure, segment column, direction),
never by its title, and generically: a finding stated as a correlation or as a segment
comparison counts when both are true statements of it (`driver_key`); a peak stated by a
season, an anomaly or a drawdown counts alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Details = dict[str, Any]
ANY = "*"  # a key any insight type may state


@dataclass(frozen=True)
class Key:
    """A finding an analyst would lead with, and how to recognise an insight stating it."""

    text: str
    insight_type: str  # "trend", "trend|drawdown", or ANY
    test: Callable[[Details], bool]

    def stated_by(self, insight_type: str, details: Details) -> bool:
        kinds = self.insight_type.split("|")
        if ANY not in kinds and insight_type not in kinds:
            return False
        try:
            return self.test(details)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False  # details of another shape than the key reads: not a statement of it


@dataclass(frozen=True)
class Dataset:
    """One table of the corpus: where it comes from, the question, and what the question is about.

    targets: the measures the question bears on ("rows" when it asks how many); an insight about
    none of them is noise (evallib.noise). per_unit: columns that are a level per row (prices,
    incomes, rates, ages, temperatures, populations), never summed over rows; stocks: levels that
    add up across entities within one period (a population per country and year), never over
    time (`time` names the time column). Both are decided here, per column, by what the column
    means, not by its name (evallib.misleading)."""

    name: str
    file: str
    description: str
    truth: Callable[[], pd.DataFrame]  # the package's typed data, as pandas reads it
    write: Callable[[Path], None]  # the file the job reads
    keys: Callable[[pd.DataFrame], list[Key]]
    quick: bool = True
    source: str = ""  # the package (and R package) it comes from
    targets: frozenset[str] = frozenset()
    per_unit: frozenset[str] = frozenset()
    stocks: frozenset[str] = frozenset()
    time: str | None = None
    asks_quality: bool = False


def names(*words: str) -> frozenset[str]:
    """A set of column names, written as one string per group: names("a b", "c")."""
    return frozenset(n for w in words for n in w.split())


# ---------------------------------------------------------------- reading details


def _is(details: Details, **expected: Any) -> bool:
    return all(_same(details.get(k), v) for k, v in expected.items())


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(wanted, float | int | np.integer | np.floating) and not isinstance(wanted, bool):
        try:
            return float(found) == float(wanted)
        except (TypeError, ValueError):
            return False
    return str(found) == str(wanted)


def label(value: Any) -> str:
    """A category value as text, integers without '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return str(int(number)) if number.is_integer() else value
    return str(value)


def _lists(details: Details, key: str, column: str) -> bool:
    return any(entry.get("column") == column for entry in details.get(key) or [])


def measures_of(details: Details) -> set[str]:
    """The measures an insight is about: its measure, its measures' and a driver's target."""
    found = {details.get("measure"), details.get("target")}
    listed = details.get("measures")
    found |= (
        {m.get("measure") for m in listed if isinstance(m, dict)}
        if isinstance(listed, list)
        else set()
    )
    return {str(m) for m in found if m}


def columns_of(details: Details) -> set[str]:
    """Every column an insight names: its columns, a recipe's x and y, its segment column."""
    found: set[Any] = set()
    listed = details.get("columns")
    for entry in listed if isinstance(listed, list) else []:
        found.add(entry.get("column") if isinstance(entry, dict) else entry)
    recipe = details.get("recipe") or {}
    found |= {recipe.get("x"), recipe.get("y")}
    found |= {details.get(k) for k in ("segment_column", "driver", "column", "x", "y")}
    return {str(c) for c in found if c} | measures_of(details)


def _date(details: Details, *fields: str) -> list[str]:
    return [str(details.get(f) or "") for f in fields]


# ---------------------------------------------------------------- the original keys' builders


def best(
    frame: pd.DataFrame, by: str | pd.Series, measure: str, min_rows: int = 10
) -> tuple[Any, Any]:
    """The segment values with the highest and lowest average (groups of min_rows or more)."""
    grouped = frame.groupby(by)[measure].agg(["mean", "count"])
    grouped = grouped[grouped["count"] >= min_rows]
    return grouped["mean"].idxmax(), grouped["mean"].idxmin()


def segment_key(frame: pd.DataFrame, segment: str, measure: str) -> Key:
    high, low = best(frame, segment, measure)
    return Key(
        f"{measure} by {segment}: highest average {high}, lowest {low}",
        "segment_comparison",
        lambda d: _is(d, segment_column=segment, measure=measure, best=high, worst=low),
    )


def most_rows_key(frame: pd.DataFrame, segment: str) -> Key:
    top = frame[segment].value_counts().idxmax()
    return Key(
        f"most rows for {segment} {top}",
        "segment_comparison",
        lambda d: _is(d, segment_column=segment, basis="rows", best=top),
    )


def season_key(frame: pd.DataFrame, measure: str, part: str, by: pd.Series) -> Key:
    peak = frame.groupby(by)[measure].mean().idxmax()
    return Key(
        f"{measure} peaks in {part} {peak}",
        "seasonality",
        lambda d: _is(d, measure=measure, part=part, peak=int(peak)),
    )


def trend_key(measure: str, direction: str, segment: tuple[str, str] | None = None) -> Key:
    column, value = segment if segment else (None, None)
    where = f" for {column} {value}" if segment else ""
    return Key(
        f"{measure}{where} trends {direction}",
        "trend",
        lambda d: (
            _is(d, measure=measure, direction=direction)
            and d.get("segment_column") == column
            and (value is None or str(d.get("segment")) == value)
        ),
    )


def correlation_key(x: str, y: str, sign: str) -> Key:
    return Key(
        f"{x} and {y}: {sign} correlation",
        "correlation",
        lambda d: set(d.get("columns") or []) == {x, y} and d.get("sign") == sign,
    )


def quality_key(issue: str, *columns: str) -> Key:
    return Key(
        f"{issue}: {' or '.join(columns)}",
        "data_quality",
        lambda d: d.get("issue") == issue and any(_lists(d, "columns", c) for c in columns),
    )


# ---------------------------------------------------------------- the widened corpus's builders


def driver_key(
    target: str,
    driver: str,
    sign: str,
    high: Iterable[Any] = (),
    low: Iterable[Any] = (),
    why: str = "",
) -> Key:
    """`target` rises (sign "positive") or falls with `driver`: stated as a correlation between
    them with that sign, or as `target` compared across `driver`'s segments with the best among
    `high` or the worst among `low` (both true framings of one finding)."""
    highs, lows = {label(v) for v in high}, {label(v) for v in low}

    def test(d: Details) -> bool:
        named = columns_of(d)
        if target not in named or driver not in named or target == driver:
            return False
        if d.get("sign") in ("positive", "negative"):
            return bool(d["sign"] == sign)
        if d.get("segment_column") == driver and d.get("basis") != "rows":
            return label(d.get("best")) in highs or label(d.get("worst")) in lows
        return False

    return Key(
        f"{target} {'rises' if sign == 'positive' else 'falls'} with {driver}{why}", ANY, test
    )


def extremes_key(
    segment: str, measure: str, high: Iterable[Any] = (), low: Iterable[Any] = (), why: str = ""
) -> Key:
    """`measure` compared across `segment`: the best named among `high` (when given) and the worst
    among `low` (when given), as a segment comparison or a driver by segment."""
    highs, lows = {label(v) for v in high}, {label(v) for v in low}

    def test(d: Details) -> bool:
        if d.get("segment_column") != segment or measure not in measures_of(d):
            return False
        if d.get("basis") == "rows" and measure != "rows":
            return False
        ok_high = not highs or label(d.get("best")) in highs
        ok_low = not lows or label(d.get("worst")) in lows
        return ok_high and ok_low

    said = [
        f"highest {'/'.join(sorted(highs))}" if highs else "",
        f"lowest {'/'.join(sorted(lows))}" if lows else "",
    ]
    return Key(f"{measure} by {segment}: {', '.join(s for s in said if s)}{why}", ANY, test)


def season_at_key(
    measure: str, part: str, peak: Iterable[int] = (), trough: Iterable[int] = (), why: str = ""
) -> Key:
    """A season of `measure` by `part` (month, weekday ISO 1-7, quarter) peaking in one of `peak`
    and/or lowest in one of `trough`."""
    peaks, troughs = {int(p) for p in peak}, {int(t) for t in trough}

    def test(d: Details) -> bool:
        if d.get("measure") != measure or d.get("part") != part:
            return False
        ok_peak = not peaks or _int(d.get("peak")) in peaks
        return ok_peak and (not troughs or _int(d.get("trough")) in troughs)

    said = [
        f"peak {sorted(peaks)}" if peaks else "",
        f"trough {sorted(troughs)}" if troughs else "",
    ]
    return Key(f"{measure} by {part}: {' '.join(s for s in said if s)}{why}", "seasonality", test)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def trend_of_key(measures: Iterable[str], direction: str, why: str = "", **segment: str) -> Key:
    """A trend of one of `measures` in `direction` (overall, or for the given segment value)."""
    wanted = set(measures)
    column, value = next(iter(segment.items()), (None, None))

    def test(d: Details) -> bool:
        if not measures_of(d) & wanted or d.get("direction") != direction:
            return False
        if column is None:
            return d.get("segment_column") in (None, "")
        return d.get("segment_column") == column and str(d.get("segment")) == value

    where = f" for {column} {value}" if column else ""
    return Key(f"{'/'.join(sorted(wanted))}{where} trends {direction}{why}", "trend", test)


def fall_key(
    measures: Iterable[str], peak: str = "", trough: str = "", min_depth: float = 0.0, why: str = ""
) -> Key:
    """A fall of one of `measures` from a peak in the period starting `peak` (a prefix such as
    "2008" or "1855-01") to a trough starting `trough`, at least `min_depth` deep."""
    wanted = set(measures)

    def test(d: Details) -> bool:
        if not measures_of(d) & wanted or d.get("segment_column") not in (None, ""):
            return False
        at_peak, at_trough = _date(d, "peak", "trough")
        depth = float(d.get("depth") or 0.0)
        return at_peak.startswith(peak) and at_trough.startswith(trough) and depth >= min_depth

    when = f" from its {peak} peak" if peak else " from a peak"
    until = f" to a {trough} low" if trough else ""
    return Key(f"{'/'.join(sorted(wanted))} fell{when}{until}{why}", "drawdown", test)


def moment_key(measures: Iterable[str], dates: Iterable[str], direction: str, why: str = "") -> Key:
    """A spike or drop of one of `measures` on one of `dates` (prefixes: "1855-01", "1978-12-25"),
    stated as an anomaly, or as a drawdown's peak (spike) or trough (drop)."""
    wanted, days = set(measures), tuple(dates)

    def test(d: Details) -> bool:
        if not measures_of(d) & wanted:
            return False
        if d.get("direction") == direction:
            start, end = _date(d, "date", "end")
            return any(start[: len(p)] <= p <= (end or start)[: len(p)] for p in days)
        at = str(d.get("peak" if direction == "spike" else "trough") or "")
        return d.get("depth") is not None and at.startswith(days)

    return Key(f"{'/'.join(sorted(wanted))}: {direction} in {', '.join(days)}{why}", ANY, test)


# ---------------------------------------------------------------- pandas computations for keys


def detrended_season(series: pd.Series, part: str, period: int = 12) -> pd.Series:
    """Each calendar part's average ratio to a centred moving average (the trend), 1 = on trend.

    series: one level per period (month, or day for weekdays with period 7), indexed by time."""
    series = series.sort_index()
    trend = series.rolling(period, center=True).mean()
    if period % 2 == 0:  # a 2x12 moving average centres an even window
        trend = trend.rolling(2).mean().shift(-1)
    ratio = (series / trend).dropna()
    stamps = pd.Series(ratio.index, index=ratio.index)
    parts = stamps.dt.day_of_week + 1 if part == "weekday" else getattr(stamps.dt, part)
    index = ratio.groupby(parts.to_numpy()).mean()
    return index / index.mean()


def observed_change(series: pd.Series) -> float:
    """The change from the first to the last full year, as a fraction (yearly means)."""
    stamps = pd.Series(series.index, index=series.index)
    years = series.groupby(stamps.dt.year.to_numpy())
    counts = years.count()
    full = counts[counts >= 0.95 * counts.max()].index  # 365 days count as full beside 366
    means = years.mean()
    return float(means[full.max()] / means[full.min()] - 1)


def worst_fall(series: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    """The deepest fall from a running peak: (peak, trough, depth)."""
    series = series.dropna().sort_index()
    running = series.cummax()
    depth = 1 - series / running
    trough = depth.idxmax()
    peak = series.loc[:trough].idxmax()
    return peak, trough, float(depth.max())


def sign(value: float) -> str:
    return "positive" if value > 0 else "negative"
