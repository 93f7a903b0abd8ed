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
MAX_COMBINED = 40  # measures checked for one being a weighted sum of others
EXACT = 0.9999  # R² of a fit that is a construction, not a relationship
MIN_ROWS = 20
SAMPLE_ROWS = 50_000
PART = "a part of"  # how a part of a target total is derived
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
    for combined, component in _combinations(con, table, measures, targets):
        if combined.name in names:
            _keep(found, Derived(component, combined, PART))
        else:
            _keep(found, Derived(combined, component, "made from"))
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


def _combinations(
    con: DuckDBPyConnection, table: Table, measures: list[Column], targets: list[Column]
) -> list[tuple[Column, Column]]:
    """(made, part): a measure that is a weighted sum of others (price = (min + max) / 2,
    total = sum of many sectors), on a sample of rows, with each part it needs: a target
    made from others, or another measure made from a target."""
    kept = (targets + [m for m in measures if m not in targets])[:MAX_COMBINED]
    if len(kept) < 3:
        return []
    select = ", ".join(m.expr for m in kept)
    filled = " AND ".join(f"{m.expr} IS NOT NULL" for m in kept)
    sample = f"SELECT {select} FROM {table.sql} WHERE {filled} LIMIT {PRODUCT_ROWS}"
    rows = [[float(v) for v in row] for row in run(con, sample)]
    if len(rows) < 3 * len(kept):
        return []
    gram = Gram(rows)
    found: list[tuple[Column, Column]] = []
    for t, made in enumerate(kept):
        others = [i for i in range(len(kept)) if i != t]
        if made not in targets and not any(kept[i] in targets for i in others):
            continue
        if gram.r2(t, others) < EXACT:
            continue
        # In an accounting identity with it: needed for it, or itself exactly made from it
        # and the rest (a sector beside its subtotals and the grand total).
        needed = [
            i
            for i in others
            if gram.r2(t, [j for j in others if j != i]) < EXACT
            or gram.r2(i, [t, *(j for j in others if j != i)]) >= EXACT
        ]
        for i in needed:
            if made in targets or kept[i] in targets:
                found.append((made, kept[i]))
    return found


class Gram:
    """Sums of products of a sample's columns (and a constant): every least-squares fit of
    one column on others is then a small solve, with no pass over the rows."""

    def __init__(self, rows: list[list[float]]) -> None:
        self.n = len(rows)
        # Standardised columns keep the solve stable when parts and subtotals are collinear.
        cols = [[1.0] * self.n] + [_standard([row[i] for row in rows]) for i in range(len(rows[0]))]
        self.products = [
            [sum(a * b for a, b in zip(x, y, strict=True)) for y in cols] for x in cols
        ]

    def r2(self, y: int, xs: list[int]) -> float:
        """R² of the fit of column y on columns xs (with an intercept)."""
        use = [0] + [i + 1 for i in xs]
        target = y + 1
        gram = [[self.products[i][j] for j in use] for i in use]
        for i in range(len(use)):
            gram[i][i] += 1e-9 * (gram[i][i] or 1.0)
        rhs = [self.products[i][target] for i in use]
        coef = _solve(gram, rhs)
        if coef is None:
            return 0.0
        yy, ysum = self.products[target][target], self.products[0][target]
        total = yy - ysum * ysum / self.n
        residual = yy - sum(c * r for c, r in zip(coef, rhs, strict=True))
        return 1 - residual / total if total > 0 else 0.0


def _standard(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    return [(v - mean) / spread for v in values]


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting (None when singular)."""
    k = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, k):
            factor = m[r][col] / m[col][col]
            if factor:
                m[r] = [x - factor * y for x, y in zip(m[r], m[col], strict=True)]
    out = [0.0] * k
    for r in range(k - 1, -1, -1):
        out[r] = (m[r][k] - sum(m[r][c] * out[c] for c in range(r + 1, k))) / m[r][r]
    return out


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
    # "In lockstep": a transform, or two series whose levels move as one (|r| >= 0.98).
    return Derived(column=b, source=a, how="in lockstep with", r=r)


def _sum_link(table: Table, total: str, part: str, targets: dict[str, int]) -> Derived | None:
    if total in targets and part in targets:
        return None
    if total in targets:
        return Derived(table.column(part), table.column(total), PART)
    return Derived(table.column(total), table.column(part), "a sum including")


def _keep(found: dict[str, Derived], derived: Derived | None) -> None:
    """The first reason a column is derived (each is named once)."""
    if derived is not None and derived.column.name not in found:
        found[derived.column.name] = derived


def derived_names(derived: list[Derived]) -> set[str]:
    """The names of the derived columns."""
    return {d.column.name for d in derived}
