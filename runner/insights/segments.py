"""Segments: which groups bring the most, and how concentrated the business is.

Totals (revenue, orders) are compared as shares. Whether the best and worst segment differ
by more than chance is a z-test on their totals, using the compound-Poisson variance
n * E[x^2] of a sum of a random number of rows. Averages (price, rating, resolution time)
are compared with Welch's t-test and Cohen's d. Both are Bonferroni-corrected over every
pair that could have been picked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Table,
    Thresholds,
    number,
    percent,
    rounded,
    words,
)
from runner.insights.sql import run
from runner.insights.stats import normal_p, sample_factor, t_test_p

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_ROWS = 5  # a segment with fewer rows is listed, never named best or worst
LISTED = 10


@dataclass(frozen=True)
class Group:
    """One segment value's figures for one measure."""

    value: str
    rows: int
    n: int  # non-null values of the measure
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.n * self.mean**2) / (self.n - 1))


def groups(
    con: DuckDBPyConnection, table: Table, segment: Column, measures: list[Column]
) -> dict[str, list[Group]]:
    """Per measure name, the groups of segment (NULL shown as '(missing)')."""
    parts = ", ".join(
        f"sum({m.expr}), sum(({m.expr}) * ({m.expr})), count({m.expr})" for m in measures
    )
    query = f"SELECT {segment.expr}, count(*), {parts} FROM {table.sql} GROUP BY 1"
    rows = run(con, query)
    out: dict[str, list[Group]] = {m.name: [] for m in measures}
    for row in rows:
        label = "(missing)" if row[0] is None else str(row[0])
        for i, m in enumerate(measures):
            total, squares, n = row[2 + 3 * i : 5 + 3 * i]
            out[m.name].append(
                Group(label, int(row[1]), int(n), float(total or 0), float(squares or 0))
            )
    return out


def compare_segments(
    con: DuckDBPyConnection,
    table: Table,
    segments: list[Column],
    measures: list[Column],
    limits: Thresholds,
) -> list[Insight]:
    """Best-versus-worst insights for each segment column and measure where they differ."""
    per_column = {s.name: groups(con, table, s, measures) for s in segments}
    pairs = sum(_pairs(g) for by_measure in per_column.values() for g in by_measure.values())
    found = []
    for segment in segments:
        for measure in measures:
            found.append(
                _compare(segment, measure, per_column[segment.name][measure.name], pairs, limits)
            )
    return [i for i in found if i is not None]


def _pairs(groups_: list[Group]) -> int:
    k = sum(1 for g in groups_ if g.n >= MIN_ROWS and g.value != "(missing)")
    return k * (k - 1) // 2


def _compare(
    segment: Column, measure: Column, groups_: list[Group], pairs: int, limits: Thresholds
) -> Insight | None:
    eligible = [g for g in groups_ if g.n >= MIN_ROWS and g.value != "(missing)"]
    if len(eligible) < 2:
        return None
    averaged = measure.aggregation is Aggregation.MEAN
    key = (lambda g: g.mean) if averaged else (lambda g: g.total)
    best, worst = max(eligible, key=key), min(eligible, key=key)
    p_value, material = _test(best, worst, averaged, limits)
    p_adjusted = min(1.0, p_value * max(pairs, 1))
    if p_adjusted >= limits.alpha or not material:
        return None
    return _insight(segment, measure, groups_, best, worst, p_adjusted)


def _test(best: Group, worst: Group, averaged: bool, limits: Thresholds) -> tuple[float, bool]:
    """The p-value that best and worst differ, and whether the gap is large enough to matter."""
    if averaged:
        se2 = best.variance / best.n + worst.variance / worst.n
        pooled = math.sqrt((best.variance + worst.variance) / 2)
        gap = best.mean - worst.mean
        if se2 == 0 or pooled == 0:
            return 1.0, False
        df = se2**2 / sum((g.variance / g.n) ** 2 / (g.n - 1) for g in (best, worst) if g.n > 1)
        return t_test_p(
            gap / math.sqrt(se2), max(1, round(df))
        ), gap / pooled >= limits.min_effect_size
    spread = best.squares + worst.squares
    if spread == 0 or worst.total < 0:
        return 1.0, False
    z = (best.total - worst.total) / math.sqrt(spread)
    ratio = best.total / worst.total if worst.total > 0 else float("inf")
    return normal_p(z), ratio >= limits.min_segment_ratio


def _insight(
    segment: Column, measure: Column, groups_: list[Group], best: Group, worst: Group, p: float
) -> Insight:
    averaged = measure.aggregation is Aggregation.MEAN
    what = measure.label
    grand = sum(g.total for g in groups_)
    shares = {g.value: g.total / grand if grand else 0.0 for g in groups_}
    if averaged:
        summary = (
            f"{what.capitalize()} is highest for {segment.label} {best.value} "
            f"({number(best.mean)} on average) and lowest for {worst.value} "
            f"({number(worst.mean)})."
        )
        weight = 0.5 + (best.mean / worst.mean - 1 if worst.mean > 0 else 0.5)
    else:
        summary = (
            f"{segment.label.capitalize()} {best.value} brings the most {what} "
            f"({percent(shares[best.value])} of the total), {worst.value} the least "
            f"({percent(shares[worst.value])})."
        )
        weight = 0.5 + shares[best.value]
    listed = sorted(groups_, key=lambda g: -(g.mean if averaged else g.total))[:LISTED]
    details = {
        "segment_column": segment.name,
        "measure": measure.name,
        "basis": "average" if averaged else "total",
        "best": best.value,
        "worst": worst.value,
        "p_adjusted": p,
        "segments": [_listed(g, shares[g.value]) for g in listed],
    }
    terms = segment.terms | measure.terms | words(best.value) | words(worst.value)
    return Insight(
        insight_type="segment_comparison",
        title=f"{what.capitalize()} by {segment.label}: "
        + (
            f"highest for {best.value}, lowest for {worst.value}"
            if averaged
            else f"{best.value} leads, {worst.value} trails"
        ),
        summary=summary,
        details=details,
        confidence=(1.0 - p) * sample_factor(min(best.n, worst.n), 20),
        terms=frozenset(terms | {"segment", "comparison"}),
        weight=min(1.0, weight),
    )


def _listed(group: Group, share: float) -> dict[str, Any]:
    return {
        "segment": group.value,
        "rows": group.rows,
        "total": rounded(group.total),
        "share": rounded(share),
        "average": rounded(group.mean),
    }


def _totals_evidence(rows_per_entity: float) -> float:
    """How settled each entity's total is: one row per entity (a customer list) is the
    record itself; otherwise totals summed from few rows (orders) still move a lot."""
    return 1.0 if rows_per_entity <= 1.05 else sample_factor(rows_per_entity, 2)


def concentration(
    con: DuckDBPyConnection, table: Table, entity: Column, measure: Column, limits: Thresholds
) -> Insight | None:
    """How much of a total its top 10% of customers (or products...) bring, when that is a lot."""
    query = f"""
        WITH e AS (SELECT {entity.expr} AS k, sum({measure.expr}) AS v FROM {table.sql}
                   WHERE {entity.expr} IS NOT NULL GROUP BY 1),
             r AS (SELECT k, v, row_number() OVER (ORDER BY v DESC) AS rk,
                          count(*) OVER () AS n FROM e)
        SELECT max(n), sum(v), sum(v) FILTER (rk <= ceil(n * 0.01)),
               sum(v) FILTER (rk <= ceil(n * 0.1)), sum(v) FILTER (rk <= ceil(n * 0.2)),
               sum((n + 1 - rk) * v), min(v),
               list(k ORDER BY rk) FILTER (rk <= 5), list(v ORDER BY rk) FILTER (rk <= 5)
        FROM r"""
    n, total, top1, top10, top20, ranked, lowest, names, values = run(con, query)[0]
    if not n or n < 20 or not total or total <= 0 or (lowest or 0) < 0:
        return None
    share10 = float(top10) / float(total)
    if share10 < limits.min_concentration:
        return None
    gini = 2.0 * float(ranked) / (n * float(total)) - (n + 1) / n
    return _concentration_insight(
        entity,
        measure,
        int(n),
        float(total),
        [float(top1), float(top10), float(top20)],
        gini,
        list(zip(names, values, strict=True)),
        table.rows,
    )


def _concentration_insight(
    entity: Column,
    measure: Column,
    n: int,
    total: float,
    tops: list[float],
    gini: float,
    leaders: list[tuple[object, float]],
    rows: int,
) -> Insight:
    what = measure.label
    who = entity.entity_label
    share1, share10, share20 = (t / total for t in tops)
    summary = (
        f"The top 10% of {who} ({math.ceil(n * 0.1):,} of {n:,}) bring "
        f"{percent(share10)} of {what}; the top 1% alone bring {percent(share1)}. "
        f"Losing a few of them would be felt."
    )
    details = {
        "entity_column": entity.name,
        "measure": measure.name,
        "entities": n,
        "top_1pct_share": rounded(share1),
        "top_10pct_share": rounded(share10),
        "top_20pct_share": rounded(share20),
        "gini": rounded(gini),
        "leaders": [
            {"entity": str(k), "value": rounded(v), "share": rounded(v / total)} for k, v in leaders
        ],
    }
    return Insight(
        insight_type="concentration",
        title=f"Top 10% of {who} bring {percent(share10)} of {what}",
        summary=summary,
        details=details,
        confidence=sample_factor(n, 30) * _totals_evidence(rows / n),
        terms=frozenset(entity.terms | measure.terms | {"concentration", "top"}),
        weight=min(1.0, 0.4 + share10),
    )
