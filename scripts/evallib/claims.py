"""Checking an insight: every figure it prints re-derived, its claims in words re-checked."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from evallib.keys import Details
from evallib.printed import NUMBER, close, parse_shown
from evallib.truth import (
    Truth,
    Underivable,
    as_label,
    as_labels,
    derive,
    number,
    part_values,
    recipes,
)


@dataclass
class Verdict:
    """What the checks of one insight found."""

    true: int = 0
    false: list[str] = field(default_factory=list)
    underivable: list[str] = field(default_factory=list)


def check_figure(figure: Details, truth: Truth) -> tuple[bool | None, str]:
    """(True, '') when the figure is re-derived, (False, why) when not, (None, why) when it
    cannot be re-derived."""
    kind, text, value = figure.get("kind"), str(figure.get("text", "")), figure.get("value")
    if value is None:
        return None, f"{text!r}: no value"
    if kind == "period":
        return _check_period(figure, truth)
    if kind == "label":
        column = truth.column(figure.get("column"))
        if figure.get("part"):
            column = part_values(truth, truth.frame, figure)
        values = set(as_labels(column.dropna()))
        ok = as_label(figure.get("value")) in values
        return ok, "" if ok else f"{text!r}: no such value in {figure.get('column')}"
    try:
        derived = derive(figure, truth)
    except Underivable as exc:
        return None, f"{text!r}: {exc}"
    if isinstance(derived, str) or isinstance(value, str):
        ok = str(value) == str(derived)[: len(str(value))] and str(value) in text
        return ok, "" if ok else f"{text!r}: the data says {derived}"
    if figure.get("approximate") and figure.get("aggregation") == "median":
        values = truth.numbers(truth.select(figure.get("filters", [])), figure["measure"])
        low, high = values.quantile(0.48), values.quantile(0.52)
        ok = low - 1e-9 <= float(value) <= high + 1e-9
    else:
        ok = close(float(derived), float(value))
    shown = parse_shown(text)
    if shown is None:
        return False, f"{text!r}: no number in the text"
    stated, half = shown
    scale = 100.0 if figure.get("unit") == "percent" and not text.strip().endswith("%") else 1.0
    shown_ok = close(float(value), stated / scale, half * 1.001)
    if ok and shown_ok:
        return True, ""
    return False, f"{text!r}: the data says {float(derived):.6g} (value {value})"


def _check_period(figure: Details, truth: Truth) -> tuple[bool, str]:
    start = pd.Timestamp(figure["from"])
    grain = figure["grain"]
    labels = {
        "year": start.strftime("%Y"),
        "quarter": f"Q{start.quarter} {start.year}",
        "month": start.strftime("%B %Y"),
        "week": f"week of {start.date().isoformat()}",
        "day": start.date().isoformat(),
    }
    stamps = truth.times(figure["column"])
    end = (
        start
        + {
            "year": pd.DateOffset(years=1),
            "quarter": pd.DateOffset(months=3),
            "month": pd.DateOffset(months=1),
            "week": pd.DateOffset(weeks=1),
            "day": pd.DateOffset(days=1),
        }[grain]
    )
    inside = ((stamps >= start) & (stamps < end)).any()
    ok = labels[grain] == figure.get("text") and bool(inside)
    return (
        ok,
        "" if ok else f"{figure.get('text')!r}: the {grain} of {start.date()} is {labels[grain]!r}",
    )


def unaccounted(row: Details, columns: Iterable[str] = ()) -> list[str]:
    """Numbers in the title and summary that no figure, label or name accounts for; columns
    are the table's column names, whose digits ('Num collections last 12m', 'm1') are part
    of a name wherever it is printed, as it is or humanized."""
    content = row["content"]
    details = content["details"]
    text = f"{content['title']}\n{content['summary']}"
    text = re.sub(r"“[^”]*”", " ", text)  # the business description, quoted: not a claim
    figures = details.get("figures") or []
    known = [str(f.get("text", "")) for f in figures]
    known += [str(details.get("file", ""))] + [str(f) for f in details.get("files") or []]
    names = []
    for f in recipes(figures):
        names += [str(f.get(k)) for k in ("measure", "column", "x", "y", "entity") if f.get(k)]
        for c in f.get("filters", []):
            # A segment's value (9E, B6) is a name; its claims are checked elsewhere.
            names += [str(c[k]) for k in ("column", "equals") if c.get(k) is not None]
    listed = details.get("columns")
    for entry in listed if isinstance(listed, list) else []:
        names.append(str(entry.get("column") if isinstance(entry, dict) else entry))
    keys = ("measure", "segment_column", "segment", "best", "worst")
    names += [str(details.get(k)) for k in keys if details.get(k)]
    # First the table's column names, as whole names: one with digits and letters ('last
    # 12m', 'm1'; before the figures, whose '1' would split '12m'), out of the text and of
    # the figures' texts alike ('0 num collections last 12m'); a name that is only a number
    # ('2019') stays a number.
    shown_names = {
        shown
        for name in columns
        if re.search(r"[A-Za-z]", str(name)) and re.search(r"\d", str(name))
        for shown in (str(name), str(name).replace("_", " "), _humanized(str(name)))
        if shown
    }
    wholes = [
        re.compile(rf"(?<![A-Za-z0-9]){re.escape(shown)}(?![A-Za-z0-9])", re.IGNORECASE)
        for shown in sorted(shown_names, key=len, reverse=True)
    ]

    def unnamed(printed: str) -> str:
        for whole in wholes:
            printed = whole.sub(" ", printed)
        return printed

    text = unnamed(text)
    for name in sorted({unnamed(k) for k in known}, key=len, reverse=True):
        text = text.replace(name, " ") if name.strip() else text
    for name in sorted(set(names), key=len, reverse=True):
        # A column name as printed: as it is, with spaces for _, or humanized, any case
        # ("co2" printed "Co2" at the start of a sentence).
        for shown in {name, name.replace("_", " "), _humanized(name)}:
            if shown:
                text = re.sub(re.escape(shown), " ", text, flags=re.IGNORECASE)
    return NUMBER.findall(text)


def _humanized(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[\s_\-.]+", " ", spaced).strip().lower()


def check_claims(row: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    """The claims an insight makes in words, re-checked with pandas."""
    checks = {
        "segment_comparison": _check_segments,
        "trend": _check_trend,
        "anomaly": _check_anomaly,
        "seasonality": _check_seasonality,
        "correlation": _check_correlation,
    }
    check = checks.get(row["insight_type"])
    if check is None:
        return []
    try:
        return check(row["content"]["details"], truth)
    except (Underivable, KeyError, TypeError, ValueError) as exc:
        return [(None, f"{row['insight_type']}: {type(exc).__name__}: {exc}")]


def _check_segments(d: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    rows = truth.select(d.get("filters", []))
    keys = as_labels(rows[d["segment_column"]])
    if d.get("basis") == "rows" or d.get("measure") == "rows":
        sizes = keys[rows[d["segment_column"]].notna()].value_counts()
        sizes = sizes[sizes >= d.get("min_rows", 5)]
        best, worst = sizes.idxmax(), sizes.idxmin()
        tied = {"highest": list(sizes[sizes == sizes.max()].index),
                "lowest": list(sizes[sizes == sizes.min()].index)}  # fmt: skip
    elif d.get("basis") == "average":
        values = truth.numbers(rows, d["measure"])
        grouped = values.groupby(keys[rows[d["segment_column"]].notna()]).agg(["mean", "count"])
        grouped = grouped[grouped["count"] >= d.get("min_rows", 5)]
        best, worst = grouped["mean"].idxmax(), grouped["mean"].idxmin()
        tied = {}
    else:
        values = truth.numbers(rows, d["measure"])
        grouped = values.groupby(keys[rows[d["segment_column"]].notna()]).agg(["sum", "count"])
        grouped = grouped[grouped["count"] >= d.get("min_rows", 5)]
        best, worst = grouped["sum"].idxmax(), grouped["sum"].idxmin()
        tied = {}
    out: list[tuple[bool | None, str]] = []
    for said, truth_value, word in ((d["best"], best, "highest"), (d["worst"], worst, "lowest")):
        level = tied.get(word, [truth_value])  # any of the segments level with it
        ok = as_label(said) in {str(v) for v in level}
        out.append((ok, "" if ok else f"{word} is {truth_value}, not {said}"))
    return out


def _check_trend(d: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    fit = d.get("fit")
    if not fit:
        return [(None, "trend: no fit recipe in details")]
    slope = derive({**fit, "kind": "fit", "at": "slope"}, truth)
    ok = (slope > 0) == (d["direction"] == "up")
    return [(ok, "" if ok else f"the fitted slope is {slope:.4g}, not {d['direction']}")]


def _check_anomaly(d: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    out: list[tuple[bool | None, str]] = []
    for m in d.get("measures", []):
        if "value" not in m or "expected" not in m:
            continue
        above = float(m["value"]) > float(m["expected"])
        ok = above == (d["direction"] == "spike")
        out.append((ok, "" if ok else f"{m['measure']}: {d['direction']} but value vs expected"))
    return out


def _check_seasonality(d: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    levels = d.get("levels")
    if not levels:
        return [(None, "seasonality: no levels in details")]
    derived = {int(entry["equals"]): number(derive(entry["recipe"], truth)) for entry in levels}
    peak, trough = max(derived, key=derived.__getitem__), min(derived, key=derived.__getitem__)
    out: list[tuple[bool | None, str]] = []
    for said, real, word in ((d["peak"], peak, "peak"), (d["trough"], trough, "trough")):
        ok = int(said) == real
        out.append((ok, "" if ok else f"the {word} is {real}, not {said}"))
    return out


def _check_correlation(d: Details, truth: Truth) -> list[tuple[bool | None, str]]:
    recipe = d.get("recipe")
    if not recipe:
        return [(None, "correlation: no recipe in details")]
    r = derive({**recipe, "kind": "correlation", "at": "r"}, truth)
    ok = (r > 0) == (d["sign"] == "positive")
    return [(ok, "" if ok else f"r is {r:+.3f}, not {d['sign']}")]


def verify(row: Details, truth: Truth) -> Verdict:
    """Every figure and claim of one insight row, re-checked."""
    verdict = Verdict()
    details = row["content"]["details"]
    results = [
        check_figure(f, truth) for f in details.get("figures") or [] if f.get("kind") != "parameter"
    ]
    results += check_claims(row, truth)
    columns = [str(c) for c in truth.frame.columns]
    results += [(None, f"{n!r} is stated with no recipe") for n in unaccounted(row, columns)]
    for ok, why in results:
        if ok:
            verdict.true += 1
        elif ok is None:
            verdict.underivable.append(why)
        else:
            verdict.false.append(why)
    return verdict
