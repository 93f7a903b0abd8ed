"""Re-deriving figures: a recipe of `details.figures` computed with pandas from the typed data.

The recipe format is described in scripts/eval_insights.py's docstring."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from evallib.keys import Details


class Underivable(Exception):
    """The recipe cannot be followed: unknown kind, missing field or column."""


class Truth:
    """The package's typed data, and the selections recipes ask for."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def column(self, name: str | None) -> pd.Series:
        if name is None or name not in self.frame.columns:
            raise Underivable(f"no column {name!r}")
        return self.frame[name]

    def times(self, name: str, rows: pd.DataFrame | None = None) -> pd.Series:
        """A time column as timestamps; an integer year column as 1 January of each year."""
        values = (self.frame if rows is None else rows)[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            return values
        if pd.api.types.is_numeric_dtype(values):
            years = values.astype("Int64").astype(str).replace("<NA>", None)
            return pd.to_datetime(years, format="%Y", errors="coerce")
        return pd.to_datetime(values, errors="coerce", format="mixed")

    def select(self, filters: Iterable[Details]) -> pd.DataFrame:
        rows = self.frame
        for f in filters:
            rows = rows[self._mask(rows, f)]
        return rows

    def _mask(self, rows: pd.DataFrame, f: Details) -> pd.Series:
        name = str(f.get("column"))
        self.column(name)
        values = rows[name]
        if "missing" in f:
            return values.isna() if f["missing"] else values.notna()
        if "part" in f:
            return calendar_part(self.times(name, rows), f["part"]) == int(f["equals"])
        if "from" in f or "before" in f:
            stamps = self.times(name, rows)
            mask = stamps.notna()
            if "from" in f:
                mask &= stamps >= pd.Timestamp(f["from"])
            if "before" in f:
                mask &= stamps < pd.Timestamp(f["before"])
            return mask
        if "outside" in f:
            low, high = (float(v) for v in f["outside"])
            numbers = pd.to_numeric(values)
            return (numbers < low) | (numbers > high)
        if "op" in f:
            ops = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
            return pd.Series(ops[f["op"]](pd.to_numeric(values), float(f["value"])), rows.index)
        if "equals" in f:
            return as_labels(values) == as_label(f["equals"])
        raise Underivable(f"unknown filter {f}")

    def numbers(self, rows: pd.DataFrame, name: str | None) -> pd.Series:
        self.column(name)
        return pd.to_numeric(rows[name], errors="coerce")


def as_label(value: Any) -> str:
    """A category value as text, integers without '.0'."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return str(int(number)) if number.is_integer() else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_labels(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        return values.astype("Int64").astype(str)
    return values.astype(str)


GRAINS = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}


def periods_of(stamps: pd.Series, grain: str) -> pd.Series:
    if grain == "hour":
        return stamps.dt.floor("h")
    if grain not in GRAINS:
        raise Underivable(f"unknown grain {grain!r}")
    return stamps.dt.to_period(GRAINS[grain]).dt.start_time


def derive(spec: Details, truth: Truth) -> Any:
    """The figure a recipe describes, computed with pandas from the typed data."""
    kind = spec.get("kind")
    handlers: dict[str, Callable[[Details, Truth], Any]] = {
        "aggregate": _aggregate,
        "share": lambda s, t: number(derive(s["part"], t)) / number(derive(s["whole"], t)),
        "change": lambda s, t: number(derive(s["to"], t)) / number(derive(s["from"], t)) - 1,
        "ratio": lambda s, t: (
            number(derive(s["numerator"], t)) / number(derive(s["denominator"], t))
        ),
        "difference": lambda s, t: (
            number(derive(s["minuend"], t)) - number(derive(s["subtrahend"], t))
        ),
        "variance_share": _variance_share,
        "unreadable_share": _unreadable_share,
        "fit": _fit,
        "seasonal_index": _seasonal_index,
        "seasonal_expected": _seasonal_expected,
        "growth_rate": _growth_rate,
        "baseline": _baseline,
        "correlation": _correlation,
        "top_share": _top_share,
        "duplicate_rows": lambda s, t: int(t.frame.duplicated().sum()),
        "columns": lambda s, t: len(t.frame.columns),
        "span_days": lambda s, t: int(
            (t.times(s["column"]).max().normalize() - t.times(s["column"]).min().normalize()).days
            + 1
        ),
        "missing_columns": lambda s, t: int(
            ((t.frame.isna().mean() > 0) & (t.frame.isna().mean() >= s["min_share"])).sum()
        ),
    }
    if kind not in handlers:
        raise Underivable(f"unknown kind {kind!r}")
    try:
        value = handlers[kind](spec, truth)
    except KeyError as exc:
        raise Underivable(f"{kind}: no {exc}") from None
    return abs(value) if spec.get("absolute") else value


def number(value: Any) -> float:
    if isinstance(value, str):
        raise Underivable("a date where a number is needed")
    return float(value)


def _aggregate(spec: Details, truth: Truth) -> Any:
    rows = truth.select(spec.get("filters", []))
    aggregation = spec["aggregation"]
    if aggregation == "rows":
        value: Any = len(rows)
    elif aggregation in ("min", "max") and _is_time(truth, spec.get("measure"), rows):
        stamps = truth.times(spec["measure"], rows).dropna()
        return (stamps.min() if aggregation == "min" else stamps.max()).isoformat()
    else:
        values = truth.numbers(rows, spec.get("measure")).dropna()
        if aggregation == "distinct":
            value = rows[spec["measure"]].nunique()
        elif aggregation == "count":
            value = len(values)
        elif aggregation in ("sum", "mean", "median", "min", "max"):
            value = getattr(values, aggregation)() if len(values) else float("nan")
        else:
            raise Underivable(f"unknown aggregation {aggregation!r}")
    if spec.get("per"):
        periods = periods_of(truth.times(spec["time"], rows).dropna(), spec["per"]).nunique()
        value = value / periods if periods else float("nan")
    return value


def _is_time(truth: Truth, name: str | None, rows: pd.DataFrame) -> bool:
    values = truth.column(name)
    return bool(pd.api.types.is_datetime64_any_dtype(values))


def window_levels(spec: Details, truth: Truth) -> pd.Series:
    """The levels a fit recipe fits: per period of its grain, within its from..before window."""
    window = [{"column": spec["time"], "from": spec["from"], "before": spec["before"]}]
    return levels(spec, truth, window).sort_index()


def levels(spec: Details, truth: Truth, extra: Iterable[Details] = ()) -> pd.Series:
    """The measure per period of the grain (total or average), periods with rows only."""
    rows = truth.select([*spec.get("filters", []), *extra])
    periods = periods_of(truth.times(spec["time"], rows), spec["grain"])
    aggregation = spec["aggregation"]
    if aggregation == "rows":
        return rows.groupby(periods).size().astype(float)
    values = truth.numbers(rows, spec["measure"])
    grouped = values.groupby(periods)
    if aggregation == "sum":
        return grouped.sum(min_count=1).dropna()
    if aggregation == "mean":
        return grouped.mean().dropna()
    raise Underivable(f"unknown aggregation {aggregation!r}")


def _index(periods: pd.Index, grain: str) -> np.ndarray:
    first = periods[0]
    if grain in ("month", "quarter", "year"):
        months = np.array([(p.year - first.year) * 12 + p.month - first.month for p in periods])
        return months / {"month": 1, "quarter": 3, "year": 12}[grain]
    days = np.array([(p - first).total_seconds() / 86400 for p in periods])
    return days / (7 if grain == "week" else 1)


def _fit(spec: Details, truth: Truth) -> float:
    series = window_levels(spec, truth)
    if len(series) < 3:
        raise Underivable("fit: fewer than 3 periods")
    xs, ys = _index(series.index, spec["grain"]), series.to_numpy(dtype=float)
    exponential = spec.get("model") == "exponential"
    if exponential:
        if (ys <= 0).any():
            raise Underivable("fit: an exponential fit of values that are not all positive")
        ys = np.log(ys)
    slope, intercept = np.polyfit(xs, ys, 1)
    fitted = intercept + slope * xs
    back = np.exp if exponential else (lambda v: v)
    start, end = float(back(fitted[0])), float(back(fitted[-1]))
    at = str(spec.get("at"))
    if at == "r2":
        total = float(((ys - ys.mean()) ** 2).sum())
        return 1 - float(((ys - fitted) ** 2).sum()) / total if total else 0.0
    return float({"start": start, "end": end, "change": end / start - 1, "slope": slope}[at])


CYCLE = {"month": 12, "quarter": 4}


def _seasonal_index(spec: Details, truth: Truth) -> float:
    """How far one month (or quarter) runs from trend: the measure per period of grain in
    [from, before), each period's level over (model ratio) or minus (difference) its trend,
    averaged per part value, normalised to mean 1 (or 0), less 1 (or 0)."""
    _, index = _trend_and_season(spec, truth)
    equals = int(spec["equals"])
    if equals not in index.index:
        raise Underivable(f"seasonal_index: no part value {equals}")
    return float(index[equals])


def _seasonal_expected(spec: Details, truth: Truth) -> float:
    """The level the trend and season give one period: its trend times (1 + its part's
    seasonal index), or plus the index, with the trend and index of seasonal_index."""
    trend, index = _trend_and_season(spec, truth)
    period = pd.Timestamp(spec["period"])
    if period not in trend.index or pd.isna(trend[period]):
        raise Underivable("seasonal_expected: no trend at the period")
    part = period.month if spec["part"] == "month" else period.quarter
    if part not in index.index:
        raise Underivable(f"seasonal_expected: no part value {part}")
    level = float(trend[period])
    size = float(index[part])
    return level * (1 + size) if spec["model"] == "ratio" else level + size


def _trend_and_season(spec: Details, truth: Truth) -> tuple[pd.Series, pd.Series]:
    """The trend per period of the window and the seasonal index per part value (less 1 for
    a ratio), as seasonal_index defines them."""
    grain = spec["grain"]
    if grain not in CYCLE:
        raise Underivable(f"seasonal_index: grain {grain!r}")
    cycle = CYCLE[grain]
    series = window_levels(spec, truth)
    every = pd.date_range(
        spec["from"], spec["before"], freq="MS" if grain == "month" else "QS", inclusive="left"
    )
    series = series.reindex(every)
    if series.isna().any():
        raise Underivable("seasonal_index: a period without rows in the window")
    if len(series) < 2 * cycle:
        raise Underivable("seasonal_index: under two full cycles")
    ys = series.to_numpy(dtype=float)
    ratio = spec["model"] == "ratio"
    if ratio and (ys <= 0).any():
        raise Underivable("seasonal_index: a ratio to trend of levels that are not all positive")
    if spec["detrend"] == "moving_average":
        weights = np.r_[0.5, np.ones(cycle - 1), 0.5] / cycle
        trend = (
            pd.Series(ys)
            .rolling(cycle + 1, center=True)
            .apply(lambda w: float(np.dot(w, weights)), raw=True)
        )
    elif spec["detrend"] == "fit":
        trend = pd.Series(_better_line(_index(series.index, grain), ys, ratio))
    else:
        raise Underivable(f"seasonal_index: detrend {spec['detrend']!r}")
    trend.index = series.index
    keep = trend.notna() & (trend > 0 if ratio else True)
    off = series[keep] / trend[keep] if ratio else series[keep] - trend[keep]
    means = off.groupby(calendar_part(off.index.to_series(), spec["part"])).mean()
    if len(means) < cycle:
        raise Underivable("seasonal_index: a part value without a detrended level")
    index = means / means.mean() - 1 if ratio else means - means.mean()
    return trend, index


def _better_line(xs: np.ndarray, ys: np.ndarray, logged: bool) -> np.ndarray:
    """The fitted values of a straight line, or of a log-linear one when it fits the logs
    better (by R² on its own scale)."""

    def fitted(values: np.ndarray) -> tuple[np.ndarray, float]:
        slope, intercept = np.polyfit(xs, values, 1)
        line = intercept + slope * xs
        total = float(((values - values.mean()) ** 2).sum())
        return line, 1 - float(((values - line) ** 2).sum()) / total if total else 0.0

    straight, r2 = fitted(ys)
    if logged:
        curve, log_r2 = fitted(np.log(ys))
        if log_r2 > r2:
            return np.asarray(np.exp(curve))
    return straight


def _growth_rate(spec: Details, truth: Truth) -> float:
    """The rate a year (CAGR) from the level of recipe `from` to that of `to`."""
    start, end = number(derive(spec["from"], truth)), number(derive(spec["to"], truth))
    years = _years(spec)
    if start <= 0 or end <= 0 or years <= 0:
        raise Underivable("growth_rate: a level that is not positive, or no time between")
    return float((end / start) ** (1 / years) - 1)


def _years(spec: Details) -> float:
    """Years between the starts of the two windows (their time filters' `from`): whole
    months / 12 when both start on a month's first day, else days / 365; the recipe's
    own `years` only when a window has no time filter."""
    starts = []
    for side in ("from", "to"):
        found = [f["from"] for f in spec[side].get("filters", []) if "from" in f]
        if len(found) != 1:
            return float(spec["years"])
        starts.append(pd.Timestamp(found[0]))
    a, b = starts
    if a.day == 1 and b.day == 1:
        return float((b.year - a.year) * 12 + b.month - a.month) / 12
    return float((b - a).days) / 365


def _baseline(spec: Details, truth: Truth) -> float:
    series = levels(spec, truth)
    period = pd.Timestamp(spec["period"])
    grain = spec["grain"]
    step = {
        "day": pd.DateOffset(days=1),
        "week": pd.DateOffset(weeks=1),
        "hour": pd.DateOffset(hours=1),
    }
    offsets = {"month": lambda k: pd.DateOffset(months=k), "year": lambda k: pd.DateOffset(years=k)}
    around = []
    for lag in spec["lags"]:
        at = period + (offsets[grain](lag) if grain in offsets else step[grain] * lag)
        if at in series.index:
            around.append(series[at])
    if len(around) < spec.get("min_neighbours", 1):
        raise Underivable("baseline: too few neighbouring periods")
    return float(np.median(around))


def _correlation(spec: Details, truth: Truth) -> float:
    rows = truth.select(spec.get("filters", []))
    x, y = truth.numbers(rows, spec["x"]), truth.numbers(rows, spec["y"])
    if spec.get("over", "rows") == "changes":
        keys = [periods_of(truth.times(spec["time"], rows), spec["grain"])]
        if spec.get("within"):
            keys.insert(0, rows[spec["within"]])
        frame = pd.DataFrame({"x": x, "y": y}).groupby(keys).mean().sort_index()
        frame = frame.groupby(level=0).diff() if spec.get("within") else frame.diff()
        x, y = frame["x"], frame["y"]
    both = pd.DataFrame({"x": x, "y": y}).dropna()
    if spec.get("within_groups"):
        groups = rows.loc[both.index, spec["within_groups"]]
        both = both[groups.notna()]
        groups = groups[groups.notna()]
        both = both - both.groupby(groups).transform("mean")
    if spec.get("at", "r") == "n":
        return len(both)
    return float(both["x"].corr(both["y"]))


def calendar_part(stamps: pd.Series, part: str) -> pd.Series:
    """month 1-12, ISO weekday 1 (Monday) to 7, hour 0-23, quarter 1-4."""
    if part == "weekday":
        return stamps.dt.day_of_week + 1
    if part not in ("month", "hour", "quarter"):
        raise Underivable(f"unknown part {part!r}")
    values: pd.Series = getattr(stamps.dt, part)
    return values


def part_values(truth: Truth, rows: pd.DataFrame, by: Details) -> pd.Series:
    if by.get("part"):
        return calendar_part(truth.times(by["column"], rows), by["part"])
    return rows[by["column"]]


def _variance_share(spec: Details, truth: Truth) -> float:
    """eta²: the share of the variation of per-period levels that the groups explain."""
    rows = truth.select(spec.get("filters", []))
    groups = part_values(truth, rows, spec["by"])
    periods = periods_of(truth.times(spec["time"], rows), spec["per"])
    keep = groups.notna() & periods.notna()
    rows, groups, periods = rows[keep], groups[keep], periods[keep]
    if spec["aggregation"] == "rows":
        levels = rows.groupby([groups, periods]).size().astype(float)
    else:
        values = truth.numbers(rows, spec["measure"])
        grouped = values.groupby([groups, periods])
        levels = grouped.mean() if spec["aggregation"] == "mean" else grouped.sum(min_count=1)
        counts = values.groupby([groups, periods]).count()
        levels = levels[counts > 0]
    levels = levels.dropna()
    means = levels.groupby(level=0).transform("mean")
    total = float(((levels - levels.mean()) ** 2).sum())
    return float(((means - levels.mean()) ** 2).sum()) / total if total else 0.0


def _unreadable_share(spec: Details, truth: Truth) -> float:
    values = truth.column(spec["column"]).dropna().astype(str)
    return float(pd.to_numeric(values, errors="coerce").isna().mean())


def _top_share(spec: Details, truth: Truth) -> float:
    rows = truth.select(spec.get("filters", []))
    keys = rows[spec["entity"]]
    if spec.get("aggregation", "sum") == "rows":
        totals = rows.groupby(keys).size().astype(float)
    else:
        totals = truth.numbers(rows, spec["measure"]).groupby(keys).sum()
    totals = totals.sort_values(ascending=False)
    top = math.ceil(len(totals) * float(spec["top"]))
    return float(totals.iloc[:top].sum() / totals.sum())


def recipes(node: Any) -> Iterator[Details]:
    """Every recipe in a details tree: figures, a trend's fit, nested parts of a change."""
    if isinstance(node, dict):
        if "kind" in node:  # the details themselves have none: their fields are not a recipe
            yield node
        for value in node.values():
            yield from recipes(value)
    elif isinstance(node, list):
        for value in node:
            yield from recipes(value)
