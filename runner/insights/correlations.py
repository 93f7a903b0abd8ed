"""Drivers of the target measures: each other measure's correlation with them.

The question names what it is about (salary, sales, life expectancy): the targets. Every
other measure is correlated with each target, and the links are ranked by their size, with
the direction and a plain-language strength (weak below |r| 0.3, moderate, strong from 0.5,
very strong from 0.7). Pairs of side measures correlated with each other are no finding
about the question and are not tested; derived columns (derived.py: a log, a rescaling, a
sum of others) are left out, since they are linked by construction.

What is correlated depends on what the rows are. Events and entities (flights, cars):
row by row, and the link must hold within the main segment too, or it is only the
segments' difference (Simpson's paradox). A time series (one row per period): the changes
from one period to the next, since two series that both trend correlate in level whatever
they are. A panel of many entities (countries per year): across the entities in the
latest period; of few entities (three airports per hour): their changes, entity by entity.

A pair is reported when |r| reaches `min_correlation` (0.1: smaller links explain under 1%
of the target's variation) and r differs from zero under a Bonferroni-corrected t-test over
all pairs: no fixed "strong" cut-off hides a moderate driver. Pairs that say nothing are
skipped: the same quantity twice (|r| > 0.999), and a part and its total (one column plus
others adding up to another: private jobs and all jobs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights import figures as fig
from runner.insights.model import Column, Insight, Table, Thresholds, rounded, words
from runner.insights.series import Timeline, next_period
from runner.insights.sql import ident, run
from runner.insights.stats import correlation_p, sample_factor
from runner.insights.totals import Sums, part_of

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MAX_MEASURES = 60  # drivers tested per target (one aggregate each, in one scan)
MIN_PAIRS = 30
MIN_SERIES = 8  # periods of one series whose levels may be correlated
MIN_OVERLAP = 0.05  # of the rows: both values must be filled in at least this share
MAX_LINKS = 10  # the strongest; details.pairs_found tells how many there were
SAME_QUANTITY = 0.999
CROSS_SECTION = 20  # a panel of at least this many entities is correlated across them


@dataclass(frozen=True)
class Mode:
    """How pairs are correlated in this table, as SQL and as a recipe."""

    over: str  # rows, changes, or rows within one period (cross-section)
    source: str  # the SQL relation with one column per measure
    recipe: fig.Recipe
    where: str = ""  # how the rows are described in text
    rows: str = "TRUE"  # SQL condition selecting the table's rows that are correlated

    @staticmethod
    def column(measure: Column) -> str:
        return ident(f"m:{measure.name}")


def driver_pairs(
    targets: list[Column], measures: list[Column], derived: set[str], sums: Sums
) -> list[tuple[Column, Column]]:
    """(target, other measure) pairs worth testing: no derived column, no part of a total
    with its total, each pair of two targets once."""
    pairs: list[tuple[Column, Column]] = []
    seen: set[frozenset[str]] = set()
    for target in targets:
        others = [m for m in measures if m.name != target.name and m.name not in derived]
        for other in others[:MAX_MEASURES]:
            key = frozenset({target.name, other.name})
            if key not in seen and not part_of(target.name, other.name, sums):
                seen.add(key)
                pairs.append((target, other))
    return pairs


def find_correlations(
    con: DuckDBPyConnection,
    table: Table,
    targets: list[Column],
    measures: list[Column],
    limits: Thresholds,
    timeline: Timeline | None = None,
    segment: Column | None = None,
    sums: Sums | None = None,
    derived: set[str] | None = None,
) -> list[Insight]:
    """An insight per measure clearly linked with a target (its drivers), largest first."""
    sums = sums or {}
    pairs = driver_pairs(targets, measures, derived or set(), sums)
    if not pairs:
        return []
    candidates = list({m.name: m for pair in pairs for m in pair}.values())
    mode = _mode(table, candidates, timeline)
    by_changes: Mode | None = None
    changes: list[tuple[float | None, int]] = []
    if mode.over == "changes" and table.panel is None:
        # One series: levels are what a reader sees move together ("temperature tracks
        # emissions"); the changes say whether more than a shared trend links them, and
        # carry the link alone when the levels' trends hide it.
        by_changes, changes = mode, _correlate(con, mode, pairs)
        select = ", ".join(f"{m.expr} AS {Mode.column(m)}" for m in candidates)
        mode = Mode("rows", f"(SELECT {select} FROM {table.sql})", {"over": "rows"}, "series")
    strong = []
    for i, ((a, b), (r, n)) in enumerate(zip(pairs, _correlate(con, mode, pairs), strict=True)):
        p_adjusted = _tested(r, n, mode, table, limits, len(pairs))
        moved = changes[i] if changes else (None, 0)
        if p_adjusted is not None and r is not None:
            strong.append((a, b, float(r), n, p_adjusted, moved, mode))
        elif by_changes is not None and moved[0] is not None:
            p_changes = _tested(moved[0], moved[1], by_changes, table, limits, len(pairs))
            if p_changes is not None:
                strong.append((a, b, moved[0], moved[1], p_changes, (None, 0), by_changes))
    strong = [s for s in strong if not part_of(s[0].name, s[1].name, sums)]
    if not strong:
        return []
    checked = mode.over == "rows" and segment is not None and mode.where != "series"
    inside = (
        _within(con, table, [(a, b) for a, b, *_ in strong], segment, mode.rows)
        if (checked and segment is not None)
        else [None] * len(strong)
    )
    found = []
    for (a, b, r, n, p, moved, used), within in zip(strong, inside, strict=True):
        held = segment if checked and within is not None else None
        insight = _insight(a, b, r, n, p, used, held, within)
        if moved[0] is not None and timeline is not None:
            _with_changes(insight, moved[0], moved[1], timeline)
        found.append(insight)
    found.sort(key=lambda i: -abs(float(i.details["r"])))
    found = _one_per_quantity(found, {m.name: m for m in candidates})
    for insight in found:
        insight.details["pairs_found"] = len(found)
    return found[:MAX_LINKS]


def _alike(a: Column, b: Column) -> bool:
    """The same quantity for another place or group: names that differ by one word each
    and share the rest (ausAVt and eastAVt, sales_north and sales_south)."""
    x, y = words(a.name), words(b.name)
    return len(x - y) == 1 and len(y - x) == 1 and bool(x & y)


MIN_FAMILY = 3  # columns of one quantity for other places before they are one family


def _one_per_quantity(found: list[Insight], columns: dict[str, Column]) -> list[Insight]:
    """found (strongest first) with a target's links to the same quantity for three places
    or more named once, on the strongest: they move together as parts of one whole, not as
    drivers. (Two alike names, interest_rate and exchange_rate, may be two quantities.)"""
    kept: list[Insight] = []
    first: dict[str, Insight] = {}
    family = {
        t: sum(_alike(columns[t], c) for c in columns.values())
        for t in {i.details["target"] for i in found}
    }
    for insight in found:
        target, driver = columns[insight.details["target"]], columns[insight.details["driver"]]
        if family[target.name] < MIN_FAMILY or not _alike(target, driver):
            kept.append(insight)
            continue
        lead = first.get(target.name)
        if lead is None:
            first[target.name] = insight
            insight.details["alike"] = []
            kept.append(insight)
            continue
        lead.details["alike"].append(driver.name)
    for target_name, lead in first.items():
        others = [columns[n].label for n in lead.details["alike"]]
        if others:
            lead.summary += (
                f" {', '.join(others).capitalize()} move with {columns[target_name].label} "
                "alike: the same quantity elsewhere, named once here."
            )
    return kept


def _tested(
    r: float | None, n: int, mode: Mode, table: Table, limits: Thresholds, tests: int
) -> float | None:
    """The Bonferroni-adjusted p-value of a link worth reporting, else None."""
    if r is None or abs(r) < limits.min_correlation or abs(r) > SAME_QUANTITY:
        return None
    share = MIN_OVERLAP * table.rows if mode.where == "" else 0  # all rows, not a period
    least = MIN_SERIES if mode.where == "series" else max(MIN_PAIRS, share)
    if mode.over == "rows" and n < least:
        return None  # the few rows where a rare column is filled are no sample of the rest
    p_adjusted = min(1.0, correlation_p(float(r), n) * tests)
    return p_adjusted if p_adjusted < limits.alpha else None


def _correlate(
    con: DuckDBPyConnection, mode: Mode, pairs: list[tuple[Column, Column]]
) -> list[tuple[float | None, int]]:
    """(r, n) of each pair in the mode's relation, from one scan."""
    parts = ", ".join(
        f"corr({mode.column(a)}, {mode.column(b)}), regr_count({mode.column(a)}, {mode.column(b)})"
        for a, b in pairs
    )
    row = run(con, f"SELECT {parts} FROM {mode.source}")[0]
    return [
        (None if row[2 * i] is None else float(row[2 * i]), int(row[2 * i + 1] or 0))
        for i in range(len(pairs))
    ]


def _with_changes(insight: Insight, r: float, n: int, timeline: Timeline) -> None:
    """Add what the changes from one period to the next say: the same link, or a trend."""
    figures = fig.Figures()
    a, b = insight.details["columns"]
    grain = timeline.grain
    recipe = {
        "kind": "correlation",
        "x": a,
        "y": b,
        "filters": [],
        "over": "changes",
        "time": timeline.time.name,
        "grain": grain,
        "within": None,
        "at": "r",
    }
    shown = figures.add(f"{r:+.2f}", rounded(r), recipe)
    level = float(insight.details["r"])
    together = abs(r) >= 0.3 and (r > 0) == (level > 0)
    if together:
        said = f" Their changes from one {grain} to the next move together too (r = {shown})."
    else:
        said = (
            f" Their changes from one {grain} to the next hardly move together (r = {shown}): "
            "much of the link may be a trend both share."
        )
    insight.summary = insight.summary.replace(
        " This is an association", said + " This is an association"
    )
    insight.details["figures"] += figures.entries
    insight.details["r_changes"] = rounded(r)
    insight.weight *= (abs(level) + (abs(r) if together else 0.0)) / (2 * abs(level))


def _mode(table: Table, measures: list[Column], timeline: Timeline | None) -> Mode:
    select = ", ".join(f"{m.expr} AS {ident(f'm:{m.name}')}" for m in measures)
    if timeline is None or not table.snapshot:
        return Mode("rows", f"(SELECT {select} FROM {table.sql})", {"over": "rows"})
    entity = table.column(table.panel) if table.panel else None
    if entity is not None and entity.distinct >= CROSS_SECTION:
        latest = timeline.last
        end = next_period(latest, timeline.grain)
        window = fig.within(timeline.time, latest, end)
        t = timeline.time.expr
        rows = f"{t} >= TIMESTAMP '{latest.isoformat()}' AND {t} < TIMESTAMP '{end.isoformat()}'"
        source = f"(SELECT {select} FROM {table.sql} WHERE {rows})"
        return Mode("rows", source, {"over": "rows", "filters": [window]}, "latest", rows)
    return _changes(table, measures, timeline, entity)


def _changes(
    table: Table, measures: list[Column], timeline: Timeline, entity: Column | None
) -> Mode:
    """Period-to-period changes of each measure's average (per entity in a panel)."""
    t, grain = timeline.time.expr, timeline.grain
    key = f"{entity.expr} AS e, " if entity else ""
    levels = ", ".join(f"avg({m.expr}) AS {ident(f'l:{m.name}')}" for m in measures)
    over = "PARTITION BY e ORDER BY p" if entity else "ORDER BY p"
    diffs = ", ".join(
        f"{ident(f'l:{m.name}')} - lag({ident(f'l:{m.name}')}) OVER ({over}) "
        f"AS {ident(f'm:{m.name}')}"
        for m in measures
    )
    source = (
        f"(SELECT {diffs} FROM (SELECT {key}date_trunc('{grain}', {t}) AS p, {levels} "
        f"FROM {table.sql} WHERE {t} IS NOT NULL"
        f"{f' AND {entity.expr} IS NOT NULL' if entity else ''} "
        "GROUP BY ALL))"
    )
    recipe = {
        "over": "changes",
        "time": timeline.time.name,
        "grain": grain,
        "within": entity.name if entity else None,
    }
    return Mode("changes", source, recipe, grain)


def _within(
    con: DuckDBPyConnection,
    table: Table,
    pairs: list[tuple[Column, Column]],
    segment: Column,
    rows: str,
) -> list[float | None]:
    """Each pair's correlation around its segment's averages (within the segments), with
    both values filled, from one scan."""
    g = segment.expr
    centred, corrs = [], []
    for i, (a, b) in enumerate(pairs):
        both = f"{a.expr} IS NOT NULL AND {b.expr} IS NOT NULL"
        for side, m in (("x", a), ("y", b)):
            value = f"CASE WHEN {both} THEN {m.expr} END"
            centred.append(f"{value} - avg({value}) OVER (PARTITION BY {g}) AS {side}{i}")
        corrs.append(f"corr(x{i}, y{i})")
    query = (
        f"SELECT {', '.join(corrs)} FROM (SELECT {', '.join(centred)} FROM "
        f"{table.sql} WHERE {rows} AND {g} IS NOT NULL)"
    )
    values: tuple[Any, ...] = run(con, query)[0]
    # NaN: one of the two is constant within the groups (a dummy of the segment itself).
    return [None if v is None or math.isnan(float(v)) else float(v) for v in values]


def _held(r: float, within: float | None) -> float:
    """How much of the link a reader can lean on: |r|, halved toward what holds within the
    main segment (nothing when it reverses there)."""
    if within is None:
        return abs(r)
    inside = abs(within) if (within > 0) == (r > 0) else 0.0
    return (abs(r) + inside) / 2


def strength(r: float) -> str:
    """A correlation's size in words (Cohen's conventions, one step finer at the top)."""
    size = abs(r)
    if size >= 0.7:
        return "very strong"
    return "strong" if size >= 0.5 else "moderate" if size >= 0.3 else "weak"


def _insight(
    a: Column,
    b: Column,
    r: float,
    n: int,
    p_adjusted: float,
    mode: Mode,
    segment: Column | None,
    within: float | None,
) -> Insight:
    figures = fig.Figures()
    recipe = {"kind": "correlation", "x": a.name, "y": b.name, "filters": [], **mode.recipe}
    shown = figures.add(f"{r:+.2f}", rounded(r), recipe | {"at": "r"})
    count = figures.count(n, recipe | {"at": "n"})
    together = "rise and fall together" if r > 0 else "move in opposite directions"
    if mode.over == "changes":
        what = f"Changes in {a.label} and {b.label} from one {mode.where} to the next"
        over = f"over {count} changes"
    else:
        what = f"{a.label.capitalize()} and {b.label}"
        over = f"over {count} rows" + (" of the latest period" if mode.where == "latest" else "")
    summary = f"{what} {together} (correlation {shown} {over})."
    if segment is not None and within is not None:
        inside = figures.add(
            f"{within:+.2f}",
            rounded(within),
            recipe | {"at": "r", "within_groups": segment.name},
        )
        if abs(within) >= 0.5 * abs(r) and (within > 0) == (r > 0):
            summary += f" The link holds within each {segment.label} too (r = {inside})."
        elif (within > 0) != (r > 0):
            summary += (
                f" Within each {segment.label} it vanishes or reverses (r = {inside}): it is "
                f"the difference between {segment.label} groups, not a link inside them."
            )
        else:
            summary += (
                f" Within each {segment.label} it is weaker (r = {inside}): much of it is the "
                f"difference between {segment.label} groups."
            )
    summary += " This is an association, not proof that one causes the other."
    moves = "rises" if r > 0 else "falls"
    return Insight(
        insight_type="correlation",
        title=f"{a.label.capitalize()} {moves} with {b.label}: {strength(r)} "
        f"{'positive' if r > 0 else 'negative'} link (r = {shown})",
        summary=summary,
        details={
            "columns": [a.name, b.name],
            "target": a.name,
            "driver": b.name,
            "strength": strength(r),
            "r": rounded(r),
            "r2": rounded(r * r),
            "rows": n,
            "over": mode.over,
            "within_segment": segment.name if segment else None,
            "r_within": rounded(within) if within is not None else None,
            "p_adjusted": p_adjusted,
            "sign": "positive" if r > 0 else "negative",
            "caution": "correlation does not establish causation; a third factor may drive both",
            "recipe": recipe,
            "figures": figures.entries,
        },
        # The effect counts once, in the weight (on the scale segments use, sqrt of eta²):
        # the confidence is the evidence only.
        confidence=(1.0 - p_adjusted) * sample_factor(n, 30),
        terms=frozenset(a.terms | b.terms | {"correlation", "relate", "link", "relationship"}),
        weight=(0.5 + 0.5 * _held(r, within)) * max(a.importance, b.importance),
    )
