"""A job's insights as its page shows them: the executive summary first, then the others by
rank, each with its chart and its figures as a table (the figure as printed, its value, and
what it is, read from the recipe `details.figures` gives it).

Insights are JSON a handler wrote: every key may be missing or of another type, and a kind
not known here is shown with its title, summary and figures, never refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supervisor.web import insight_charts, present
from supervisor.web.insight_charts import Drawn

AGGREGATIONS = {
    "sum": "total", "mean": "average", "median": "median", "min": "lowest", "max": "highest",
    "count": "count of values of", "distinct": "distinct values of",
}  # fmt: skip
AT = {"start": "fitted value at the start", "end": "fitted value at the end",
      "change": "fitted change", "r2": "R² of the fit"}  # fmt: skip
MAX_FIGURES = 40  # rows of a figures table; the rest are counted


@dataclass(frozen=True)
class Figure:
    """One row of an insight's figures table."""

    text: str  # as the title or summary prints it
    value: str  # the value stored, with its precision
    what: str  # what it is, from its recipe


@dataclass
class Insight:
    anchor: str  # the id of its article, which the summary's highlights link to
    rank: int | None
    type: str
    confidence: float | None
    title: str | None
    summary: str
    drawn: Drawn | None = None
    figures: list[Figure] = field(default_factory=list)
    more_figures: int = 0
    details: list[present.Entry] = field(default_factory=list)
    file: str | None = None
    raw: str | None = None  # content with no title: shown as JSON
    highlights: list[tuple[str, str]] = field(default_factory=list)  # (link, text): a summary's


def ranked(rows: Sequence[Mapping[str, Any]]) -> tuple[Insight | None, list[Insight]]:
    """(the executive summary, if any; the other insights, by rank, then as stored)."""
    shown = [_insight(row, n) for n, row in enumerate(rows, start=1)]
    first = next((n for n, i in enumerate(shown) if i.type == "summary" and i.title), None)
    summary = shown.pop(first) if first is not None else None
    shown.sort(key=lambda i: (i.rank is None, i.rank or 0))
    if summary is not None and first is not None:
        content = rows[first].get("content")
        details = content.get("details") if isinstance(content, Mapping) else None
        summary.highlights = highlights(details, {i.rank: i.anchor for i in shown if i.rank})
    return summary, shown


def _insight(row: Mapping[str, Any], n: int) -> Insight:
    content = row.get("content")
    kind = str(row.get("insight_type") or "-")
    confidence = row.get("confidence_score")
    confidence = confidence if isinstance(confidence, int | float) else None
    if not isinstance(content, Mapping) or "title" not in content:
        return Insight(f"insight-n{n}", None, kind, confidence, None, "",
                       raw=present.as_json(content))  # fmt: skip
    details = content.get("details")
    details = details if isinstance(details, Mapping) else {}
    rank = details.get("rank")
    rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else None
    figures = [f for f in details.get("figures") or [] if isinstance(f, Mapping)] \
        if isinstance(details.get("figures"), list) else []  # fmt: skip
    rest = {k: v for k, v in details.items() if k != "figures"}
    file = details.get("file")
    return Insight(
        anchor=f"insight-{rank}" if rank is not None else f"insight-n{n}",
        rank=rank,
        type=kind,
        confidence=confidence,
        title=str(content["title"]),
        summary=str(content.get("summary") or ""),
        drawn=insight_charts.draw(kind, details),
        figures=[_figure(f) for f in figures[:MAX_FIGURES]],
        more_figures=max(len(figures) - MAX_FIGURES, 0),
        details=present.details(rest) if rest else [],
        file=str(file) if file is not None else None,
    )


def highlights(details: Any, anchors: Mapping[int, str]) -> list[tuple[str, str]]:
    """(link, title) of each highlight a summary's details list: `#insight-<rank>` or ""."""
    if not isinstance(details, Mapping) or not isinstance(details.get("highlights"), list):
        return []
    found = []
    for h in details["highlights"]:
        if isinstance(h, Mapping) and h.get("title"):
            rank = h.get("rank")
            link = f"#{anchors[rank]}" if isinstance(rank, int) and rank in anchors else ""
            found.append((link, str(h["title"])))
    return found


# -- the figures table -----------------------------------------------------------------------


def _figure(f: Mapping[str, Any]) -> Figure:
    value = f.get("value")
    shown = _value(value, f.get("unit"))
    return Figure(str(f.get("text") if f.get("text") is not None else shown), shown, describe(f))


def _value(value: Any, unit: Any) -> str:
    """The stored value to six significant digits; a fraction printed as a percentage as one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return present.figure(value)
    if unit == "percent":
        return f"{value * 100:,.6g}%"
    if unit == "multiple":
        return f"{value:,.6g}x"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def describe(recipe: Any) -> str:
    """What a figure is, in words, from its recipe (eval_insights.py's docstring lists them):
    `total revenue where channel = online`, `change from … to …`."""
    if not isinstance(recipe, Mapping):
        return ""
    kind = str(recipe.get("kind") or "")
    describer: Callable[[Mapping[str, Any]], str] = _DESCRIBE.get(kind, _other)
    text = describer(recipe)
    if recipe.get("absolute"):
        text += " (without its sign)"
    return text


def _aggregate(r: Mapping[str, Any]) -> str:
    aggregation = str(r.get("aggregation") or "")
    measure = r.get("measure")
    if aggregation == "rows" or measure is None:
        text = "number of rows"
    else:
        text = f"{AGGREGATIONS.get(aggregation, aggregation)} {measure}"
    if r.get("approximate"):
        text += " (approximate)"
    return text + _filters(r.get("filters"))


def _filters(filters: Any) -> str:
    if not isinstance(filters, list):
        return ""
    parts = [_filter(f) for f in filters if isinstance(f, Mapping)]
    return f" where {' and '.join(parts)}" if parts else ""


def _filter(f: Mapping[str, Any]) -> str:
    column = str(f.get("column"))
    if "part" in f:
        return f"{f['part']} of {column} = {f.get('equals')}"
    if "equals" in f:
        return f"{column} = {f['equals']}"
    if "from" in f or "before" in f:
        return f"{column} from {f.get('from', '…')} to before {f.get('before', '…')}"
    if "missing" in f:
        return f"{column} {'missing' if f['missing'] else 'present'}"
    if "op" in f:
        return f"{column} {f['op']} {present.figure(f.get('value'))}"
    if "outside" in f:
        return f"{column} outside {f['outside']}"
    return present.as_json(dict(f))


def _fit(r: Mapping[str, Any]) -> str:
    what = AT.get(str(r.get("at")), "fit")
    model, grain = r.get("model") or "linear", r.get("grain") or "period"
    span = f"{r.get('from')} to before {r.get('before')}"
    return f"{what}: {model} fit of {_aggregate(r)} per {grain}, {span}"


def _correlation(r: Mapping[str, Any]) -> str:
    what = "number of pairs" if r.get("at") == "n" else "correlation"
    within = f", within each {r['within_groups']}" if r.get("within_groups") else ""
    return f"{what} of {r.get('x')} and {r.get('y')} over {r.get('over') or 'rows'}{within}" + (
        _filters(r.get("filters"))
    )


def _other(r: Mapping[str, Any]) -> str:
    """A kind not described here: its name and its plain fields."""
    plain = {k: v for k, v in r.items() if isinstance(v, str | int | float)}
    fields = ", ".join(f"{k} {v}" for k, v in plain.items() if k not in ("kind", "text", "value"))
    return f"{present.label(str(r.get('kind') or 'figure'))}" + (f": {fields}" if fields else "")


_DESCRIBE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "aggregate": _aggregate,
    "share": lambda r: f"share: {describe(r.get('part'))}, of {describe(r.get('whole'))}",
    "change": lambda r: f"change from {describe(r.get('from'))} to {describe(r.get('to'))}",
    "ratio": lambda r: (
        f"{describe(r.get('numerator'))} divided by {describe(r.get('denominator'))}"
    ),
    "difference": lambda r: f"{describe(r.get('minuend'))} minus {describe(r.get('subtrahend'))}",
    "fit": _fit,
    "baseline": lambda r: (
        f"usual level: {_aggregate(r)}, median of the neighbouring "
        f"{r.get('grain') or 'period'}s around {r.get('period')}"
    ),
    "seasonal_expected": lambda r: (
        f"expected level: {_aggregate(r)}, trend times seasonal index "
        f"of the {r.get('grain') or 'period'} {r.get('period')}"
    ),
    "correlation": _correlation,
    "variance_share": lambda r: (
        f"share of the variation of {r.get('measure') or 'rows'} per "
        f"{r.get('per')} explained by "
        f"{(r.get('by') or {}).get('part') or (r.get('by') or {}).get('column')}"
    ),
    "top_share": lambda r: (
        f"share of {r.get('measure') or 'rows'} from the top {r.get('top')} {r.get('entity')}"
    ),
    "unreadable_share": lambda r: f"share of {r.get('column')} values that could not be read",
    "duplicate_rows": lambda r: "duplicate rows",
    "columns": lambda r: "number of columns",
    "span_days": lambda r: f"days from the first {r.get('column')} to the last",
    "missing_columns": lambda r: "columns with missing values",
    "period": lambda r: f"period of {r.get('column')} ({r.get('grain')})",
    "label": lambda r: f"a value of {r.get('column')}",
    "parameter": lambda r: f"setting: {r.get('name') or 'of the analysis'}",
}
