"""Rank findings by how closely they touch the business description.

The description's words become concepts: each word stands for itself plus its common
business synonyms ("revenue" also matches sales, turnover...). A finding's relevance is the
share of concepts its columns, segment values and kind match; its rank mixes relevance with
its own weight and confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from runner.insights import vocabulary
from runner.insights.model import Column, Insight, rounded
from runner.insights.vocabulary import GAP_WORDS, STOP, SYNONYMS


@lru_cache(maxsize=1 << 14)
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
CONTEXT_WEIGHT = 0.4  # a word of a sentence that sets the scene, against one of a question
ORDER_DECAY = 0.1  # each later concept of a question weighs a little less than the one before
QUESTION = re.compile(r"\?\s*$|^\s*(how|which|what|why|where|when|who|is|are|does|do|did|can)\b")


@dataclass(frozen=True)
class Concept:
    """A word of the description with its synonyms (stemmed), how much it weighs, and the
    questions (clauses of question sentences) it belongs to."""

    words: frozenset[str]
    weight: float
    questions: frozenset[int] = frozenset()
    # Named only after "at" ("ridership at Clark/Lake station"): where or when the measure
    # is taken, not what is measured.
    place: bool = False
    # A name (capitalised inside a sentence: "Australia", "Clark") or an acronym ("NSW"):
    # a column may shorten it to three letters ("aus"), as it may not shorten a common word
    # ("age" is no "agent").
    name: bool = False
    # The word as the description writes it (stemmed), before its synonyms: initials spell
    # the words said, not their synonyms ("aug" is no "AUtumn Growth").
    said: str = ""


def concepts(description: str | None) -> list[Concept]:
    """The description's content words, each widened to its synonym group (stemmed).

    Words of its questions weigh more than those of the sentences around them, and a
    question's first subjects more than its later ones: "how has life expectancy changed
    on each continent, and how does it relate to income?" is first about life expectancy.
    """
    original = (description or "")[:MAX_DESCRIPTION]
    text = original.lower()
    names = _names(original)
    weights: dict[frozenset[str], float] = {}
    said: dict[frozenset[str], str] = {}
    questions: dict[frozenset[str], set[int]] = {}
    asked = 0
    measured: set[frozenset[str]] = set()
    for number, (clause, question) in enumerate(_clauses(text)):
        placed = False
        for word in re.findall(r"[a-z0-9]+", clause):
            placed = placed or word in PLACE_WORDS
            if word in STOP or len(word) < 2:
                continue
            base = stem(word)
            # A synonym of a concept already named is that concept ("income (GDP)").
            group = next((g for g in weights if base in g), None) or frozenset({base}).union(
                *(g for g in _STEMMED_GROUPS if base in g)
            )
            weight = 1 / (1 + ORDER_DECAY * asked) if question else CONTEXT_WEIGHT
            asked += 1 if question and group not in weights else 0
            weights[group] = max(weights.get(group, 0.0), weight)
            said.setdefault(group, base)
            if not placed:
                measured.add(group)
            if question:
                questions.setdefault(group, set()).add(number)
    return [
        Concept(g, w, frozenset(questions.get(g, ())), g not in measured, bool(g & names), said[g])
        for g, w in weights.items()
    ]


def _names(text: str) -> set[str]:
    """The stems of the words written as names: capitalised but not first in their sentence,
    or in capitals (an acronym of three letters or more)."""
    found = set()
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        written = re.findall(r"[A-Za-z][A-Za-z0-9]*", sentence)
        capitals = sum(w[0].isupper() for w in written)
        if capitals > max(2, len(written) // 2):
            continue  # Title Case (or shouting): capitals say nothing of names
        for i, word in enumerate(written):
            if (i and word[0].isupper() and word[1:].islower()) or (
                len(word) >= 3 and word.isupper()
            ):
                found.add(stem(word.lower()))
    return found


PLACE_WORDS = frozenset({"at"})


def measured(wanted: Sequence[Concept]) -> list[Concept]:
    """The concepts that can name a measure: not those only said of where it is taken
    (unless the description says nothing else)."""
    return [c for c in wanted if not c.place] or list(wanted)


def _clauses(text: str) -> list[tuple[str, bool]]:
    """The description's clauses, each with whether it belongs to a question: "which X lag
    behind, how fast is Y growing, and is Z linked to X?" asks three things."""
    out = []
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        question = QUESTION.search(sentence) is not None
        out += [(part, question) for part in re.split(r"[,;:]\s*(?:and\s+|or\s+)?", sentence)]
    return out


COUNTS = re.compile(
    r"\bhow many\b|\bnumber of\b|\bcounts?\b|\bmade of\b|\bcomposition\b|\bmix\b"
    r"|\bbreakdown\b|\bmost common\b|\bpopular|\bfrequen|\bshare of\b|\bvolume\b"
)


def asks_about_counts(description: str | None) -> bool:
    """True when the description asks how many rows (orders, planes) there are of what."""
    return COUNTS.search((description or "")[:MAX_DESCRIPTION].lower()) is not None


def asks_about_gaps(description: str | None) -> bool:
    """True when the description asks about missing or incomplete data."""
    text = (description or "")[:MAX_DESCRIPTION].lower()
    return bool(set(re.findall(r"[a-z]+", text)) & GAP_WORDS)


def relevance(terms: Iterable[str], wanted: Sequence[Concept]) -> float:
    """How closely terms touch the description: half the weighted share of its concepts
    they touch, half the share of the one question they answer best (a finding that
    answers one question whole beats one that grazes several)."""
    total = sum(c.weight for c in wanted)
    if not total:
        return 0.0
    stems = {stem(t) for t in terms}
    initials = {i for t in stems for i in _initials(t, wanted)}
    touched = [c for i, c in enumerate(wanted) if i in initials or _touches(c.words, stems, c.name)]
    overall = sum(c.weight for c in touched) / total
    asked = {q for c in wanted for q in c.questions}
    best = max(
        (
            sum(c.weight for c in touched if q in c.questions)
            / sum(c.weight for c in wanted if q in c.questions)
            for q in asked
        ),
        default=overall,
    )
    return 0.5 * overall + 0.5 * best


MIN_INITIALS = 3  # letters of a name read as initials ("avt": AVerage Temperature)


def _initials(term: str, wanted: Sequence[Concept]) -> set[int]:
    """The positions of two or more consecutive concepts whose words' beginnings spell term
    ("avt": AVerage Temperature, the first at least two letters), else none. A known word
    ("age", "tax") is itself, never initials."""
    if len(term) < MIN_INITIALS or term in KNOWN or not term.isalpha():
        return set()
    for start in range(len(wanted) - 1):
        end = _spell(term, wanted, start, first=True)
        if end is not None and end - start >= 2:
            return set(range(start, end))
    return set()


def _spell(term: str, wanted: Sequence[Concept], at: int, first: bool = False) -> int | None:
    """The position after the last concept when term spells the beginnings of the concepts
    from `at` on, else None."""
    if not term:
        return at
    if at >= len(wanted):
        return None
    # The first concept gives two letters at least and leaves some for the next.
    for length in range(len(term) - 1, 1, -1) if first else range(len(term), 0, -1):
        piece = term[:length]
        if wanted[at].said.startswith(piece):
            end = _spell(term[length:], wanted, at + 1)
            if end is not None:
                return end
    return None


def _touches(concept: frozenset[str], stems: set[str], name: bool = False) -> bool:
    """A shared word, or a column's abbreviation of one ("temp", "precip"; of a name, three
    letters are enough: "aus" for Australia, and a name's acronym stands for a longer word)."""
    shortest = 3 if name else 4
    return bool(concept & stems) or any(
        _abbreviates(concept, t, name)
        for t in stems
        if len(t) >= 4 or (len(t) >= shortest and t not in KNOWN)
    )


# Words the vocabulary knows as themselves ("age", "pop", "tax"): no name's abbreviation.
KNOWN = frozenset(
    stem(w)
    for group in (
        vocabulary.SUMMED_WORDS,
        vocabulary.AVERAGED_WORDS,
        vocabulary.EVENT_NOUNS,
        vocabulary.NON_NEGATIVE,
        vocabulary.INTERVAL_WORDS,
        vocabulary.DIRECTION_WORDS,
        vocabulary.PERCENT_WORDS,
        STOP,
        *SYNONYMS,
    )
    for w in group
)


@lru_cache(maxsize=1 << 14)
def _abbreviates(concept: frozenset[str], term: str, name: bool = False) -> bool:
    shortest = 3 if name else 4
    return any(w.startswith(term) or (len(w) >= shortest and term.startswith(w)) for w in concept)


def rank(findings: list[Insight], description: str | None) -> list[Insight]:
    """Findings sorted best first, with details.rank (1 = top) and details.relevance set."""
    wanted = concepts(description)

    def score(finding: Insight) -> float:
        merit = finding.weight * finding.confidence
        if not wanted:
            return merit
        return 0.65 * relevance(finding.terms, wanted) + 0.35 * merit

    # What the question does not bear on ranks below every finding it does.
    ordered = budget(sorted(findings, key=lambda f: (f.on_question, score(f)), reverse=True))
    for position, finding in enumerate(ordered, start=1):
        finding.details["rank"] = position
        finding.details["relevance"] = rounded(relevance(finding.terms, wanted), 2)
    return ordered


TOP = 10
SIDE_BUDGET = 2  # findings the question does not bear on, among the first TOP


def budget(ordered: list[Insight]) -> list[Insight]:
    """ordered with at most SIDE_BUDGET side findings among the first TOP: the others move
    just below them, in their order."""
    top: list[Insight] = []
    moved: list[Insight] = []
    rest = iter(ordered)
    for finding in rest:
        if len(top) == TOP:
            return top + moved + [finding, *rest]
        side = sum(not f.on_question for f in top)
        (moved if not finding.on_question and side >= SIDE_BUDGET else top).append(finding)
    return top + moved


def prefer(columns: list[Column], wanted: Sequence[Concept]) -> list[Column]:
    """columns, those the description mentions most first (otherwise in the given order)."""
    # A column named in the question beats one whose values merely are.
    return sorted(
        columns,
        key=lambda c: -(relevance(c.terms, wanted) + 0.5 * relevance(c.value_terms, wanted)),
    )
