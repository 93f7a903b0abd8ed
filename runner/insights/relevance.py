"""Rank findings by how closely they touch the business description.

The description's words become concepts: each word stands for itself plus its common
business synonyms ("revenue" also matches sales, turnover...). A finding's relevance is the
share of concepts its columns, segment values and kind match; its rank mixes relevance with
its own weight and confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from runner.insights.model import Column, Insight, rounded, words
from runner.insights.vocabulary import GAP_WORDS, STOP, SYNONYMS


def stem(word: str) -> str:
    """A crude stem: plurals and superlatives go ('categories' -> 'category', 'sales' ->
    'sale', 'wettest' -> 'wet', 'warmest' -> 'warm')."""
    if len(word) > 6 and word.endswith("iest"):
        return word[:-4] + "y"
    if len(word) > 6 and word.endswith("est"):
        base = word[:-3]
        return base[:-1] if len(base) > 2 and base[-1] == base[-2] else base
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


_STEMMED_GROUPS = tuple(frozenset(stem(w) for w in g) for g in SYNONYMS)


MAX_DESCRIPTION = 4000  # characters of the description read for relevance


def concepts(description: str | None) -> list[frozenset[str]]:
    """The description's content words, each widened to its synonym group (stemmed)."""
    found: list[frozenset[str]] = []
    seen: set[str] = set()
    for word in re.findall(r"[a-z0-9]+", (description or "")[:MAX_DESCRIPTION].lower()):
        if word in STOP or len(word) < 2 or word in seen:
            continue
        seen.add(word)
        base = stem(word)
        group = frozenset({base}).union(*(g for g in _STEMMED_GROUPS if base in g))
        if group not in found:
            found.append(group)
    return found


def asks_about_gaps(description: str | None) -> bool:
    """True when the description asks about missing or incomplete data."""
    text = (description or "")[:MAX_DESCRIPTION].lower()
    return bool(set(re.findall(r"[a-z]+", text)) & GAP_WORDS)


def relevance(terms: Iterable[str], wanted: Sequence[frozenset[str]]) -> float:
    """The share of wanted concepts that terms touch."""
    if not wanted:
        return 0.0
    stems = {stem(t) for t in terms}
    return sum(1 for concept in wanted if concept & stems) / len(wanted)


def rank(findings: list[Insight], description: str | None) -> list[Insight]:
    """Findings sorted best first, with details.rank (1 = top) and details.relevance set."""
    wanted = concepts(description)

    def score(finding: Insight) -> float:
        merit = finding.weight * finding.confidence
        if not wanted:
            return merit
        return 0.65 * relevance(finding.terms, wanted) + 0.35 * merit

    ordered = sorted(findings, key=score, reverse=True)
    for position, finding in enumerate(ordered, start=1):
        finding.details["rank"] = position
        finding.details["relevance"] = rounded(relevance(finding.terms, wanted), 2)
    return ordered


def prefer(columns: list[Column], wanted: Sequence[frozenset[str]]) -> list[Column]:
    """columns with those the description mentions first (otherwise in the given order)."""
    return sorted(columns, key=lambda c: relevance(words(c.name), wanted) == 0)
