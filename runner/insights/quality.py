"""Data quality: missing values, duplicate rows, constant columns, mixed types, columns that
look like dates or numbers but cannot be read, and physically impossible values.

Each kind of problem becomes one insight listing the columns concerned, so a reader sees
what to fix before trusting the other findings. Missing values below `min_missing_share`
are listed only when the business description asks about missing or incomplete data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.insights import figures as fig
from runner.insights.model import Column, Insight, Role, Table, Thresholds, rounded, words
from runner.insights.sql import ident, run
from runner.insights.stats import sample_factor
from runner.insights.vocabulary import GAP_WORDS, NON_NEGATIVE, PERCENT_WORDS

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MOSTLY_EMPTY = 0.9
LISTED = 8


@dataclass(frozen=True)
class Bound:
    """Values a quantity cannot take, whatever the unit it is recorded in."""

    words: frozenset[str]  # all of them must be in the column's name
    low: float | None
    high: float | None
    problem: str


# Physical limits wide enough for either unit (°C or °F, km/h or mph, hPa).
BOUNDS = (
    Bound(frozenset({"wind"}), 0, 250, "beyond any wind speed ever recorded (over 250)"),
    Bound(frozenset({"temperature"}), -90, 140, "outside -90 to 140, no temperature on Earth"),
    Bound(frozenset({"temp"}), -90, 140, "outside -90 to 140, no temperature on Earth"),
    Bound(frozenset({"latitude"}), -90, 90, "beyond ±90, no latitude"),
    Bound(frozenset({"lat"}), -90, 90, "beyond ±90, no latitude"),
    Bound(frozenset({"longitude"}), -180, 180, "beyond ±180, no longitude"),
    Bound(frozenset({"lon"}), -180, 180, "beyond ±180, no longitude"),
    Bound(frozenset({"lng"}), -180, 180, "beyond ±180, no longitude"),
    Bound(frozenset({"age"}), 0, 130, "outside 0 to 130, no age"),
)


def check_quality(
    con: DuckDBPyConnection,
    table: Table,
    limits: Thresholds,
    every_gap: bool = False,
    targets: frozenset[str] = frozenset(),
) -> list[Insight]:
    """One insight per kind of problem found in table (every_gap: list all missing values;
    targets: the measures the question asks about, whose every gap counts)."""
    found = [
        _missing(table, 0.0 if every_gap else limits.min_missing_share, every_gap, targets),
        _duplicates(con, table),
        _constant(table),
        _mixed_types(con, table),
        _unreadable(con, table),
        _impossible(con, table),
        _variants(table),
        _names_alike(table),
    ]
    return [i for i in found if i is not None]


def _issue(
    table: Table,
    issue: str,
    title: str,
    summary: str,
    details: dict[str, Any],
    columns: list[str],
    weight: float,
    evidence: float,
    figures: fig.Figures,
) -> Insight:
    return Insight(
        insight_type="data_quality",
        title=f"{table.name}: {title}",
        summary=summary,
        details={"file": table.name, "issue": issue, **details, "figures": figures.entries},
        confidence=evidence * sample_factor(table.rows, 20),
        terms=frozenset(
            {"quality", "field", issue.split("_")[0]}.union(
                GAP_WORDS if issue == "missing_values" else (), *(words(c) for c in columns)
            )
        ),
        weight=min(1.0, weight),
    )


def _missing(
    table: Table, threshold: float, asked: bool, targets: frozenset[str] = frozenset()
) -> Insight | None:
    if not table.rows:
        return None
    # A column left out for a name alike but for case still has its gaps in the file.
    columns = [*table.columns, *(_left_out(table, entry) for entry in _alike(table))]
    shares = {c.name: (table.rows - c.non_null) / table.rows for c in columns}
    # A gap in the question's measure is a finding at any share: every figure on it covers
    # only the filled rows. Other columns are listed from `threshold`, or from the target's
    # share when it is lower (every column at least as incomplete as the target).
    threshold = min([threshold, *(shares[t] for t in targets if shares.get(t, 0.0) > 0)])
    gaps = [(c, shares[c.name]) for c in columns if 0 < shares[c.name] >= threshold]
    if not gaps:
        return None
    figures = fig.Figures()
    gaps.sort(key=lambda item: -item[1])
    worst, share = gaps[0]
    every = fig.aggregate(None, "rows")

    def shown(c: Column, s: float) -> str:
        return figures.percent(s, fig.share(fig.aggregate(None, "rows", [fig.missing(c)]), every))

    listed = ", ".join(f"{c.name} ({shown(c, s)})" for c, s in gaps[:LISTED])
    more = len(gaps) - LISTED
    count = figures.count(len(gaps), {"kind": "missing_columns", "min_share": threshold})
    summary = (
        f"{count} column{'s' if len(gaps) > 1 else ''} "
        f"{'have' if len(gaps) > 1 else 'has'} missing values: {listed}"
        + (
            f" and {figures.count(more, {'kind': 'parameter', 'name': 'not listed'})} more"
            if more > 0
            else ""
        )
        + f". Figures built on {'them' if len(gaps) > 1 else 'it'} cover only the filled rows."
    )
    details = {
        "threshold": threshold,
        "columns": [
            {
                "column": c.name,
                "missing": table.rows - c.non_null,
                "share": rounded(s),
                "mostly_empty": s >= MOSTLY_EMPTY,
            }
            for c, s in gaps
        ],
    }
    title = f"missing values in {count} column(s), worst {worst.name} ({shown(worst, share)})"
    on_target = any(c.name in targets for c, _ in gaps)
    weight = 0.4 + share / 2 + (0.3 if asked or on_target else 0.0)
    return _issue(
        table,
        "missing_values",
        title,
        summary,
        details,
        [c.name for c, _ in gaps],
        weight,
        1.0,
        figures,
    )


def _duplicates(con: DuckDBPyConnection, table: Table) -> Insight | None:
    # One 64-bit hash per row: exact enough (a collision among 10^7 rows is ~1e-5 likely)
    # and small enough to group under a tight memory limit.
    row_hash = "hash(" + ", ".join(ident(c.name) for c in table.columns) + ")"
    query = f"SELECT sum(n - 1) FROM (SELECT count(*) AS n FROM {table.sql} GROUP BY {row_hash})"
    extra = int(run(con, query)[0][0] or 0)
    if extra == 0:
        return None
    figures = fig.Figures()
    share = extra / table.rows
    keyed = any(c.role is Role.IDENTIFIER and c.distinct >= 0.9 * c.non_null for c in table.columns)
    repeated = figures.count(extra, {"kind": "duplicate_rows"})
    part = figures.percent(
        share,
        {"kind": "share", "part": {"kind": "duplicate_rows"}, "whole": fig.aggregate(None, "rows")},
    )
    summary = f"{repeated} rows ({part}) repeat an earlier row exactly. " + (
        "Even the identifier repeats, so they are almost surely double entries."
        if keyed
        else "Check whether these are true repeats or double entries."
    )
    return _issue(
        table,
        "duplicate_rows",
        f"{repeated} duplicate rows",
        summary,
        {"duplicate_rows": extra, "share": rounded(share)},
        [],
        0.4 + 5 * share,
        1.0 if keyed else 0.7,
        figures,
    )


def _constant(table: Table) -> Insight | None:
    constant = [
        c
        for c in table.columns
        if c.role is Role.OTHER and c.non_null and c.minimum is not None and c.minimum == c.maximum
    ]
    if not constant:
        return None
    figures = fig.Figures()
    listed = ", ".join(
        f"{c.name} = {figures.label(c, _plain(c.minimum), _plain(c.minimum))}" for c in constant[:5]
    )
    summary = f"Some columns hold one value in every filled row ({listed}); they tell nothing."
    details = {"columns": [{"column": c.name, "value": str(c.minimum)} for c in constant]}
    return _issue(
        table,
        "constant_columns",
        "constant column(s)",
        summary,
        details,
        [c.name for c in constant],
        0.3,
        1.0,
        figures,
    )


def _alike(table: Table) -> list[tuple[str, str, int]]:
    """The columns left out at loading for a name alike another's but for case: (name, the
    name it is like, its filled rows)."""
    return [(str(a), str(b), int(n)) for a, b, n in table.source.get("names_alike") or []]


def _left_out(table: Table, entry: tuple[str, str, int]) -> Column:
    """A column left out at loading, as far as its gaps go."""
    return Column(entry[0], "VARCHAR", Role.OTHER, "NULL", entry[2], 0)


def _names_alike(table: Table) -> Insight | None:
    """Columns whose names differ from another's only by case: the later one is not analysed
    (the database, like most, cannot tell the two names apart)."""
    alike = _alike(table)
    if not alike:
        return None
    listed = ", ".join(f"{name} (like {other})" for name, other, _ in alike)
    summary = (
        f"Columns named like another but for case were left out: {listed}. Rename them to "
        "analyse them."
    )
    details = {"columns": [{"column": name, "like": other} for name, other, _ in alike]}
    names = [name for name, _, _ in alike]
    return _issue(
        table,
        "names_alike",
        "column names alike but for case",
        summary,
        details,
        names,
        0.4,
        1.0,
        fig.Figures(),
    )


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    return str(value)


def _mixed_types(con: DuckDBPyConnection, table: Table) -> Insight | None:
    mixed = [c for c in table.columns if c.sql_type == "VARCHAR" and 0.5 <= c.numeric_share < 1.0]
    if not mixed:
        return None
    figures = fig.Figures()
    examples = {c.name: _non_numeric(con, table, c.name) for c in mixed}
    first = mixed[0]
    share = figures.percent(
        1 - first.numeric_share, {"kind": "unreadable_share", "column": first.name}
    )
    summary = (
        f"{first.name} is mostly numbers, but {share} of its values are not (e.g. "
        f"{_examples(first, examples[first.name], figures)}); they were left out of its figures."
    )
    entries = [
        {"column": c.name, "numeric_share": rounded(c.numeric_share), "examples": examples[c.name]}
        for c in mixed
    ]
    return _issue(
        table,
        "mixed_types",
        "mixed types in " + ", ".join(c.name for c in mixed),
        summary,
        {"columns": entries},
        [c.name for c in mixed],
        0.6,
        max(c.numeric_share for c in mixed),
        figures,
    )


def _examples(column: Column, values: list[str], figures: fig.Figures) -> str:
    """Values quoted from the data, each checked to be there."""
    return ", ".join(figures.label(column, v, repr(v)) for v in values)


def _non_numeric(con: DuckDBPyConnection, table: Table, name: str) -> list[str]:
    """Up to three values of a text column that do not read as numbers."""
    return _some(con, table, name, f"TRY_CAST({ident(name)} AS DOUBLE) IS NULL")


def _some(con: DuckDBPyConnection, table: Table, name: str, where: str = "TRUE") -> list[str]:
    """Up to three distinct filled values of a column (where the condition holds)."""
    column = ident(name)
    query = (
        f"SELECT DISTINCT {column} FROM {table.sql} WHERE {column} IS NOT NULL AND {where} LIMIT 3"
    )
    return [str(row[0]) for row in run(con, query)]


def _unreadable(con: DuckDBPyConnection, table: Table) -> Insight | None:
    """Columns that look like dates or numbers in a form the analysis could not read."""
    columns = [c for c in table.columns if c.unreadable]
    if not columns:
        return None
    figures = fig.Figures()
    entries, said = [], []
    for c in columns:
        examples = _some(con, table, c.name)
        entries.append({"column": c.name, "looks_like": c.unreadable, "examples": examples})
        said.append(
            f"{c.name} looks like {c.unreadable} but could not be read as such "
            f"(e.g. {_examples(c, examples, figures)})"
        )
    listed = "; ".join(said)
    summary = (
        f"{listed}. It was treated as text, so no time or number analysis uses it: "
        "check its format."
    )
    return _issue(
        table,
        "unreadable_values",
        "columns that could not be read: " + ", ".join(c.name for c in columns),
        summary,
        {"columns": entries},
        [c.name for c in columns],
        0.7,
        1.0,
        figures,
    )


def _impossible(con: DuckDBPyConnection, table: Table) -> Insight | None:
    checks = impossible_checks(table)
    if not checks:
        return None
    counts = run(con, f"SELECT {', '.join(sql for _, _, sql, _ in checks)} FROM {table.sql}")[0]
    problems = [
        (column, problem, int(n), recipe)
        for (column, problem, _, recipe), n in zip(checks, counts, strict=True)
        if n
    ]
    if not problems:
        return None
    figures = fig.Figures()
    total = sum(n for _, _, n, _ in problems)
    listed = "; ".join(
        f"{column}: {figures.count(n, recipe)} value{'s' if n > 1 else ''} "
        f"{figures.parameter(problem, 'bound')}"
        for column, problem, n, recipe in problems[:4]
    )
    summary = f"Some values cannot be right: {listed}. They are probably entry or sensor errors."
    return _issue(
        table,
        "impossible_values",
        "impossible values in " + ", ".join(column for column, _, _, _ in problems),
        summary,
        {
            "columns": [
                {"column": c, "problem": PROBLEMS.get(p, p), "rows": n} for c, p, n, _ in problems
            ]
        },
        [column for column, _, _, _ in problems],
        0.8 + 5 * total / table.rows,
        1.0,
        figures,
    )


def spelling_variants(values: tuple[str, ...]) -> list[list[str]]:
    """Groups of values that differ only by surrounding spaces or letter case (" Male",
    "male", "Male"): one value written several ways, which splits its segment."""
    groups: dict[str, list[str]] = {}
    for value in values:
        groups.setdefault(" ".join(value.split()).casefold(), []).append(value)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def _variants(table: Table) -> Insight | None:
    """Category columns where one value is written several ways."""
    found = [
        (c, groups)
        for c in table.having(Role.CATEGORY)
        if c.values and (groups := spelling_variants(c.values))
    ]
    if not found:
        return None
    figures = fig.Figures()
    said = []
    for c, groups in found[:4]:
        shown = "; ".join(
            " and ".join(figures.label(c, v, repr(v)) for v in group) for group in groups[:3]
        )
        said.append(f"{c.name} ({shown})")
    summary = (
        "Some values differ only by spaces or letter case, so one group is split in several: "
        + ", ".join(said)
        + ". Clean them (trim, one spelling) before trusting per-group figures."
    )
    details = {"columns": [{"column": c.name, "variants": groups} for c, groups in found]}
    return _issue(
        table,
        "inconsistent_values",
        "values spelled several ways in " + ", ".join(c.name for c, _ in found),
        summary,
        details,
        [c.name for c, _ in found],
        0.7,
        1.0,
        figures,
    )


# What each check's phrase ("3 values below zero") is called in details.
PROBLEMS = {
    "below zero": "negative values",
    "above 100%": "values above 100%",
    "in the future": "dates in the future",
}


def impossible_checks(table: Table) -> list[tuple[str, str, str, fig.Recipe]]:
    """(column, problem, SQL count, recipe) for every check that applies to the columns."""
    checks = []
    for c in table.columns:
        named = words(c.name)
        if c.role is Role.MEASURE:
            checks += _bounds(c, named)
        if c.role is Role.TIME:
            tomorrow = dt.date.today() + dt.timedelta(days=1)
            recipe = fig.aggregate(None, "rows", [{"column": c.name, "from": tomorrow.isoformat()}])
            sql = f"count(*) FILTER ({c.expr} >= CAST('{tomorrow.isoformat()}' AS TIMESTAMP))"
            checks.append((c.name, "in the future", sql, recipe))
    return checks


def _bounds(c: Column, named: frozenset[str]) -> list[tuple[str, str, str, fig.Recipe]]:
    """The physical bound that applies to a measure, or the non-negative and percent ones."""
    for bound in BOUNDS:
        if bound.words <= named:
            low, high = bound.low, bound.high
            sql = f"count(*) FILTER ({c.expr} < {low!r} OR {c.expr} > {high!r})"
            outside = {"column": c.name, "outside": [low, high]}
            return [(c.name, bound.problem, sql, fig.aggregate(None, "rows", [outside]))]
    checks = []
    for op, value, problem, applies in (
        ("<", 0.0, "below zero", named & NON_NEGATIVE),
        (">", 100.0, "above 100%", named & PERCENT_WORDS),
    ):
        if applies:
            recipe = fig.aggregate(None, "rows", [fig.compare(c, op, value)])
            checks.append((c.name, problem, f"count(*) FILTER ({c.expr} {op} {value!r})", recipe))
    return checks
