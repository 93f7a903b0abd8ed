"""The nouns of the workflow: a loaded table, its columns and their roles, an insight."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from runner.insights.stats import clamp01


class Role(StrEnum):
    """What a column is for in a business analysis."""

    TIME = "time"
    MEASURE = "measure"
    CATEGORY = "category"
    IDENTIFIER = "identifier"
    # A part of the calendar or the clock held in its own column (month, hour, HHMM time):
    # derived from the time axis, so never a measure nor a segment; seasonality reads it.
    CALENDAR = "calendar"
    TEXT = "text"
    OTHER = "other"


class Aggregation(StrEnum):
    """How a measure adds up over rows: totals (revenue) or averages (price, temperature)."""

    SUM = "sum"
    MEAN = "mean"


@dataclass(frozen=True)
class Column:
    """One column of a loaded table, with the figures its role was inferred from."""

    name: str
    sql_type: str
    role: Role
    expr: str  # SQL giving the typed value, e.g. TRY_CAST("amount" AS DOUBLE)
    non_null: int
    distinct: int
    numeric_share: float = 1.0  # share of non-null text values readable as numbers
    minimum: Any = None
    maximum: Any = None
    negatives: int = 0
    aggregation: Aggregation = Aggregation.SUM
    caption: str | None = None  # what to call it when the name will not do
    part: str | None = None  # calendar columns: month, weekday, hour, quarter, day, clock...
    grain: str | None = None  # time columns: the data's own period (year for a year column)
    unreadable: str | None = None  # "dates" or "numbers": looks like them, could not be read
    is_total: bool = False  # the sum of other measures, itself part of none: a headline
    is_part: bool = False  # one of the measures a total adds up from
    values: tuple[str, ...] = ()  # a category's values (at most CATEGORY_MAX), for relevance

    @property
    def importance(self) -> float:
        """How much a finding on this measure weighs against one on its total (which speaks
        for its parts): 1, or 0.75 for a part."""
        return 0.75 if self.is_part else 1.0

    @property
    def non_negative(self) -> bool:
        """True when no value is below zero (so no fitted level may be either)."""
        if self.is_row_count:
            return True
        try:
            return float(self.minimum) >= 0
        except (TypeError, ValueError):
            return False

    @property
    def ratio_scale(self) -> bool:
        """True when zero means none, so ratios and percentages of it mean something: not a
        temperature (20 °C is not twice 10 °C), nor anything that goes below zero."""
        from runner.insights.vocabulary import INTERVAL_WORDS

        return self.non_negative and not words(self.name) & INTERVAL_WORDS

    @property
    def label(self) -> str:
        """The column name as a reader would say it."""
        return self.caption or humanize(self.name)

    @property
    def entity_label(self) -> str:
        """What an identifier counts, in the plural: customer_id -> 'customers'."""
        return plural(
            re.sub(r"[\s_.\-]*(id|no|nr|number|key|uuid|code)$", "", self.name, flags=re.IGNORECASE)
            or self.name
        )

    @property
    def terms(self) -> frozenset[str]:
        """The words a business description may use for this column."""
        return words(self.name) | words(self.label)

    @property
    def value_terms(self) -> frozenset[str]:
        """The words of a category's values: a question naming "Renewables" is about source."""
        return frozenset().union(*(words(v) for v in self.values))

    @property
    def is_row_count(self) -> bool:
        """True for the pseudo-measure that counts rows (orders, tickets...)."""
        return self.expr == "1"

    @property
    def quantity_label(self) -> str:
        """'revenue', or 'number of orders' for the row count."""
        return f"number of {self.label}" if self.is_row_count else self.label


@dataclass(frozen=True)
class Table:
    """A file loaded into DuckDB: its display name, SQL name, size, columns and origin."""

    name: str
    sql: str
    rows: int
    columns: tuple[Column, ...]
    source: dict[str, Any] = field(default_factory=dict)
    # Rows are states at a time (a price, a headcount, a country's population per year),
    # one per period (and per `panel` entity), not events: their totals over time mean nothing.
    snapshot: bool = False
    panel: str | None = None

    def having(self, role: Role) -> list[Column]:
        """The columns with this role, in file order."""
        return [c for c in self.columns if c.role is role]

    def column(self, name: str) -> Column:
        """The column called name."""
        return next(c for c in self.columns if c.name == name)


def row_count(unit: str = "records") -> Column:
    """The number of rows, analysed like a measure and called by its unit: orders, tickets."""
    return Column(
        name="rows",
        sql_type="BIGINT",
        role=Role.MEASURE,
        expr="1",
        non_null=0,
        distinct=0,
        caption=unit,
    )


@dataclass
class Insight:
    """One finding, as it will be stored in the insights table."""

    insight_type: str
    title: str
    summary: str
    details: dict[str, Any]
    confidence: float
    # Words the finding is about (columns, segments), matched against the business description.
    terms: frozenset[str] = frozenset()
    # How much the finding matters on its own, in [0, 1], before relevance is applied.
    weight: float = 0.5
    # False for what the question does not bear on (a side column's figures, the profile,
    # row counts nobody asked for): at most a couple of those rank among the first ten.
    on_question: bool = True

    def to_row(self) -> dict[str, Any]:
        """The dict the supervisor writes to `insights` (confidence fits DECIMAL(3,2))."""
        content = {"title": self.title, "summary": self.summary, "details": self.details}
        return {
            "insight_type": self.insight_type,
            "content": content,
            "confidence_score": round(clamp01(self.confidence), 2),
        }


def humanize(name: str) -> str:
    """'order_total' or 'orderTotal' -> 'order total'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[\s_\-.]+", " ", spaced).strip().lower() or name


def plural(name: str) -> str:
    """'customer' -> 'customers', 'category' -> 'categories' (humanized)."""
    noun = humanize(name)
    if noun.endswith("s"):
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"


def words(text: str) -> frozenset[str]:
    """The lower-case words of a name or phrase, for relevance matching."""
    return frozenset(w for w in re.split(r"[^a-z0-9]+", humanize(text)) if w)


def number(value: float) -> str:
    """A figure as a reader wants it: 1,234 / 12.5 / 1.23 M / 4.5 bn."""
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.2f} bn"
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f} M"
    if magnitude >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    # Small figures keep two significant digits: 0.0045, not 0.00.
    return f"{value:.{1 - math.floor(math.log10(magnitude))}f}"


def percent(share: float, signed: bool = False) -> str:
    """0.123 -> '12.3%' (or '+12.3%' when signed); tiny shares keep two digits: '0.0095%'."""
    value = share * 100
    digits = 1
    if 0 < abs(value) < 0.1:
        digits = 1 - math.floor(math.log10(abs(value)))
    return f"{value:+.{digits}f}%" if signed else f"{value:.{digits}f}%"


def rounded(value: float, digits: int = 4) -> float:
    """A float trimmed for JSON details."""
    return round(float(value), digits)


@dataclass(frozen=True)
class Thresholds:
    """When a pattern counts as a finding; a job may override any of them in metadata."""

    alpha: float = 0.01  # family-wise error rate of each family of tests (Holm/Bonferroni)
    min_trend_change: float = 0.05  # a fitted change smaller than 5% over the period is not news
    min_anomaly_z: float = 4.0  # floor under the Bonferroni-corrected robust z threshold
    min_anomaly_effect: float = 0.25  # and at least 25% away from the expected level
    min_correlation: float = 0.1  # a driver below this explains under 1% of its target
    min_segment_ratio: float = 1.2  # best segment's total at least 1.2x the worst's
    min_effect_size: float = 0.2  # Cohen's d between the best and worst segment averages
    min_concentration: float = 0.4  # the top 10% of customers/products bring at least 40%
    min_missing_share: float = 0.05  # a column with fewer missing values is not flagged

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any]) -> Thresholds:
        """Defaults with the given keys replaced; an unknown key or a non-number is refused."""
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"unknown threshold {key!r} (known: {', '.join(sorted(known))})")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"threshold {key!r} must be a number, not {value!r}")
        return replace(cls(), **{k: float(v) for k, v in overrides.items()})
