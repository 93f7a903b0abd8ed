"""What the operating commands share: duration and job-id arguments, aligned tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import click

from supervisor import durations
from supervisor.errors import JobsupError


class Duration(click.ParamType[float]):
    """`30s`, `15m`, `2h`, `7d` (or plain seconds) → seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | int):
            return float(value)
        try:
            return durations.parse(str(value))
        except JobsupError as e:
            self.fail(str(e), param, ctx)


class JobId(click.ParamType[str]):
    """A job id (a UUID), normalised to its canonical text."""

    name = "job_id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            self.fail(f"{value!r} is not a job id (a UUID, as `jobs list` shows)", param, ctx)


DURATION = Duration()
JOB_ID = JobId()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> str:
    """`rows` under `headers` in left-aligned columns (None shows as `-`)."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(indent + line.rstrip() for line in lines)


def first_line(text: str | None, width: int = 80) -> str:
    """The first line of `text`, cut to `width` characters."""
    line = (text or "").split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"
