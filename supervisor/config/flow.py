"""Flow control of a job type beyond its cap: a rate limit (`rate_limit = "60/minute"`) and
what the claim needs of the rate limits of the types a supervisor serves.

Enforced in the database, not here (see `claim` in sql/queries.sql): each rate-limited
type has a window row of its recent starts, read and written in the claim's transaction,
by the database's clock, under the same per-type advisory lock as a cap (model.CAP_LOCK).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The periods a limit may be given per (and their plural and short forms).
PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_ALIASES = {"s": "second", "sec": "second", "min": "minute", "m": "minute", "h": "hour",
            "d": "day"}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+?)s?\s*$")
# A window row holds one entry per claim within the period: a limit above this many starts
# per period would make the row (rewritten at each claim) needlessly big; split the type.
MOST_STARTS = 100_000
EXAMPLE = '"60/minute" (also /second, /hour, /day)'


@dataclass(frozen=True)
class RateLimit:
    """At most `starts` jobs started in any `period` seconds, across all supervisors."""

    starts: int
    period: float

    def __str__(self) -> str:
        unit = next((u for u, s in PERIODS.items() if s == self.period), None)
        return f"{self.starts}/{unit}" if unit else f"{self.starts} per {self.period:g} s"

    @property
    def per_second(self) -> float:
        return self.starts / self.period


def parse_rate(text: str) -> RateLimit:
    """`"60/minute"` as a RateLimit; ValueError with the one-line reason otherwise."""
    match = _RATE.match(text.lower())
    unit = match and _ALIASES.get(match.group(2), match.group(2))
    if not match or unit not in PERIODS:
        raise ValueError(f"expected a count per period such as {EXAMPLE}, got {text!r}")
    starts = int(match.group(1))
    if not 1 <= starts <= MOST_STARTS:
        raise ValueError(f"the count must be from 1 to {MOST_STARTS:,}, got {text!r}")
    return RateLimit(starts, PERIODS[str(unit)])


def rate_params(rates: Mapping[str, RateLimit] | None) -> dict[str, object]:
    """The rate limits as the claim's parameters (`claim`, `next_due`)."""
    rates = rates or {}
    return {
        "rate_types": list(rates),
        "rate_counts": [r.starts for r in rates.values()],
        "rate_periods": [r.period for r in rates.values()],
    }
