"""Data quality: missing values, duplicate rows, constant columns, mixed types, impossible values.

Each kind of problem becomes one insight listing the columns concerned, so a reader sees
what to fix before trusting the other findings.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from runner.insights.model import Insight, Role, Table, Thresholds, percent, rounded, words
from runner.insights.sql import ident, literal, run
from runner.insights.stats import sample_factor

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

MOSTLY_EMPTY = 0.9
NON_NEGATIVE = frozenset(
    [
        "quantity",
        "qty",
        "units",
        "price",
        "age",
        "count",
        "duration",
        "hours",
        "minutes",
        "weight",
        "stock",
        "inventory",
        "visits",
        "clicks",
        "impressions",
    ]
)
PERCENT = frozenset({"pct", "percent", "percentage"})


def check_quality(con: DuckDBPyConnection, table: Table, limits: Thresholds) -> list[Insight]:
    """One insight per kind of problem found in table."""
    found = [
        _missing(table, limits),
        _duplicates(con, table),
        _constant(table),
        _mixed_types(con, table),
        _impossible(con, table),
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
) -> Insight:
    return Insight(
        insight_type="data_quality",
        title=f"{table.name}: {title}",
        summary=summary,
        details={"file": table.name, "issue": issue, **details},
        confidence=evidence * sample_factor(table.rows, 20),
        terms=frozenset({"quality", issue.split("_")[0]}.union(*(words(c) for c in columns))),
        weight=min(1.0, weight),
    )


def _missing(table: Table, limits: Thresholds) -> Insight | None:
    gaps = [
        (c, 1.0 - c.non_null / table.rows)
        for c in table.columns
        if table.rows and 1.0 - c.non_null / table.rows >= limits.min_missing_share
    ]
    if not gaps:
        return None
    gaps.sort(key=lambda item: -item[1])
    worst, share = gaps[0]
    listed = ", ".join(f"{c.name} ({percent(s)})" for c, s in gaps[:5])
    summary = (
        f"{len(gaps)} column{'s' if len(gaps) > 1 else ''} have missing values: {listed}. "
        f"Figures built on {'them' if len(gaps) > 1 else 'it'} cover only the filled rows."
    )
    details = {
        "columns": [
            {
                "column": c.name,
                "missing": table.rows - c.non_null,
                "share": rounded(s),
                "mostly_empty": s >= MOSTLY_EMPTY,
            }
            for c, s in gaps
        ]
    }
    title = f"missing values in {len(gaps)} column(s), worst {worst.name} ({percent(share)})"
    return _issue(
        table,
        "missing_values",
        title,
        summary,
        details,
        [c.name for c, _ in gaps],
        0.4 + share / 2,
        1.0,
    )


def _duplicates(con: DuckDBPyConnection, table: Table) -> Insight | None:
    # One 64-bit hash per row: exact enough (a collision among 10^7 rows is ~1e-5 likely)
    # and small enough to group under a tight memory limit.
    row_hash = "hash(" + ", ".join(ident(c.name) for c in table.columns) + ")"
    query = f"SELECT sum(n - 1) FROM (SELECT count(*) AS n FROM {table.sql} GROUP BY {row_hash})"
    extra = int(run(con, query)[0][0] or 0)
    if extra == 0:
        return None
    share = extra / table.rows
    keyed = any(c.role is Role.IDENTIFIER and c.distinct >= 0.9 * c.non_null for c in table.columns)
    summary = f"{extra:,} rows ({percent(share)}) repeat an earlier row exactly. " + (
        "Even the identifier repeats, so they are almost surely double entries."
        if keyed
        else "Check whether these are true repeats or double entries."
    )
    return _issue(
        table,
        "duplicate_rows",
        f"{extra:,} duplicate rows",
        summary,
        {"duplicate_rows": extra, "share": rounded(share)},
        [],
        0.4 + 5 * share,
        1.0 if keyed else 0.7,
    )


def _constant(table: Table) -> Insight | None:
    constant = [
        c
        for c in table.columns
        if c.role is Role.OTHER and c.non_null and c.minimum is not None and c.minimum == c.maximum
    ]
    if not constant:
        return None
    listed = ", ".join(f"{c.name} = {c.minimum!s}" for c in constant[:5])
    summary = (
        f"{len(constant)} column(s) hold one value in every filled row ({listed}); "
        "they tell nothing."
    )
    details = {"columns": [{"column": c.name, "value": str(c.minimum)} for c in constant]}
    return _issue(
        table,
        "constant_columns",
        f"{len(constant)} constant column(s)",
        summary,
        details,
        [c.name for c in constant],
        0.3,
        1.0,
    )


def _mixed_types(con: DuckDBPyConnection, table: Table) -> Insight | None:
    mixed = [c for c in table.columns if c.sql_type == "VARCHAR" and 0.5 <= c.numeric_share < 1.0]
    if not mixed:
        return None
    examples = {c.name: _non_numeric(con, table, c.name) for c in mixed}
    first = mixed[0]
    summary = (
        f"{first.name} is mostly numbers, but {percent(1 - first.numeric_share)} of its "
        f"values are not (e.g. {', '.join(repr(e) for e in examples[first.name])}); "
        f"they were left out of its figures."
    )
    entries = [
        {"column": c.name, "numeric_share": rounded(c.numeric_share), "examples": examples[c.name]}
        for c in mixed
    ]
    return _issue(
        table,
        "mixed_types",
        f"mixed types in {len(mixed)} column(s)",
        summary,
        {"columns": entries},
        [c.name for c in mixed],
        0.6,
        max(c.numeric_share for c in mixed),
    )


def _non_numeric(con: DuckDBPyConnection, table: Table, name: str) -> list[str]:
    """Up to three values of a text column that do not read as numbers."""
    column = ident(name)
    query = (
        f"SELECT DISTINCT {column} FROM {table.sql} WHERE {column} IS NOT NULL "
        f"AND TRY_CAST({column} AS DOUBLE) IS NULL LIMIT 3"
    )
    return [str(row[0]) for row in run(con, query)]


def _impossible(con: DuckDBPyConnection, table: Table) -> Insight | None:
    checks = _impossible_checks(table)
    if not checks:
        return None
    counts = run(con, f"SELECT {', '.join(sql for _, _, sql in checks)} FROM {table.sql}")[0]
    problems = [
        (column, problem, int(n))
        for (column, problem, _), n in zip(checks, counts, strict=True)
        if n
    ]
    if not problems:
        return None
    total = sum(n for _, _, n in problems)
    listed = "; ".join(f"{column}: {n:,} {problem}" for column, problem, n in problems[:4])
    summary = f"Some values cannot be right: {listed}. They are probably entry errors or returns."
    return _issue(
        table,
        "impossible_values",
        f"{total:,} impossible values",
        summary,
        {"columns": [{"column": c, "problem": p, "rows": n} for c, p, n in problems]},
        [column for column, _, _ in problems],
        0.5 + 5 * total / table.rows,
        1.0,
    )


def _impossible_checks(table: Table) -> list[tuple[str, str, str]]:
    """(column, problem, SQL count) for every check that applies to table's columns."""
    checks = []
    for c in table.columns:
        if c.role is Role.MEASURE and words(c.name) & NON_NEGATIVE:
            checks.append((c.name, "negative values", f"count(*) FILTER ({c.expr} < 0)"))
        if c.role is Role.MEASURE and words(c.name) & PERCENT:
            checks.append((c.name, "values above 100%", f"count(*) FILTER ({c.expr} > 100)"))
        if c.role is Role.TIME:
            tomorrow = literal((dt.date.today() + dt.timedelta(days=1)).isoformat())
            checks.append(
                (
                    c.name,
                    "dates in the future",
                    f"count(*) FILTER ({c.expr} > CAST({tomorrow} AS TIMESTAMP))",
                )
            )
    return checks
