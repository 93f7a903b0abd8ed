"""Claims whose figures are right and whose framing misleads: issue 23's classes 2, 3, 4, 5, 9.

Each check reads an insight's details and recipes and re-computes with pandas what the reader
would take from it; each flag is one sentence naming the figure and what the data says:

- class 2, fitted value outside the data: a fit's printed start or end figure lies outside
  min..max of the aggregated series it fits (the levels per period of its window);
- class 3, a fall from a peak that is not one: after the trough, a level above the stated peak
  while the insight says it has not recovered (the series beat that peak since), or the same
  fall between the same calendar positions in most other years (the season repeating);
- class 4, a per-unit measure summed: a recipe sums a column the dataset declares a level per
  row (Dataset.per_unit) over more than one row, or a stock (Dataset.stocks) over more than
  one period of the dataset's time column;
- class 5, a derived pair ranked as a finding: a correlation between two columns of which one
  is a monotone map of the other (|Spearman| >= 0.98 over rows: a log, a scale, a rank) or a
  linear combination of the other and further columns (a sum, a difference; a product or a
  ratio on logs), fitted to R² >= 0.9999;
- class 9, a "fewest"/"lowest" segment that is not: a row count or sum named lowest while a
  group with fewer rows (dropped as too small) has fewer rows or a smaller sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evallib.keys import Dataset, Details
from evallib.printed import parse_shown
from evallib.truth import (
    Truth,
    Underivable,
    as_labels,
    derive,
    levels,
    periods_of,
    recipes,
    window_levels,
)

SPEARMAN_DERIVED = 0.98
CHANGES_DERIVED = 0.9  # a monotone map keeps the changes in step too
R2_DERIVED = 0.9999


def misleading(row: Details, truth: Truth, dataset: Dataset) -> list[str]:
    """What the automatic checks flag in one insight (empty: nothing)."""
    details = row["content"]["details"]
    kind = row["insight_type"]
    flags = fitted_outside(details, truth) + summed_per_unit(details, truth, dataset)
    if kind == "drawdown":
        flags += false_peak(details, truth)
    if kind == "correlation":
        flags += derived_pair(details, truth, dataset)
    if kind == "segment_comparison":
        flags += not_fewest(details, truth)
    return flags


# ---------------------------------------------------------------- class 2


def fitted_outside(details: Details, truth: Truth) -> list[str]:
    """Printed fitted start or end figures outside the levels they fit; for a printed change
    ("grew by 83.5%"), the fitted start and end it is computed from."""
    flags = []
    for figure in details.get("figures") or []:
        if figure.get("kind") != "fit" or figure.get("at") not in ("start", "end", "change"):
            continue
        try:
            series = window_levels(figure, truth)
            ends = _fitted_ends(figure, truth)
        except (Underivable, KeyError):
            continue  # not re-derivable: counted by the figure checks
        low, high = float(series.min()), float(series.max())
        shown = parse_shown(str(figure.get("text", "")))
        slack = 1e-9 * max(1.0, abs(high))
        if figure["at"] != "change":  # printed as the observed extreme: not outside
            slack += shown[1] if shown else 0.0
        for at, value in ends.items():
            if value < low - slack or value > high + slack:
                flags.append(
                    f"{figure.get('text')!r} rests on the fitted {at} {value:.4g}, outside the "
                    f"observed {low:.4g}..{high:.4g} of the {figure.get('grain')} levels it fits"
                )
    if len(flags) > 1:  # one trend, one misleading claim: its figures named together
        return [f"{flags[0]} (and {len(flags) - 1} more figure(s) resting on the fit)"]
    return flags


def _fitted_ends(figure: Details, truth: Truth) -> dict[str, float]:
    if figure["at"] != "change":
        return {figure["at"]: float(figure["value"])}
    return {at: float(derive({**figure, "at": at}, truth)) for at in ("start", "end")}


# ---------------------------------------------------------------- class 3


def false_peak(details: Details, truth: Truth) -> list[str]:
    spec = _drawdown_spec(details)
    if spec is None:
        return []
    try:
        series = levels(spec, truth).sort_index()
    except (Underivable, KeyError):
        return []
    peak, trough = pd.Timestamp(details["peak"]), pd.Timestamp(details["trough"])
    if peak not in series.index or trough not in series.index:
        return []
    flags = []
    after = series[series.index > trough]
    beaten = after[after > series[peak]]
    if len(beaten) and not details.get("recovered"):
        flags.append(
            f"the {peak.date()} peak ({series[peak]:.4g}) was beaten {len(beaten)} time(s) after "
            f"the trough, first {beaten.index[0].date()} ({beaten.iloc[0]:.4g})"
        )
    repeats = _seasonal_repeats(series, peak, trough, float(details.get("depth") or 0.0))
    if repeats:
        flags.append(
            f"the fall from {peak:%B} to {trough:%B} is the season: as deep or more than half "
            f"as deep in {repeats}"
        )
    return flags


def _drawdown_spec(details: Details) -> Details | None:
    """The levels a drawdown is about: its measure per period, in its segment."""
    time = next(
        (
            f.get("column")
            for f in details.get("figures") or []
            if f.get("kind") == "period" and f.get("column")
        ),
        None,
    )
    if not time or not details.get("grain") or not details.get("measure"):
        return None
    filters = []
    if details.get("segment_column"):
        filters.append({"column": details["segment_column"], "equals": details.get("segment")})
    return {
        "measure": details["measure"],
        "aggregation": details.get("aggregation", "mean"),
        "filters": filters,
        "time": time,
        "grain": details["grain"],
    }


def _seasonal_repeats(
    series: pd.Series, peak: pd.Timestamp, trough: pd.Timestamp, depth: float
) -> str:
    """The other years in which the same calendar positions show a fall of at least half the
    stated depth, when they are most of the years that can be compared ("" otherwise)."""
    if trough - peak >= pd.Timedelta(days=365) or depth <= 0:
        return ""
    falls = []
    for years in range(-60, 61):
        if years == 0:
            continue
        start = _nearest(series, peak + pd.DateOffset(years=years))
        end = _nearest(series, trough + pd.DateOffset(years=years))
        if start is None or end is None or series[start] <= 0:
            continue
        falls.append((start.year, 1 - series[end] / series[start]))
    repeated = [year for year, fall in falls if fall >= depth / 2]
    if len(falls) >= 2 and len(repeated) * 2 >= len(falls):
        return f"{len(repeated)} of {len(falls)} other years"
    return ""


def _nearest(series: pd.Series, at: pd.Timestamp) -> pd.Timestamp | None:
    if at < series.index[0] or at > series.index[-1]:
        return None
    position = series.index.get_indexer([at], method="nearest")[0]
    found: pd.Timestamp = series.index[position]
    return found if abs(found - at) <= pd.Timedelta(days=4) else None


# ---------------------------------------------------------------- class 4


def summed_per_unit(details: Details, truth: Truth, dataset: Dataset) -> list[str]:
    flags = []
    for recipe in recipes(details):
        measure = recipe.get("measure")
        if recipe.get("aggregation") != "sum" or not measure:
            continue
        if measure in dataset.per_unit:
            spread = _rows_summed(recipe, truth, None)
            what = "a level per row"
        elif measure in dataset.stocks and dataset.time:
            spread = _rows_summed(recipe, truth, dataset.time)
            what = f"a level per {dataset.time}"
        else:
            continue
        if spread > 1:
            unit = "rows" if what == "a level per row" else "periods"
            shown = recipe.get("text", recipe.get("kind"))
            flags.append(f"{measure} is {what}, summed over {spread} {unit} ({shown!r})")
            break  # one flag per insight and measure is enough
    return flags


def _rows_summed(recipe: Details, truth: Truth, time: str | None) -> int:
    """How many rows (or distinct times, with `time`) the largest sum of the recipe adds up."""
    try:
        rows = truth.select(recipe.get("filters", []))
    except (Underivable, KeyError):
        return 0
    rows = rows[rows[recipe["measure"]].notna()] if recipe["measure"] in rows else rows
    keys = []
    if recipe.get("time") and recipe.get("grain"):
        keys.append(periods_of(truth.times(recipe["time"], rows), recipe["grain"]))
    for name in ("entity", "within"):
        if recipe.get(name) in rows:
            keys.append(rows[recipe[name]])
    by = recipe.get("by")
    if isinstance(by, dict) and by.get("column") in rows and not by.get("part"):
        keys.append(rows[by["column"]])
    if time is not None:
        column = rows[time]
        if not keys:
            return int(column.nunique())
        return int(column.groupby(keys).nunique().max()) if len(rows) else 0
    if not keys:
        return len(rows)
    return int(rows.groupby(keys).size().max()) if len(rows) else 0


# ---------------------------------------------------------------- class 5


def derived_pair(details: Details, truth: Truth, dataset: Dataset) -> list[str]:
    recipe = details.get("recipe") or {}
    x, y = recipe.get("x"), recipe.get("y")
    if not x or not y or x not in truth.frame or y not in truth.frame:
        return []
    numbers = truth.frame.apply(pd.to_numeric, errors="coerce")
    pair = numbers[[x, y]].dropna()
    if len(pair) < 5:
        return []
    if _exclusive_indicators(pair[x], pair[y]):
        return [f"{x} and {y} are indicators of one category's values (never 1 together)"]
    rho = _monotone(truth.frame, pair, x, y, dataset.time)
    if rho is not None:
        return [f"{x} and {y} are one column mapped monotonically (Spearman {rho:+.3f})"]
    for a, b in ((x, y), (y, x)):
        made = _combination(numbers, a, b)
        if made:
            return [f"{a} is {made} of {b} and other columns"]
    return []


def _exclusive_indicators(x: pd.Series, y: pd.Series) -> bool:
    """Two 0/1 columns never 1 on the same row: one-hot columns of one category."""
    binary = x.isin([0, 1]).all() and y.isin([0, 1]).all()
    return bool(binary and x.any() and y.any() and not (x * y).any())


def _monotone(
    frame: pd.DataFrame, pair: pd.DataFrame, x: str, y: str, time: str | None
) -> float | None:
    """The rows' Spearman when one column is a monotone map of the other, else None.

    On a time series two trending columns rank alike without being one column (GDP and
    population): there the map must hold for the changes from one period to the next too."""
    rho = float(pair[x].corr(pair[y], method="spearman"))
    if abs(rho) < SPEARMAN_DERIVED:
        return None
    if time and time in frame and frame[time].is_unique:
        ordered = pair.assign(_t=frame.loc[pair.index, time]).sort_values("_t")
        changes = ordered[[x, y]].diff().dropna()
        if len(changes) >= 5 and not _in_step(changes[x], changes[y]):
            return None
    return rho


def _in_step(a: pd.Series, b: pd.Series) -> bool:
    """Changes that keep in step (|Spearman| >= 0.9); constant changes keep in step only with
    constant changes (two straight lines), not with a column that moves about."""
    steady_a, steady_b = a.nunique() <= 1, b.nunique() <= 1
    if steady_a or steady_b:
        return bool(steady_a and steady_b)
    return bool(abs(a.corr(b, method="spearman")) >= CHANGES_DERIVED)


def _combination(numbers: pd.DataFrame, target: str, part: str) -> str:
    """How `target` is computed from `part` and other columns, or '' when it is not:

    - "the sum": target = part + a non-negative combination of other columns (a total and one
      of its parts; non-negative, so two parts of one total, goods and services, are not);
    - "a product or ratio": log target = log part + any combination of other columns' logs.
    Either must fit to R² >= 0.9999 and need `part` (without it, no such fit)."""
    frame = numbers.dropna(axis=1, thresh=int(0.9 * len(numbers)))
    if target not in frame or part not in frame:
        return ""
    others = [c for c in frame.columns if c not in (target, part)]
    whole = frame[[target, part, *others]].dropna()
    if len(whole) >= 3 * whole.shape[1] and _is_sum(whole, target, part, others):
        return "the sum"
    logs = np.log(frame.where(frame > 0)).dropna(axis=1, thresh=int(0.9 * len(frame)))
    if target not in logs or part not in logs:
        return ""
    others = [c for c in logs.columns if c not in (target, part)]
    others = [c for c in others if not _made_of(logs, c, [target, part])]
    logs = logs[[target, part, *others]].dropna()
    if len(logs) < 3 * logs.shape[1]:
        return ""
    rest = logs[target] - logs[part]
    fitted = _fit(logs[others], rest)
    if _r2_of(logs[target], logs[part] + fitted) >= R2_DERIVED and (
        _r2_of(logs[target], _fit(logs[others], logs[target])) < R2_DERIVED
    ):
        return "a product or ratio"
    return ""


def _is_sum(frame: pd.DataFrame, target: str, part: str, others: list[str]) -> bool:
    from scipy.optimize import nnls

    rest = (frame[target] - frame[part]).to_numpy(dtype=float)
    ones = np.ones(len(frame))
    design = np.column_stack([*(frame[c].to_numpy(dtype=float) for c in others), ones, -ones])
    coef, _ = nnls(design, rest)
    if _r2_of(frame[target], frame[part] + design @ coef) < R2_DERIVED:
        return False
    # The sum must need `part`: a total the other columns make without it (a national
    # rainfall from the regions' rainfalls) is no sum of a column that merely rides along.
    alone, _ = nnls(design, frame[target].to_numpy(dtype=float))
    return bool(_r2_of(frame[target], design @ alone) < R2_DERIVED)


def _fit(columns: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """Least-squares fitted values of y on the columns and an intercept."""
    design = np.column_stack([np.ones(len(columns)), columns.to_numpy(dtype=float)])
    coef, *_ = np.linalg.lstsq(design, y.to_numpy(dtype=float), rcond=None)
    fitted: np.ndarray = design @ coef
    return fitted


def _r2_of(y: pd.Series, fitted: Any) -> float:
    values = y.to_numpy(dtype=float)
    residual = float(((values - np.asarray(fitted, dtype=float)) ** 2).sum())
    total = float(((values - values.mean()) ** 2).sum())
    return 1 - residual / total if total else 0.0


def _made_of(frame: pd.DataFrame, column: str, sources: list[str]) -> bool:
    both = frame[[column, *sources]].dropna()
    return len(both) >= 10 and _r2_of(both[column], _fit(both[sources], both[column])) >= R2_DERIVED


# ---------------------------------------------------------------- class 9


def not_fewest(details: Details, truth: Truth) -> list[str]:
    basis = details.get("basis")
    column, worst = details.get("segment_column"), details.get("worst")
    if column not in truth.frame or worst is None or basis == "average":
        return []
    rows = truth.select(details.get("filters", []))
    keys = as_labels(rows[column])[rows[column].notna()]
    sizes = keys.value_counts()
    named = str(worst)
    if named not in sizes.index:
        return []
    smaller = sizes[sizes < sizes[named]]
    if basis == "rows" or details.get("measure") == "rows":
        if len(smaller):
            return [
                f"fewest named {named} ({sizes[named]} rows) while {len(smaller)} smaller "
                f"group(s) exist, e.g. {smaller.index[-1]} ({smaller.iloc[-1]} rows)"
            ]
        return []
    values = pd.to_numeric(rows.loc[keys.index, details["measure"]], errors="coerce")
    sums = values.groupby(keys).sum()
    lower = [g for g in smaller.index if sums[g] < sums[named]]
    if lower:
        return [
            f"lowest total named {named} ({sums[named]:.4g}) while the smaller group "
            f"{lower[-1]} has {sums[lower[-1]]:.4g}"
        ]
    return []
