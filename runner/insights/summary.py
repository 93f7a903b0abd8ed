"""The executive summary: the top findings tied to the business description.

Built in by default; written by a language model when `[ai]` is configured (see ai.py),
which only ever sees the computed findings, never the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.insights.model import Insight, Table, rounded

HIGHLIGHTS = 5
# Findings that describe the data rather than the business do not lead the summary.
BACKGROUND = frozenset({"profile", "kpi", "data_quality"})


def highlights(ranked: list[Insight], limit: int = HIGHLIGHTS) -> list[Insight]:
    """The top findings for the summary: business findings first, then the rest by rank."""
    lead = [i for i in ranked if i.insight_type not in BACKGROUND]
    rest = [i for i in ranked if i.insight_type in BACKGROUND]
    return (lead + rest)[:limit]


def builtin_summary(ranked: list[Insight], tables: list[Table], description: str | None) -> Insight:
    """A plain-language summary assembled from the ranked findings."""
    top = highlights(ranked)
    rows = sum(t.rows for t in tables)
    names = ", ".join(t.name for t in tables)
    goal = f" for the goal “{description.strip()}”" if description and description.strip() else ""
    lead = [i for i in top if i.insight_type not in BACKGROUND]
    if lead:
        first = lead[0].title[0].lower() + lead[0].title[1:]
        summary = f"Analysed {rows:,} rows from {names}{goal}. The main finding: {first}."
    else:
        summary = (
            f"Analysed {rows:,} rows from {names}{goal}. No clear trend, anomaly, segment gap "
            f"or correlation stood out; the headline figures and data checks are listed below."
        )
    narrative = "\n".join(f"{n}. {i.title}. {i.summary}" for n, i in enumerate(top, start=1))
    return Insight(
        insight_type="summary",
        title="Executive summary",
        summary=summary,
        details={
            "business_description": description,
            "files": [t.name for t in tables],
            "rows": rows,
            "findings": len(ranked),
            "highlights": [_highlight(i) for i in top],
            "narrative": narrative,
            "written_by": "built-in",
        },
        confidence=sum(i.confidence for i in top) / len(top) if top else 0.0,
        weight=1.0,
    )


def _highlight(finding: Insight) -> dict[str, Any]:
    return {
        "rank": finding.details.get("rank"),
        "insight_type": finding.insight_type,
        "title": finding.title,
        "summary": finding.summary,
        "confidence": rounded(finding.confidence, 2),
    }


def summarize(
    ranked: list[Insight],
    tables: list[Table],
    description: str | None,
    ai: Mapping[str, Any] | None,
) -> Insight:
    """The summary insight: the model's when `[ai]` is configured and answers, else built in."""
    builtin = builtin_summary(ranked, tables, description)
    if not ai:
        return builtin
    from runner.insights.ai import ai_summary

    return ai_summary(ai, description, highlights(ranked, limit=2 * HIGHLIGHTS), builtin)
