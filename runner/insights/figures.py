"""What produced each figure an insight states, so that anyone can compute it again.

Every number, date or period label in an insight's title and summary is written through
a `Figures` recorder, which keeps the text as printed, the value, and its recipe: the
measure, the aggregation, the filters that select the rows (a segment value, a period, a
calendar part), the grain. The list goes to `details.figures`; `scripts/eval_insights.py`
re-computes each entry with pandas from the file's data. The recipe kinds and filter
shapes are listed in that script's docstring.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner.insights.model import Column, number, percent, rounded

Recipe = dict[str, Any]
Filter = dict[str, Any]

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def equals(column: Column, value: Any) -> Filter:
    """Rows where column holds value (a segment)."""
    return {"column": column.name, "equals": value}


def within(time: Column, start: dt.date, end: dt.date) -> Filter:
    """Rows whose time falls in [start, end)."""
    return {"column": time.name, "from": start.isoformat(), "before": end.isoformat()}


def part_of(column: Column, part: str, value: int) -> Filter:
    """Rows whose time is in a calendar part (month 7, weekday 1, hour 18)."""
    return {"column": column.name, "part": part, "equals": value}


def missing(column: Column) -> Filter:
    return {"column": column.name, "missing": True}


def compare(column: Column, op: str, value: float) -> Filter:
    return {"column": column.name, "op": op, "value": value}


def aggregate(
    measure: Column | None,
    aggregation: str,
    filters: list[Filter] | None = None,
    **extra: Any,
) -> Recipe:
    """The recipe of an aggregate: measure None (or the row count) counts rows."""
    counted = measure is None or measure.is_row_count
    recipe: Recipe = {
        "kind": "aggregate",
        "measure": None if counted or measure is None else measure.name,
        "aggregation": "rows" if counted else aggregation,
        "filters": list(filters or []),
    }
    return recipe | extra


def share(part: Recipe, whole: Recipe) -> Recipe:
    return {"kind": "share", "part": part, "whole": whole}


def change(start: Recipe, end: Recipe) -> Recipe:
    return {"kind": "change", "from": start, "to": end}


def ratio(numerator: Recipe, denominator: Recipe) -> Recipe:
    return {"kind": "ratio", "numerator": numerator, "denominator": denominator}


def difference(minuend: Recipe, subtrahend: Recipe) -> Recipe:
    return {"kind": "difference", "minuend": minuend, "subtrahend": subtrahend}


class Figures:
    """The figures of one insight, recorded as they are written into its text."""

    def __init__(self) -> None:
        self.entries: list[Recipe] = []

    def add(self, text: str, value: Any, recipe: Recipe, unit: str | None = None) -> str:
        entry = {"text": text, "value": value, **recipe}
        if unit:
            entry["unit"] = unit
        self.entries.append(entry)
        return text

    def number(self, value: float, recipe: Recipe) -> str:
        return self.add(number(value), rounded(value), recipe)

    def percent(self, fraction: float, recipe: Recipe, signed: bool = False) -> str:
        return self.add(percent(fraction, signed), rounded(fraction, 6), recipe, "percent")

    def times(self, multiple: float, recipe: Recipe) -> str:
        return self.add(f"{multiple:.1f}x", rounded(multiple), recipe, "multiple")

    def count(self, value: int, recipe: Recipe) -> str:
        return self.add(f"{value:,}", value, recipe)

    def date(self, value: dt.date | dt.datetime, recipe: Recipe) -> str:
        day = value.date() if isinstance(value, dt.datetime) else value
        return self.add(day.isoformat(), day.isoformat(), recipe)

    def period(self, time: Column, grain: str, start: dt.date) -> str:
        """A period's name (July 2013, 2007, week of 2013-03-04) as the data's calendar has it."""
        text = period_label(start, grain)
        recipe = {"kind": "period", "column": time.name, "grain": grain, "from": start.isoformat()}
        return self.add(text, text, recipe)

    def label(self, column: Column, value: Any, text: str) -> str:
        """A category value printed with digits ("4 cylinders"), checked to exist."""
        return self.add(text, value, {"kind": "label", "column": column.name})

    def segment(self, column: Column, value: Any) -> str:
        """A segment value as a reader says it: 'Japan', '4 cylinders' (digits: a checked label)."""
        text = str(value)
        if text.replace(".", "", 1).lstrip("-").isdigit():
            noun = column.label
            if text == "1" and noun.endswith("s") and not noun.endswith("ss"):
                noun = noun[:-1]  # 1 engine, 2 engines
            return self.label(column, text, f"{text} {noun}")
        return text

    def parameter(self, text: str, name: str) -> str:
        """A setting of the analysis (the "10%" of "the top 10%"), not a fact of the data."""
        return self.add(text, text, {"kind": "parameter", "name": name})


def period_label(start: dt.date, grain: str) -> str:
    """How a reader names the period of grain that starts on start."""
    if grain == "year":
        return f"{start.year}"
    if grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if grain == "month":
        return f"{MONTHS[start.month - 1]} {start.year}"
    if grain == "week":
        return f"week of {start.isoformat()}"
    return start.isoformat()
