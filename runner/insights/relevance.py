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

SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "revenue sales sale turnover income gmv bookings amount takings",
        "customer client buyer account consumer shopper user member",
        "product item sku article goods merchandise",
        "region area territory country market city state location geography store branch",
        "order transaction purchase invoice basket deal",
        "profit margin earnings",
        "cost expense spend spending budget",
        "quantity qty units volume",
        "ticket issue case request complaint incident support",
        "churn cancel cancellation attrition retention",
        "satisfaction csat rating score nps feedback",
        "resolution duration hours time delay latency response",
        "marketing campaign ad ads advertising promotion promo",
        "discount coupon rebate",
        "channel source medium platform",
        "employee staff agent rep representative salesperson",
        "price pricing",
        "growth grow growing trend increase decline decrease rise rising falling",
        "anomaly spike outlier unusual peak drop",
        "quality missing duplicate error errors clean",
        "segment segmentation group tier",
        "concentration dependency dependence top biggest largest pareto",
        "category type class",
        "weather rain rainy rainfall wet precipitation precip drizzle snow",
        "temperature temp warm hot heat cold cool warmth",
        "wind windy gust gusts",
        "delay late lateness punctual punctuality wait",
        "airport origin dest destination",
        "airline carrier",
        "fuel economy mpg mileage consumption efficiency",
        "stock share equity ticker symbol",
        "employment job jobs employed payroll nonfarm workforce",
        "life lifeexp expectancy longevity",
        "income gdp gdppercap wealth rich richer poor",
        "population pop inhabitant people",
        "electricity energy power generation",
        "renewable renewables solar",
        "fossil coal gas oil",
        "season seasonal seasonality month monthly summer winter spring autumn",
        "hour hourly clock morning evening night",
        "plane aircraft fleet tailnum",
        "seat seats size capacity",
        "engine engines motor cylinder cylinders",
        "manufacturer maker brand make",
        "country nation continent",
    )
)

STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "for",
        "on",
        "by",
        "with",
        "we",
        "our",
        "ours",
        "is",
        "are",
        "be",
        "been",
        "how",
        "what",
        "which",
        "why",
        "want",
        "wants",
        "need",
        "needs",
        "understand",
        "know",
        "see",
        "find",
        "data",
        "file",
        "files",
        "business",
        "company",
        "analysis",
        "analyse",
        "analyze",
        "insight",
        "insights",
        "improve",
        "help",
        "about",
        "this",
        "that",
        "it",
        "its",
        "from",
        "at",
        "as",
        "more",
        "most",
        "less",
        "best",
        "all",
        "per",
        "each",
        "across",
        "over",
        "between",
        "do",
        "does",
        "can",
        "should",
        "would",
        "i",
        "my",
        "me",
        "us",
        "their",
        "they",
        "them",
        "where",
        "when",
        "who",
        "not",
        "no",
        "into",
        "than",
        "then",
        "there",
        "these",
        "those",
        "will",
        "get",
        "make",
        "look",
        "show",
    ]
)


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
GAP_WORDS = frozenset({"missing", "incomplete", "complete", "completeness", "gap", "gaps",
                       "blank", "empty", "null", "nulls"})


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
