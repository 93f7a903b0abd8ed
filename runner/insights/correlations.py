"""Correlations between measures, row by row: strength, sign, and a word on causality.

A pair is reported when |r| reaches `min_correlation` and r differs from zero under a
Bonferroni-corrected t-test over all pairs. Pairs that are the same quantity twice
(|r| > 0.999, e.g. price in two currencies) say nothing and are skipped.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from runner.insights.model import Column, Insight, Table, Thresholds, rounded
from runner.insights.sql import run
from runner.insights.stats import correlation_p, sample_factor

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MAX_MEASURES = 8
SAME_QUANTITY = 0.999


def find_correlations(
    con: DuckDBPyConnection, table: Table, measures: list[Column], limits: Thresholds
) -> list[Insight]:
    """An insight per strongly correlated pair of measures."""
    pairs = list(combinations(measures[:MAX_MEASURES], 2))
    if not pairs:
        return []
    parts = ", ".join(f"corr({a.expr}, {b.expr}), regr_count({a.expr}, {b.expr})" for a, b in pairs)
    row = run(con, f"SELECT {parts} FROM {table.sql}")[0]
    found = []
    for i, (a, b) in enumerate(pairs):
        r, n = row[2 * i], int(row[2 * i + 1] or 0)
        if r is None or abs(r) < limits.min_correlation or abs(r) > SAME_QUANTITY:
            continue
        p_adjusted = min(1.0, correlation_p(float(r), n) * len(pairs))
        if p_adjusted < limits.alpha:
            found.append(_insight(a, b, float(r), n, p_adjusted))
    return found


def _strength(r: float) -> str:
    return "very strong" if abs(r) >= 0.8 else "strong" if abs(r) >= 0.6 else "moderate"


def _insight(a: Column, b: Column, r: float, n: int, p_adjusted: float) -> Insight:
    together = "rise and fall together" if r > 0 else "move in opposite directions"
    summary = (
        f"{a.label.capitalize()} and {b.label} {together} (correlation {r:+.2f} over {n:,} rows). "
        f"This is an association, not proof that one causes the other."
    )
    return Insight(
        insight_type="correlation",
        title=f"{_strength(r).capitalize()} {'positive' if r > 0 else 'negative'} link between "
        f"{a.label} and {b.label} (r = {r:+.2f})",
        summary=summary,
        details={
            "columns": [a.name, b.name],
            "r": rounded(r),
            "r2": rounded(r * r),
            "rows": n,
            "p_adjusted": p_adjusted,
            "sign": "positive" if r > 0 else "negative",
            "caution": "correlation does not establish causation; a third factor may drive both",
        },
        confidence=(1.0 - p_adjusted) * (0.5 + 0.5 * abs(r)) * sample_factor(n, 30),
        terms=frozenset(a.terms | b.terms | {"correlation"}),
        weight=abs(r),
    )
