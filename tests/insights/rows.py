"""Reading the analysis workflow's insight rows in tests (shared by the test modules; fixtures
stay in conftest, which no test imports)."""

from __future__ import annotations

from typing import Any

Rows = list[dict[str, Any]]


def details(row: dict[str, Any]) -> dict[str, Any]:
    """The details of one insight row."""
    result: dict[str, Any] = row["content"]["details"]
    return result


def of_type(rows: Rows, insight_type: str) -> Rows:
    """The insight rows of one type."""
    return [r for r in rows if r["insight_type"] == insight_type]
