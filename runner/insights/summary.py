"""The executive summary: the top findings tied to the business description.

Built in by default; written by a language model when `[ai]` is configured (see ai.py),
which only ever sees the computed findings, never the rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runner.insights import figures as fig
from runner.insights.model import Insight, Table, rounded

HIGHLIGHTS = 5
MAX_QUOTE = 200  # characters of the business description the summary quotes
# Findings that describe the data rather than the business do not lead the summary.
BACKGROUND = frozenset({"profile", "kpi", "data_quality"})


def highlights(ranked: list[Insight], limit: int = HIGHLIGHTS) -> list[Insight]:
    """The top findings for the summary: business findings the question bears on first,
    then the other business findings, then the rest, each by rank."""
    answers = [i for i in ranked if i.insight_type not in BACKGROUND and i.on_question]
    lead = [i for i in ranked if i.insight_type not in BACKGROUND and not i.on_question]
    rest = [i for i in ranked if i.insight_type in BACKGROUND]
    return (answers + lead + rest)[:limit]


def builtin_summary(ranked: list[Insight], tables: list[Table], description: str | None) -> Insight:
    """A plain-language summary assembled from the ranked findings."""
    top = highlights(ranked)
    figures = fig.Figures()
    rows = sum(t.rows for t in tables)
    counted = figures.count(rows, fig.aggregate(None, "rows"))
    counted = f"{counted} row" if rows == 1 else f"{counted} rows"
    names = ", ".join(t.name for t in tables)
    quoted = first_sentence(description)
    goal = f" for the goal “{quoted}”" if quoted else ""
    lead = [i for i in top if i.insight_type not in BACKGROUND]
    if lead:
        # The first sentence answers the question: its top driver, trend or season.
        summary = f"{lead[0].title}. Analysed {counted} from {names}{goal}."
        figures.entries += lead[0].details.get("figures", [])
    else:
        summary = (
            f"Analysed {counted} from {names}{goal}. No clear trend, anomaly, segment gap "
            f"or correlation stood out; the headline figures and data checks are listed below."
        )
    narrative = "\n".join(f"{n}. {i.title}. {i.summary}" for n, i in enumerate(top, start=1))
    return Insight(
        insight_type="summary",
        title="Executive summary",
        summary=summary,
        details={
            "business_description": quoted or None,
            "files": [t.name for t in tables],
            "rows": rows,
            "findings": len(ranked),
            "highlights": [_highlight(i) for i in top],
            "narrative": narrative,
            "written_by": "built-in",
            "figures": figures.entries,
        },
        confidence=sum(i.confidence for i in top) / len(top) if top else 0.0,
        weight=1.0,
    )


def first_sentence(description: str | None, limit: int = MAX_QUOTE) -> str:
    """The description's first sentence, cut with an ellipsis when longer than limit or
    followed by more: a summary quotes the goal, not a whole document."""
    raw = description or ""
    text = " ".join(raw[: limit * 4].split())
    if not text:
        return ""
    match = re.search(r"(?<=[.!?])\s", text)
    sentence = text[: match.start()] if match else text
    if len(sentence) > limit:
        return sentence[: limit - 1].rstrip() + "…"
    more = match is not None or len(raw) > limit * 4
    return sentence + "…" if more else sentence


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
