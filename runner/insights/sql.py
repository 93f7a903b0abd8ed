"""Quoting for the SQL we build: DuckDB table functions take no bind parameters for
options and identifiers, so every name and literal from a file goes through here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def ident(name: str) -> str:
    """A quoted identifier: column names come from files and may contain anything."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal for a string, path, number, bool, list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str | Path):
        return "'" + str(value).replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def options(settings: Mapping[str, Any]) -> str:
    """Named table-function arguments: delim = ';', header = true, ... (empty maps skipped)."""
    return ", ".join(
        f"{key} = {literal(value)}"
        for key, value in settings.items()
        if not (isinstance(value, Mapping) and not value)
    )


def run(con: DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    """Execute and fetch every row (DuckDB 2 refuses new work while a result is unfetched)."""
    return con.execute(query).fetchall()


def scalar(con: DuckDBPyConnection, query: str) -> Any:
    """The first value of the first row (None for no rows)."""
    rows = run(con, query)
    return rows[0][0] if rows else None
