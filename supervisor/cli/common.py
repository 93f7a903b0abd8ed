"""What the operating commands share: duration, file and job-id arguments, ranges that
PostgreSQL can hold, aligned tables."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from supervisor import durations
from supervisor.errors import JobsupError

INT4 = click.IntRange(-(2**31), 2**31 - 1)  # an INTEGER column
COUNT = click.IntRange(1, 2**31 - 1)  # a LIMIT, a batch, a number of slots
MOST_SECONDS = 100 * 365 * 86400  # a timestamp this far off still fits PostgreSQL's range


class Duration(click.ParamType[float]):
    """`30s`, `15m`, `2h`, `7d` (or plain seconds) → seconds, up to 100 years."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            seconds = float(value) if isinstance(value, float | int) else durations.parse(value)
        except JobsupError as e:
            self.fail(str(e), param, ctx)
        if seconds > MOST_SECONDS:
            self.fail(f"{value!r}: at most 100 years (5200w)", param, ctx)
        return seconds


class ExistingFile(click.ParamType[Path]):
    """A regular file (or a link to one), as an absolute path; anything else says what it is."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(value).expanduser().absolute()
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            broken = " (a broken symbolic link)" if path.is_symlink() else ""
            self.fail(f"{value}: no such file{broken}", param, ctx)
        except OSError as e:
            self.fail(f"{value}: {e.strerror}", param, ctx)
        if not stat.S_ISREG(mode):
            self.fail(f"{value}: {_kind(mode)}, not a regular file", param, ctx)
        if not os.access(path, os.R_OK):
            self.fail(f"{value}: not readable (permission denied)", param, ctx)
        return path


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


MIN_PREFIX = 8
_ID_PREFIX = re.compile(r"^[0-9a-f]{8}(?:-?[0-9a-f]){0,24}-?$")


class JobId(click.ParamType[str]):
    """A job id or a prefix of one (8 hex digits or more), in lower case with its dashes.

    A prefix is turned into the job it names by `admin.resolve`, once there is a database.
    """

    name = "job_id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip().lower()
        if not _ID_PREFIX.match(text):
            self.fail(
                f"{value!r} is not a job id: give the id `jobs list` shows, or its first "
                f"{MIN_PREFIX} characters or more",
                param,
                ctx,
            )
        digits = text.replace("-", "")
        parts = (digits[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
        return "-".join(part for part in parts if part)


DURATION = Duration()
EXISTING_FILE = ExistingFile()
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


def progress_text(progress: Any, none: str = "-") -> str:
    """A job's progress as a person reads it: `12/80 (15%) page 12`; `none` for none."""
    if not isinstance(progress, dict) or not isinstance(progress.get("done"), int | float):
        return none
    done, total = progress["done"], progress.get("total")
    text = f"{done:g}"
    if isinstance(total, int | float) and total > 0:
        text += f"/{total:g} ({min(100.0, 100 * done / total):.0f}%)"
    note = first_line(str(progress.get("note") or ""), 40)
    return f"{text} {note}" if note else text
