"""Which measures are sums of others: nonfarm = private + government, total = net + tax.

A total and its parts move together by construction, so their correlation says nothing;
and a total not itself part of another speaks for its parts, so it leads. Found on a sample
of rows: a measure equals the sum of two to four others (within rounding) in every sampled
row where they are all filled.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import combinations
from typing import TYPE_CHECKING

from runner.insights.model import Column, Table
from runner.insights.sql import run

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

SAMPLE_ROWS = 200
MIN_ROWS = 3
MAX_MEASURES = 40  # beyond this many measures the search is not worth its time


Sums = dict[str, list[frozenset[str]]]  # a total's name -> the sets of parts adding up to it


def find_sums(con: DuckDBPyConnection, table: Table, measures: list[Column]) -> Sums:
    """Every measure that is the sum of others, with the parts it is the sum of."""
    if not 3 <= len(measures) <= MAX_MEASURES:
        return {}
    select = ", ".join(m.expr for m in measures)
    rows = [
        [None if v is None else float(v) for v in row]
        for row in run(con, f"SELECT {select} FROM {table.sql} LIMIT {SAMPLE_ROWS}")
    ]
    if not rows:
        return {}
    names = [m.name for m in measures]
    # One well-filled row rules out almost every combination; the rest are checked on all.
    probe = max(rows, key=lambda row: sum(v is not None for v in row))
    filled = [(float(v), i) for i, v in enumerate(probe) if v is not None]
    pairs = sorted((a + b, i, j) for (a, i), (b, j) in combinations(filled, 2))
    keys = [p[0] for p in pairs]
    sums: Sums = {}
    for target, t in filled:
        for parts in _candidates(target, t, filled, pairs, keys):
            if _adds_up(rows, t, parts):
                found = frozenset(names[i] for i in parts)
                if found not in sums.get(names[t], []):
                    sums.setdefault(names[t], []).append(found)
    return sums


def _candidates(
    target: float,
    t: int,
    filled: list[tuple[float, int]],
    pairs: list[tuple[float, int, int]],
    keys: list[float],
) -> list[tuple[int, ...]]:
    """Sets of two to four columns whose probe values add up to target (a pair of pairs,
    a column and a pair, or a pair), by bisection on the sorted pair sums."""
    found: list[tuple[int, ...]] = []
    starts: list[tuple[float, tuple[int, ...]]] = [(target, ())]
    starts += [(target - v, (i,)) for v, i in filled]
    for rest, first in starts:
        found += [(*first, i, j) for _, i, j in _near(rest, target, pairs, keys)]
    for total, a, b in pairs:
        found += [(a, b, i, j) for _, i, j in _near(target - total, target, pairs, keys)]
    return [
        parts
        for parts in {tuple(sorted(p)) for p in found}
        if t not in parts and len(set(parts)) == len(parts)
    ]


def _near(
    rest: float, target: float, pairs: list[tuple[float, int, int]], keys: list[float]
) -> list[tuple[float, int, int]]:
    tolerance = _tolerance(target)
    return pairs[bisect_left(keys, rest - tolerance) : bisect_right(keys, rest + tolerance)]


def _tolerance(target: float) -> float:
    return 0.001 * abs(target) + 0.5


def _close(summed: float, target: float) -> bool:
    return abs(summed - target) <= _tolerance(target)


def _adds_up(rows: list[list[float | None]], total: int, parts: tuple[int, ...]) -> bool:
    checked = 0
    for row in rows:
        values = [row[i] for i in parts]
        target = row[total]
        if target is None or any(v is None for v in values):
            continue
        if not _close(sum(v for v in values if v is not None), target):
            return False
        checked += 1
    return checked >= MIN_ROWS


def part_of(a: str, b: str, sums: Sums) -> bool:
    """True when a is one of the parts b adds up from, or b one of a's."""
    return any(a in parts for parts in sums.get(b, [])) or any(
        b in parts for parts in sums.get(a, [])
    )


def parts_of(sums: Sums) -> set[str]:
    """Every measure that some total adds up from."""
    return {name for ways in sums.values() for parts in ways for name in parts}


def top_totals(sums: Sums) -> set[str]:
    """The totals that are no part of another total: the headline figures."""
    return set(sums) - parts_of(sums)
