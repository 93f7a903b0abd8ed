"""Statistics on small aggregated series: line fits, tests, robust scales (stdlib only).

The heavy lifting (scans, group-bys) happens in DuckDB; what reaches Python is a few
thousand numbers at most, so plain Python is fast enough and keeps numpy out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, median, quantiles

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class LineFit:
    """An ordinary least-squares line y = intercept + slope * x, with its evidence."""

    slope: float
    intercept: float
    r2: float
    p_value: float
    n: int

    def at(self, x: float) -> float:
        """The fitted value at x."""
        return self.intercept + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LineFit | None:
    """Least-squares fit with a two-sided t-test on the slope; None below 3 points."""
    n = len(xs)
    if n < 3 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxx == 0:
        return None
    slope = sxy / sxx
    intercept = my - slope * mx
    if syy == 0:
        return LineFit(0.0, my, 0.0, 1.0, n)
    ss_res = max(syy - slope * sxy, 0.0)
    r2 = 1.0 - ss_res / syy
    if ss_res == 0:
        return LineFit(slope, intercept, 1.0, 0.0, n)
    t = slope / math.sqrt(ss_res / (n - 2) / sxx)
    return LineFit(slope, intercept, r2, t_test_p(t, n - 2), n)


def t_test_p(t: float, df: int) -> float:
    """Two-sided p-value of Student's t with df degrees of freedom."""
    if df <= 0:
        return 1.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def f_test_p(f: float, df_between: int, df_within: int) -> float:
    """Upper-tail p-value of Fisher's F with (df_between, df_within) degrees of freedom."""
    if df_between <= 0 or df_within <= 0:
        return 1.0
    if f <= 0:
        return 1.0
    return _betainc(df_within / 2.0, df_between / 2.0, df_within / (df_within + df_between * f))


def one_way_anova(groups: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(p-value, eta²) of a one-way analysis of variance: do the group means differ?"""
    kept = [g for g in groups if g]
    values = [v for g in kept for v in g]
    k, n = len(kept), len(values)
    if k < 2 or n <= k:
        return 1.0, 0.0
    grand = sum(values) / n
    means = [sum(g) / len(g) for g in kept]
    between = sum(len(g) * (m - grand) ** 2 for g, m in zip(kept, means, strict=True))
    within = sum((v - m) ** 2 for g, m in zip(kept, means, strict=True) for v in g)
    total = between + within
    if total == 0:
        return 1.0, 0.0
    if within == 0:
        return 0.0, 1.0
    f = (between / (k - 1)) / (within / (n - k))
    return f_test_p(f, k - 1, n - k), between / total


def normal_p(z: float) -> float:
    """Two-sided p-value of a standard normal z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def normal_threshold(alpha: float, tests: int) -> float:
    """The |z| above which a Bonferroni-corrected two-sided test at alpha rejects."""
    return -NormalDist().inv_cdf(alpha / (2.0 * max(tests, 1)))


def correlation_p(r: float, n: int) -> float:
    """Two-sided p-value that a Pearson correlation r over n pairs is zero."""
    if n < 3:
        return 1.0
    if abs(r) >= 1.0:
        return 0.0
    return t_test_p(r * math.sqrt((n - 2) / (1.0 - r * r)), n - 2)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control), in input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def robust_scale(values: Sequence[float]) -> float:
    """A standard deviation that a few outliers cannot inflate, nor heavy tails deflate.

    The MAD alone (the 50th percentile of |deviation|) ignores tails: on lumpy data, such
    as daily revenue with occasional very large orders, it makes every large day look
    extreme. So the 90th percentile of |deviation| (1.645 sigma under normality) is used
    when larger: a handful of spikes cannot move it, a heavy-tailed series does.
    """
    if len(values) < 10:
        return 0.0
    centre = median(values)
    deviations = [abs(v - centre) for v in values]
    from_mad = MAD_TO_SIGMA * median(deviations)
    from_tail = quantiles(deviations, n=10)[-1] / NormalDist().inv_cdf(0.95)
    return max(from_mad, from_tail)


def sample_factor(n: float, half: float) -> float:
    """How much n observations are worth, in [0, 1): 0.5 when n == half."""
    return n / (n + half) if n > 0 else 0.0


def clamp01(value: float) -> float:
    """value limited to [0, 1]; NaN becomes 0."""
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) (Numerical Recipes' continued fraction)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Lentz's evaluation of the incomplete beta continued fraction."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return result
