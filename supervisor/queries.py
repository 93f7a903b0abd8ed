"""The named SQL statements of `sql/queries.sql`."""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def _load() -> dict[str, str]:
    text = (resources.files("supervisor") / "sql" / "queries.sql").read_text()
    parts = _NAME.split(text)  # [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


SQL = _load()
