"""The analysis workflow: load the files, run every analysis, rank, summarise."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.errors import PermanentFailure
from runner.insights import engine, loader, stages
from runner.insights.anomalies import find_anomalies
from runner.insights.correlations import find_correlations
from runner.insights.derived import PART, derived_names, find_derived
from runner.insights.drawdowns import find_falls
from runner.insights.model import (
    Aggregation,
    Column,
    Insight,
    Role,
    Table,
    Thresholds,
    row_count,
    words,
)
from runner.insights.profile import kpis, profile
from runner.insights.quality import check_quality
from runner.insights.relevance import (
    Concept,
    asks_about_counts,
    asks_about_gaps,
    concepts,
    measured,
    prefer,
    rank,
    relevance,
    stem,
)
from runner.insights.roles import (
    describe_table,
    entity_columns,
    main_time,
    measure_rank,
    row_unit,
    segment_columns,
)
from runner.insights.seasonality import find_seasonality
from runner.insights.segments import Period, compare_segments, concentration
from runner.insights.series import (
    Timeline,
    collect,
    dating,
    layout_keys,
    next_period,
    with_layout,
)
from runner.insights.summary import summarize
from runner.insights.totals import Sums, find_sums, parts_of, top_totals
from runner.insights.trends import find_trends

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MAX_MEASURES = 4
MAX_TARGETS = 3
TARGET_SHARE = 0.5
MAX_SEGMENT_COLUMNS = 3  # followed over time (one series each); all are compared
MAX_ENTITY_COLUMNS = 2
ASKED = 0.25  # relevance at which the question bears on a finding about no target


def run_complete_workflow(
    files: Sequence[str],
    business_description: str | None,
    metadata: Mapping[str, Any],
    *,
    settings: Mapping[str, Any] | None = None,
    memory_limit_mb: int | None = None,
    names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Insights rows for the files: the executive summary first, then findings by rank. The
    insights call each file by its name in `names` (default: the file's own name)."""
    if not files:
        raise PermanentFailure("analysis: the job has no input files")
    limits = _thresholds(metadata)
    wanted = concepts(business_description)
    gaps = asks_about_gaps(business_description)
    counts = asks_about_counts(business_description)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jobsup-insights-") as tmp:
        workdir = Path(tmp)
        with engine.connect(workdir, memory_limit_mb) as con:
            tables = [
                _load(con, f, _named(names, i), f"t{i}", workdir) for i, f in enumerate(files)
            ]
            findings = [f for t in tables for f in analyse(con, t, limits, wanted, gaps, counts)]
    ranked = rank(findings, business_description)
    ai = (settings or {}).get("ai")
    stages.begin("summary")
    # The language model's summary is paid for: kept as a durable step when [ai] is set.
    summary = stages.kept(
        "ai-summary" if ai else None,
        lambda: summarize(ranked, tables, business_description, ai).to_row(),
    )
    logger.info("analysis: {} insights in {:.1f} s", len(ranked) + 1, time.monotonic() - started)
    return [summary, *(f.to_row() for f in ranked)]


def _thresholds(metadata: Mapping[str, Any]) -> Thresholds:
    overrides = metadata.get("thresholds") or {}
    if not isinstance(overrides, Mapping):
        raise PermanentFailure("metadata.thresholds must be an object of numbers")
    try:
        return Thresholds.from_mapping(overrides)
    except ValueError as exc:
        raise PermanentFailure(f"metadata.thresholds: {exc}") from exc


def _named(names: Sequence[str], i: int) -> str | None:
    return names[i] if i < len(names) else None


def _load(
    con: DuckDBPyConnection, path: str, name: str | None, sql_name: str, workdir: Path
) -> Table:
    started = time.monotonic()
    stages.begin(f"loading {name or Path(path).name}")
    source = loader.load(con, path, sql_name, workdir, name)
    table = describe_table(con, sql_name, source["file"], source)
    logger.info(
        "analysis: read {} ({:,} rows, {} columns) in {:.1f} s",
        table.name,
        table.rows,
        len(table.columns),
        time.monotonic() - started,
    )
    return table


def analyse(
    con: DuckDBPyConnection,
    table: Table,
    limits: Thresholds,
    wanted: list[Concept],
    gaps: bool = False,
    counts: bool = False,
) -> list[Insight]:
    """Every finding the data of one table supports (gaps: list every missing value;
    counts: the question asks how many rows there are of what)."""
    time_column = main_time(table)
    span = dating(con, table, time_column, layout_keys(table)) if time_column else None
    table = with_layout(table, span)
    sums = find_sums(con, table, table.having(Role.MEASURE))
    table = with_totals(table, sums)
    # Totals first (they speak for their parts), then by kind; what the question names leads.
    ordered = sorted(table.having(Role.MEASURE), key=lambda m: (not m.is_total, measure_rank(m)))
    unit = _unit_words(row_unit(table), ordered)
    # The words naming the rows name no target ("loan amount" for "the rate on our loans").
    asked = [c for c in wanted if not c.words & unit] or wanted
    targets = question_targets(prefer(ordered, asked), asked)
    derived = find_derived(con, table, ordered, targets, sums)
    linked = derived_names(derived)
    targets = [t for t in targets if t.name not in linked] or targets
    every_measure = [m for m in prefer(ordered, wanted) if m.name not in linked]
    # A part of a total is mechanical only as its driver: over time it is a quantity of its
    # own (a sector's fall in a recession). A transform or lockstep twin repeats its source.
    parts = {d.column.name for d in derived if d.how == PART}
    measures = [m for m in prefer(ordered, wanted) if m.name not in linked - parts]
    measures = measures[:MAX_MEASURES]
    counted = row_count(row_unit(table))
    # The targets: anomalies, seasonality and segment comparisons look at these and at the
    # row count.
    headline = [counted, *targets]
    every_segment = prefer(segment_columns(table), wanted)
    segments = every_segment[:MAX_SEGMENT_COLUMNS]
    timeline = None
    if time_column is not None and span is not None:
        timeline = collect(con, table, time_column, span, [counted, *measures], segments)
    names = frozenset(t.name for t in targets)
    stages.begin(f"{table.name}: profile and quality")
    findings = [
        profile(table, timeline, span, derived),
        *check_quality(con, table, limits, gaps, names),
    ]
    # Headline figures of the targets only: a side column's total is noise to this question.
    stages.begin(f"{table.name}: key figures")
    findings += kpis(con, table, targets, timeline)
    stages.begin(f"{table.name}: trends and anomalies")
    if timeline is not None:
        findings += find_trends(timeline, limits) + find_anomalies(timeline, limits, headline)
        findings += find_falls(timeline, limits)
    stages.begin(f"{table.name}: seasonality")
    findings += find_seasonality(con, table, timeline, headline, limits)
    stages.begin(f"{table.name}: segments")
    findings += compare_segments(con, table, every_segment, headline, limits)
    # The segment a link is checked within must be filled in every row: otherwise the check
    # reads fewer rows than the link it checks.
    main_segment = next((c for c in every_segment if c.non_null == table.rows), None)
    stages.begin(f"{table.name}: correlations")
    findings += find_correlations(
        con, table, targets, every_measure, limits, timeline, main_segment, sums, linked
    )
    # Concentration of a target that adds up (else of the rows, when there is no target).
    total = next((m for m in targets if m.aggregation is Aggregation.SUM), None)
    stages.begin(f"{table.name}: concentration")
    if total is not None or not targets:
        findings += _concentrations(con, table, total or counted, timeline, limits, wanted)
    for finding in findings:
        finding.details.setdefault("file", table.name)
        # Every finding is of the rows ("our loans"): the words naming them make none of them
        # nearer the question ("loan status" no nearer than "grade"), so all carry them.
        finding.terms = frozenset(t for t in finding.terms if stem(t) not in unit)
        finding.on_question = bears_on(
            finding, names | ({"rows"} if counts else set()), wanted, gaps
        )
        finding.details["on_question"] = finding.on_question
        finding.terms |= unit
    return findings


def _unit_words(unit: str, measures: list[Column]) -> frozenset[str]:
    """The stems of the words naming what a row is ("loans" for loans.csv); none when a
    measure is named by them alone (a "sales" column in sales.csv is what they name)."""
    stems = frozenset(stem(w) for w in words(unit))
    if any({stem(t) for t in m.terms} <= stems for m in measures):
        return frozenset()
    return stems


def bears_on(
    finding: Insight, targets: set[str] | frozenset[str], wanted: list[Concept], gaps: bool = False
) -> bool:
    """Whether the question bears on a finding: it is about a target measure, or the question
    names what it is about (a data-quality question, the segments of a "made of" question).
    The profile never is; with no question, only findings on the lead measure are. A question
    on gaps (gaps) bears on the missing values whatever columns they are in."""
    if finding.insight_type == "profile":
        return False
    if gaps and finding.details.get("issue") == "missing_values":
        return True
    d = finding.details
    about = {d.get("measure"), d.get("target")}
    if finding.insight_type == "data_quality":
        about = {c.get("column") for c in d.get("columns") or [] if isinstance(c, dict)}
    if about & targets:
        return True
    if "rows" in about:
        return False  # a count of rows nobody asked for, whatever its segment
    return relevance(finding.terms, wanted) >= ASKED


def question_targets(measures: list[Column], wanted: list[Concept]) -> list[Column]:
    """The measures the question asks about (most relevant first), else the one a business
    would lead with (the first of measures: a total, revenue, an amount).

    A measure that shares only a word of the question's setting ("loan amount" for "the
    interest rate on our loans") is no target: it must touch half as much of the question
    as the best. Of measures touching the same words ("price", "min price", "max price"),
    the one with the fewest other words is the target, and one touching only some of the
    words another touches is none. Words said only of where the measure
    is taken ("ridership at Clark/Lake station") name no target."""
    wanted = measured(wanted)
    scored = [(relevance(m.terms, wanted), m) for m in measures]
    best = max((r for r, _ in scored), default=0.0)
    if best <= 0:
        return measures[:1]
    named = sorted(
        (m for r, m in scored if r >= TARGET_SHARE * best),
        key=lambda m: (-relevance(m.terms, wanted), len(m.terms - _touched(m, wanted))),
    )
    chosen: list[Column] = []
    seen: set[frozenset[str]] = set()
    for m in named:
        touched = _touched(m, wanted)
        # One touching fewer of the question's words than another ("rainfall" beside
        # "rainfall in Australia": ausRain) is a measure of the same kind, not the one asked.
        if touched not in seen and not any(touched < s for s in seen):
            seen.add(touched)
            chosen.append(m)
    return chosen[:MAX_TARGETS]


def _touched(m: Column, wanted: list[Concept]) -> frozenset[str]:
    """The words of a measure's name that the question touches."""
    return frozenset(t for t in m.terms if relevance({t}, wanted) > 0)


def _concentrations(
    con: DuckDBPyConnection,
    table: Table,
    total: Column,
    timeline: Timeline | None,
    limits: Thresholds,
    wanted: list[Concept],
) -> list[Insight]:
    """How concentrated the first amount (else the row count) is over customers, products..."""
    period = _latest(timeline) if table.snapshot else None
    # Counting rows per identifier that is nearly unique (a car model's name) finds nothing.
    entities = [
        e
        for e in entity_columns(table)
        if not (total.is_row_count and e.distinct >= 0.8 * table.rows)
    ]
    found = [
        concentration(con, table, entity, total, limits, period)
        for entity in prefer(entities, wanted)[:MAX_ENTITY_COLUMNS]
    ]
    return [f for f in found if f is not None]


def with_totals(table: Table, sums: Sums) -> Table:
    """The table with its headline totals and the parts of totals marked."""
    totals, parts = top_totals(sums), parts_of(sums)
    columns = tuple(
        replace(c, is_total=c.name in totals, is_part=c.name in parts) for c in table.columns
    )
    return replace(table, columns=columns)


def _latest(timeline: Timeline | None) -> Period | None:
    """The latest period of snapshot data: totals of its states add up within it only."""
    if timeline is None:
        return None
    last = timeline.last
    return Period(timeline.time, timeline.grain, last, next_period(last, timeline.grain))
