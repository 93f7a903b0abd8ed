"""Named SQL statements, kept in `sql/*.sql` where a DBA can read them whole."""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load(filename: str) -> dict[str, str]:
    """The statements of `sql/<filename>`, each introduced by a `-- name: <name>` line."""
    text = (resources.files("supervisor") / "sql" / filename).read_text()
    parts = _NAME.split(text)  # [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


SQL = load("queries.sql")
