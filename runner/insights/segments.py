"""Segments: which groups are highest and lowest on average, and how concentrated totals are.

A measure is compared between segments by its average per row (a carrier's average
delay, a region's average order value), never by its total, which would rank the
segments by their size: each segment's share of the rows is said separately. The best
and the worst are tested with Welch's t-test and need a Cohen's d of `min_effect_size`;
the row count itself is compared as shares of rows (a z-test on two Poisson counts).
Averages are tested column by column (an analysis of variance each), Holm-corrected over
the columns; row counts are Bonferroni-corrected over every pair that could have been picked.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights import figures as fig
from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Table,
    Thresholds,
    rounded,
    words,
)
from runner.insights.sql import literal, run
from runner.insights.stats import f_test_p, holm, normal_p, sample_factor, t_test_p

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MIN_ROWS = 10  # a segment with fewer values is listed, never named highest or lowest
MIN_RELATIVE_GAP = 0.25
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
    """Highest-versus-lowest insights for each segment column and measure where they differ."""
    per_column = {s.name: groups(con, table, s, measures) for s in segments}
    found = []
    for measure in measures:
        # One family of tests per measure: its averages are tested column by column (an
        # analysis of variance each), its row counts pair by pair.
        # Averages: Holm's step-down over the columns (the same family-wise error as
        # Bonferroni, yet a moderate gap beside a strong one is not held to the strictest bar).
        if measure.is_row_count:
            tests = sum(_pairs(by[measure.name], True) for by in per_column.values())
            adjusted: list[float | None] = [None] * len(segments)
        else:
            tests = len(per_column)
            adjusted = [*holm([anova_p(per_column[s.name][measure.name]) for s in segments])]
        for segment, p_adjusted in zip(segments, adjusted, strict=True):
            groups_ = per_column[segment.name][measure.name]
            found.append(_compare(table, segment, measure, groups_, tests, limits, p_adjusted))
    return [i for i in found if i is not None]


def eta_squared(groups_: list[Group]) -> float:
    """The share of a measure's variation between rows that its groups explain (eta²)."""
    kept = [g for g in groups_ if g.n and g.value != "(missing)"]
    n = sum(g.n for g in kept)
    if n < 2:
        return 0.0
    grand = sum(g.total for g in kept) / n
    total = sum(g.squares for g in kept) - n * grand * grand
    between = sum(g.n * (g.mean - grand) ** 2 for g in kept)
    return min(1.0, between / total) if total > 0 else 0.0


def effect_words(eta2: float) -> str:
    """eta² in words, by Cohen's conventions (0.01 small, 0.06 medium, 0.14 large)."""
    if eta2 >= 0.14:
        return "a large"
    return "a medium" if eta2 >= 0.06 else "a small" if eta2 >= 0.01 else "a negligible"


def _eligible(groups_: list[Group], counted: bool = False) -> list[Group]:
    """The groups that may be named highest or lowest: for averages, those with MIN_ROWS
    values at least; for the row count, every one (a group of 1 is the fewest, and naming
    another "fewest" after leaving it out would be false)."""
    least = 1 if counted else MIN_ROWS
    return [g for g in groups_ if g.n >= least and g.value != "(missing)"]


def _adjusted(eta2: float, groups_: list[Group]) -> float:
    """epsilon²: eta² less its expected share by chance, 1 - (1 - eta²)(n - 1)/(n - k)."""
    n, k = sum(g.n for g in groups_), len(groups_)
    return max(0.0, 1 - (1 - eta2) * (n - 1) / (n - k)) if n > k else 0.0


def _compared(groups_: list[Group], counted: bool) -> float:
    """The rows the effect rests on, every ranked group's: a strong effect is not made
    doubtful by its smallest extreme (a dozen parties of four among thousands of bookings),
    and it weighs its evidence as a correlation over as many rows does (one scale)."""
    return float(sum(g.n for g in _eligible(groups_, counted)))


def _pairs(groups_: list[Group], counted: bool = False) -> int:
    k = len(_eligible(groups_, counted))
    return k * (k - 1) // 2


def anova_p(groups_: list[Group]) -> float:
    """The p-value that a measure's group averages are all equal (one-way F-test)."""
    kept = [g for g in groups_ if g.n and g.value != "(missing)"]
    n, k = sum(g.n for g in kept), len(kept)
    if k < 2 or n <= k:
        return 1.0
    grand = sum(g.total for g in kept) / n
    between = sum(g.n * (g.mean - grand) ** 2 for g in kept)
    within = sum(max(0.0, g.squares - g.n * g.mean**2) for g in kept)
    if within <= 0:
        return 0.0 if between > 0 else 1.0
    return f_test_p((between / (k - 1)) / (within / (n - k)), k - 1, n - k)


def _compare(
    table: Table,
    segment: Column,
    measure: Column,
    groups_: list[Group],
    pairs: int,
    limits: Thresholds,
    adjusted: float | None = None,
) -> Insight | None:
    """adjusted: the family's adjusted p-value of the averages (else Bonferroni over pairs)."""
    counted = measure.is_row_count
    eligible = _eligible(groups_, counted)
    if len(eligible) < 2:
        return None
    key: Callable[[Group], float] = (lambda g: g.rows) if counted else (lambda g: g.mean)
    best, worst = max(eligible, key=key), min(eligible, key=key)
    p_value, material = _counts(best, worst, limits) if counted else _means(best, worst, limits)
    if not counted:
        p_value = anova_p(groups_)
    p_adjusted = adjusted if adjusted is not None else min(1.0, p_value * max(pairs, 1))
    if p_adjusted >= limits.alpha or not material:
        return None
    ties = tuple([g for g in eligible if key(g) == key(end)] for end in (best, worst))
    left_out = len([g for g in groups_ if g.value != "(missing)"]) - len(eligible)
    found = _insight(table, segment, measure, groups_, best, worst, p_adjusted, ties)
    if left_out:
        figures = fig.Figures()
        least = figures.parameter(f"{MIN_ROWS} rows", "smallest group ranked")
        found.summary += f" Ranked among the groups with at least {least}; smaller ones are not."
        found.details["figures"] += figures.entries
        found.details["groups_ranked"] = len(eligible)
        found.details["groups_too_small"] = left_out
    return found


def _means(best: Group, worst: Group, limits: Thresholds) -> tuple[float, bool]:
    """Welch's p-value that two averages differ, and whether the gap is large enough."""
    se2 = best.variance / best.n + worst.variance / worst.n
    pooled = math.sqrt((best.variance + worst.variance) / 2)
    gap = best.mean - worst.mean
    if se2 == 0 or pooled == 0:
        return 1.0, False
    df = se2**2 / sum((g.variance / g.n) ** 2 / (g.n - 1) for g in (best, worst) if g.n > 1)
    p = t_test_p(gap / math.sqrt(se2), max(1, round(df)))
    # Material: a gap of min_effect_size standard deviations, or (heavy-tailed measures such
    # as delays, where one deviation is large) a quarter of the larger average.
    relative = gap / max(abs(best.mean), abs(worst.mean))
    return p, gap / pooled >= limits.min_effect_size or relative >= MIN_RELATIVE_GAP


def _counts(best: Group, worst: Group, limits: Thresholds) -> tuple[float, bool]:
    """The p-value that two Poisson counts differ, and whether the ratio is large enough."""
    z = (best.rows - worst.rows) / math.sqrt(best.rows + worst.rows)
    return normal_p(z), best.rows >= limits.min_segment_ratio * worst.rows


def _insight(
    table: Table,
    segment: Column,
    measure: Column,
    groups_: list[Group],
    best: Group,
    worst: Group,
    p: float,
    ties: tuple[list[Group], ...],
) -> Insight:
    figures = fig.Figures()
    what = measure.quantity_label if measure.is_row_count else measure.label
    eta2 = 0.0 if measure.is_row_count else eta_squared(groups_)
    # Segments level with the best (or the worst) are named with it: "most for A" would be
    # false where B has as many.
    high, low = (_named(figures, segment, tied) for tied in ties)
    if measure.is_row_count:
        title = f"{segment.label.capitalize()}: most {measure.label} for {high}, fewest for {low}"
        most, fewest = (_rows(segment, g, table.rows, figures) for g in (best, worst))
        summary = (
            f"{high[:1].upper()}{high[1:]} {'have' if len(ties[0]) > 1 else 'has'} the most "
            f"{measure.label}: {most}; "
            f"{low} the fewest: {fewest}."
        )
        weight = 0.4 + 0.3 * best.rows / table.rows
    else:
        title = f"{what.capitalize()} by {segment.label}: highest for {high}, lowest for {low}"
        summary = (
            f"{what.capitalize()} is highest for {high} "
            f"({_mean(segment, measure, best, figures)} on average) and lowest for {low} "
            f"({_mean(segment, measure, worst, figures)}). Rows: {high} "
            f"{_rows(segment, best, table.rows, figures)}, "
            f"{low} {_rows(segment, worst, table.rows, figures)}"
            f"{_total_shares(segment, measure, best, worst, groups_, figures)}. "
            f"{segment.label.capitalize()} has {effect_words(eta2)} effect on {what}."
        )
        # Ranked by effect size on the scale of a correlation (sqrt of eta², as |r| is the
        # sqrt of r²), so a segment and a numeric driver compare on one footing; eta² less
        # what its groups explain by chance (epsilon²), so forty small groups do not outrank
        # two large ones for their number.
        weight = 0.5 + 0.5 * math.sqrt(_adjusted(eta2, groups_))
    listed = sorted(groups_, key=lambda g: -(g.rows if measure.is_row_count else g.mean))
    details = {
        "segment_column": segment.name,
        "measure": "rows" if measure.is_row_count else measure.name,
        "basis": "rows" if measure.is_row_count else "average",
        "min_rows": 1 if measure.is_row_count else MIN_ROWS,
        "best": best.value,
        "worst": worst.value,
        "tied_best": [g.value for g in ties[0]],
        "tied_worst": [g.value for g in ties[1]],
        "p_adjusted": p,
        "eta2": rounded(eta2),
        "effect": effect_words(eta2).split()[-1],
        "segments": [_listed(g, table.rows) for g in listed[:LISTED]],
        "figures": figures.entries,
    }
    terms = segment.terms | words(best.value) | words(worst.value)
    if measure.is_row_count:
        # Not the row unit's name ("salaries" for salaries.xlsx): counting rows per group
        # answers "how many", not a question about the rows' measures.
        terms |= {"composition", "mix", "share", "count", "number"}
    else:
        terms |= measure.terms
    return Insight(
        insight_type="segment_comparison",
        title=title,
        summary=summary,
        details=details,
        confidence=(1.0 - p) * sample_factor(_compared(groups_, measure.is_row_count), 30),
        terms=frozenset(terms | {"segment", "comparison"}),
        weight=min(1.0, weight),
    )


def _mean(segment: Column, measure: Column, group: Group, figures: fig.Figures) -> str:
    recipe = fig.aggregate(measure, "mean", [fig.equals(segment, group.value)])
    return figures.number(group.mean, recipe)


def _rows(segment: Column, group: Group, rows: int, figures: fig.Figures) -> str:
    part = fig.aggregate(None, "rows", [fig.equals(segment, group.value)])
    count = figures.count(group.rows, part)
    share = figures.percent(group.rows / rows, fig.share(part, fig.aggregate(None, "rows")))
    return f"{count} ({share})"


def _total_shares(
    segment: Column,
    measure: Column,
    best: Group,
    worst: Group,
    groups_: list[Group],
    figures: fig.Figures,
) -> str:
    """For amounts, each one's share of the total too: a segment may be small but rich."""
    if measure.aggregation is not Aggregation.SUM:
        return ""
    grand = sum(g.total for g in groups_)
    if grand <= 0 or any(g.total < 0 for g in groups_):
        return ""
    whole = fig.aggregate(measure, "sum")
    shares = [
        figures.percent(
            g.total / grand,
            fig.share(fig.aggregate(measure, "sum", [fig.equals(segment, g.value)]), whole),
        )
        for g in (best, worst)
    ]
    return f"; of the total {measure.label}, {shares[0]} and {shares[1]}"


def _named(figures: fig.Figures, segment: Column, tied: list[Group]) -> str:
    # In the order of their names: the query gives tied groups in no fixed order.
    names = sorted(figures.segment(segment, g.value) for g in tied)
    if len(names) == 1:
        return names[0]
    # Values that hold commas ("Forced air, Gas") would run into each other.
    joint = "; " if any("," in n for n in names) else ", "
    return f"{joint.join(names[:-1])} and {names[-1]} (tied)"


def _listed(group: Group, rows: int) -> dict[str, Any]:
    return {
        "segment": group.value,
        "rows": group.rows,
        "row_share": rounded(group.rows / rows) if rows else 0.0,
        "total": rounded(group.total),
        "average": rounded(group.mean),
    }


def _totals_evidence(rows_per_entity: float) -> float:
    """How settled each entity's total is: one row per entity (a customer list) is the
    record itself; otherwise totals summed from few rows (orders) still move a lot."""
    return 1.0 if rows_per_entity <= 1.05 else sample_factor(rows_per_entity, 2)


def concentration(
    con: DuckDBPyConnection,
    table: Table,
    entity: Column,
    measure: Column,
    limits: Thresholds,
    period: Period | None = None,
) -> Insight | None:
    """How much of a total its top 10% of customers (or products...) hold, when that is a lot.

    A period restricts it to one period in snapshot data, where adding up a population or
    a headcount over the years would mean nothing.
    """
    where = period.sql() if period else "TRUE"
    query = f"""
        WITH e AS (SELECT {entity.expr} AS k, sum({measure.expr}) AS v FROM {table.sql}
                   WHERE {entity.expr} IS NOT NULL AND {where} GROUP BY 1),
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
    tops = [float(top1), float(top10), float(top20)]
    leaders = list(zip(names, values, strict=True))
    facts = _Concentration(entity, measure, int(n), float(total), tops, gini, leaders)
    return _concentration_insight(facts, table.rows, period)


@dataclass(frozen=True)
class Period:
    """One period of the time axis: [start, end) at grain."""

    time: Column
    grain: str
    start: dt.date
    end: dt.date

    def sql(self) -> str:
        t = self.time.expr
        return (
            f"{t} >= CAST({literal(self.start.isoformat())} AS TIMESTAMP) "
            f"AND {t} < CAST({literal(self.end.isoformat())} AS TIMESTAMP)"
        )


@dataclass(frozen=True)
class _Concentration:
    entity: Column
    measure: Column
    n: int
    total: float
    tops: list[float]
    gini: float
    leaders: list[tuple[object, float]]


def _concentration_insight(c: _Concentration, rows: int, period: Period | None) -> Insight:
    figures = fig.Figures()
    filters = [fig.within(period.time, period.start, period.end)] if period else []
    when = f" in {figures.period(period.time, period.grain, period.start)}" if period else ""
    what = f"all {c.measure.label}" if c.measure.is_row_count else c.measure.label
    who = c.entity.entity_label
    share1, share10, share20 = (t / c.total for t in c.tops)
    aggregation = "rows" if c.measure.is_row_count else "sum"
    base = {
        "kind": "top_share",
        "entity": c.entity.name,
        "measure": None if c.measure.is_row_count else c.measure.name,
        "aggregation": aggregation,
        "filters": filters,
    }
    top10 = figures.parameter("10%", "top share")
    top1 = figures.parameter("1%", "top share")
    entities = figures.count(c.n, fig.aggregate(c.entity, "distinct", filters))
    held = figures.percent(share10, base | {"top": 0.1})
    summary = (
        f"Of {entities} {who}, the top {top10} hold {held} of {what}{when}; "
        f"the top {top1} alone hold {figures.percent(share1, base | {'top': 0.01})}."
    )
    details = {
        "entity_column": c.entity.name,
        "measure": "rows" if c.measure.is_row_count else c.measure.name,
        "entities": c.n,
        "top_1pct_share": rounded(share1),
        "top_10pct_share": rounded(share10),
        "top_20pct_share": rounded(share20),
        "gini": rounded(c.gini),
        "filters": filters,
        "leaders": [
            {"entity": str(k), "value": rounded(v), "share": rounded(v / c.total)}
            for k, v in c.leaders
        ],
        "figures": figures.entries,
    }
    return Insight(
        insight_type="concentration",
        title=f"Top {top10} of {who} hold {held} of {what}",
        summary=summary,
        details=details,
        confidence=sample_factor(c.n, 30) * _totals_evidence(rows / c.n),
        terms=frozenset(c.entity.terms | c.measure.terms | {"concentration", "top"}),
        weight=min(1.0, 0.4 + share10),
    )
