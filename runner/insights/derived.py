"""Derived columns: measures that are another column in disguise, so never a finding.

A column against its own logarithm, revenue beside quantity and unit price (their
product), a salary in dollars beside the same salary in thousands, career hits beside
career at-bats, a total beside its parts: they move together by construction, and
"strongly linked" says nothing about the business. Two measures are mechanically linked
when, on a sample of rows, |r| >= `LINKED` between them as they are or between one and the
other's logarithm (a monotone map close to linear on one of the two scales), or when one is
the sum of others (totals.py), or the product or ratio of two. Of a linked pair, the one
that is not the question's target (else the later one in the file) is called derived; each
is named once, with what it follows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from typing import TYPE_CHECKING, Any

from runner.insights.model import Column, Table
from runner.insights.sql import run
from runner.insights.totals import Sums

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

LINKED = 0.98
MAX_PRODUCT_MEASURES = 12  # triples checked for t = a * b or a / b
PRODUCT_ROWS = 200
MIN_ROWS = 20
SAMPLE_ROWS = 50_000
MAX_MEASURES = 24  # beyond this many measures, only pairs with the targets are checked


@dataclass(frozen=True)
class Derived:
    """A measure that follows another one by construction."""

    column: Column
    source: Column
    how: str  # "a transform of", "the sum of ... with"
    r: float | None = None  # the correlation that gave it away (None for sums)


def find_derived(
    con: DuckDBPyConnection,
    table: Table,
    measures: list[Column],
    targets: list[Column],
    sums: Sums,
) -> list[Derived]:
    """Every measure that is a transform of another, or a sum of others (targets kept)."""
    names = {m.name: i for i, m in enumerate(targets)}
    pairs = _pairs(measures, targets)
    found: dict[str, Derived] = {}
    for total, ways in sums.items():
        for parts in ways:
            for part in parts:
                _keep(found, _sum_link(table, total, part, names))
    for made, a, b, how in _products(con, table, measures):
        if made.name in names:
            _keep(found, Derived(a, made, "a factor of"))
            _keep(found, Derived(b, made, "a factor of"))
        else:
            _keep(found, Derived(made, a, f"the {how} of {b.label} and"))
    if pairs:
        for (a, b), (raw, logged) in zip(pairs, _correlations(con, table, pairs), strict=True):
            linked = [r for r in (raw, logged) if r is not None and abs(r) >= LINKED]
            if linked:
                _keep(found, _transform(a, b, linked[0], names, measures))
    return list(found.values())


def _products(
    con: DuckDBPyConnection, table: Table, measures: list[Column]
) -> list[tuple[Column, Column, Column, str]]:
    """(t, a, b, 'product' or 'ratio'): t = a * b or t = a / b on every sampled row where all
    three are filled (revenue = quantity x unit price), within rounding."""
    kept = measures[:MAX_PRODUCT_MEASURES]
    if len(kept) < 3:
        return []
    select = ", ".join(m.expr for m in kept)
    rows = run(con, f"SELECT {select} FROM {table.sql} LIMIT {PRODUCT_ROWS}")
    found = []
    for t, a, b in permutations(range(len(kept)), 3):
        if a < b and _holds(rows, t, a, b, lambda x, y: x * y):
            found.append((kept[t], kept[a], kept[b], "product"))
        elif _holds(rows, t, a, b, lambda x, y: x / y if y else math.nan):
            found.append((kept[t], kept[a], kept[b], "ratio"))
    return found


def _holds(
    rows: list[tuple[Any, ...]], t: int, a: int, b: int, op: Callable[[float, float], float]
) -> bool:
    checked = 0
    for row in rows:
        if row[t] is None or row[a] is None or row[b] is None:
            continue
        made, value = op(float(row[a]), float(row[b])), float(row[t])
        if math.isnan(made) or abs(made - value) > 0.006 + 0.002 * abs(value):
            return False
        checked += 1
    return checked >= MIN_ROWS


def _pairs(measures: list[Column], targets: list[Column]) -> list[tuple[Column, Column]]:
    """Ordered pairs (a, b): b is compared with log(a) too, so both orders count."""
    if len(measures) <= MAX_MEASURES:
        return list(permutations(measures, 2))
    return [(a, b) for a in measures for b in measures if a != b and (a in targets or b in targets)]


def _correlations(
    con: DuckDBPyConnection, table: Table, pairs: list[tuple[Column, Column]]
) -> list[tuple[float | None, float | None]]:
    """Per ordered pair, corr(a, b) and corr(ln a, b) over rows where a > 0."""
    parts = []
    for a, b in pairs:
        parts.append(f"corr({a.expr}, {b.expr})")
        parts.append(f"corr(CASE WHEN {a.expr} > 0 THEN ln({a.expr}) END, {b.expr})")
    # A sample tells |r| >= 0.98 as surely as the whole table, at a fraction of a scan.
    source = f"(SELECT * FROM {table.sql} USING SAMPLE {SAMPLE_ROWS} ROWS)"
    row = run(con, f"SELECT {', '.join(parts)} FROM {source}")[0]
    values = [None if v is None else float(v) for v in row]
    return [(values[2 * i], values[2 * i + 1]) for i in range(len(pairs))]


def _transform(
    a: Column, b: Column, r: float, targets: dict[str, int], measures: list[Column]
) -> Derived:
    """The target is the source (of two targets, the first asked about); otherwise the
    later column in the file follows the earlier one."""
    files = {m.name: i for i, m in enumerate(measures)}

    def order(c: Column) -> tuple[int, int]:
        return (targets.get(c.name, len(targets)), files[c.name])

    if order(a) > order(b):
        a, b = b, a
    return Derived(column=b, source=a, how="a transform of", r=r)


def _sum_link(table: Table, total: str, part: str, targets: dict[str, int]) -> Derived | None:
    if total in targets and part in targets:
        return None
    if total in targets:
        return Derived(table.column(part), table.column(total), "a part of")
    return Derived(table.column(total), table.column(part), "a sum including")


def _keep(found: dict[str, Derived], derived: Derived | None) -> None:
    """The first reason a column is derived (each is named once)."""
    if derived is not None and derived.column.name not in found:
        found[derived.column.name] = derived


def derived_names(derived: list[Derived]) -> set[str]:
    """The names of the derived columns."""
    return {d.column.name for d in derived}
