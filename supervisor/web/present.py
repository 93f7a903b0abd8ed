"""How values read on the dashboard: durations, times, short ids, figures, and an insight's
`details` laid out for a person (Jinja filters; the templates escape what they return)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervisor.durations import human

SHORT_ID = 8  # characters of a job id shown in lists; /jobs/<prefix> takes them back
OUTPUT_MARK = "\n--- last output ---\n"  # outcome._with_output puts the output tail after it
MAX_ROWS = 12  # rows of a list shown in an insight's details; the rest is counted
MAX_DEPTH = 3


def short_id(job_id: str | None) -> str:
    return (job_id or "")[:SHORT_ID]


def duration(seconds: float | None) -> str:
    return human(seconds)


def when(value: datetime | str | None) -> str:
    """`2026-11-29 01:09:38`: to the second, without a zone (the seed's columns have none)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def figure(value: Any) -> str:
    """A number as a reader wants it: 1,234 / 12.5 / 0.123; anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{value:,.0f}"
    magnitude = abs(value)
    if magnitude >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"


def label(key: str) -> str:
    """`change_pct` → `change pct`, `peakMemory` → `peak memory`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key)
    return re.sub(r"[_\s]+", " ", spaced).strip().lower() or key


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def split_output(message: str | None) -> tuple[str, str]:
    """(the error with its traceback, the output tail) of a stored error message."""
    error, _, output = (message or "").partition(OUTPUT_MARK)
    return error.rstrip(), output.rstrip()


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    more: int = 0  # rows not shown


@dataclass
class Entry:
    """One line of an insight's details: a label and a value, a table, or entries below."""

    label: str
    text: str = ""
    table: Table | None = None
    entries: list[Entry] = field(default_factory=list)


def details(value: Any, depth: int = 0) -> list[Entry]:
    """The figures of an insight's `details`, every key a line; lists of records as tables."""
    if not isinstance(value, dict):
        return [Entry("value", _text(value))]
    return [_entry(label(str(k)), v, depth) for k, v in value.items()]


def _entry(name: str, value: Any, depth: int) -> Entry:
    if isinstance(value, dict) and depth < MAX_DEPTH:
        return Entry(name, entries=details(value, depth + 1))
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return Entry(name, table=_records(value))
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return Entry(name, table=_rows(value))
    return Entry(name, _text(value))


def _records(records: list[dict[str, Any]]) -> Table:
    headers = list(dict.fromkeys(k for r in records for k in r))
    shown = records[:MAX_ROWS]
    rows = [[_text(r.get(h)) for h in headers] for r in shown]
    return Table([label(h) for h in headers], rows, len(records) - len(shown))


def _rows(rows: list[list[Any]]) -> Table:
    shown = rows[:MAX_ROWS]
    return Table([], [[_text(v) for v in row] for row in shown], len(rows) - len(shown))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return as_json(value)
    return figure(value)


FILTERS = {
    "short_id": short_id, "duration": duration, "when": when, "figure": figure,
    "label": label, "as_json": as_json,
}  # fmt: skip
