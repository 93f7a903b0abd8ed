"""Unit tests: statistics, relevance ranking, memory sizing, and a light package import."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from runner.insights import engine, stats
from runner.insights.model import Insight, Thresholds
from runner.insights.relevance import concepts, rank, relevance

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("t", "df", "expected"),
    [(2.0, 10, 0.073388), (2.228139, 10, 0.05), (0.5, 3, 0.651448), (1.959964, 10**6, 0.05)],
)
def test_t_test_p_matches_tables(t: float, df: int, expected: float) -> None:
    assert stats.t_test_p(t, df) == pytest.approx(expected, abs=2e-6)


def test_fit_line_on_a_clean_line_and_on_noise() -> None:
    xs = [float(x) for x in range(30)]
    exact = stats.fit_line(xs, [3.0 + 2.0 * x for x in xs])
    assert exact is not None
    assert (exact.slope, exact.intercept, exact.r2, exact.p_value) == (2.0, 3.0, 1.0, 0.0)
    rng = random.Random(1)
    noise = stats.fit_line(xs, [rng.gauss(0, 1) for _ in xs])
    assert noise is not None and noise.p_value > 0.05 and noise.r2 < 0.2
    assert stats.fit_line([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_holm_adjusts_in_input_order() -> None:
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_robust_scale_ignores_a_spike_but_not_heavy_tails() -> None:
    rng = random.Random(2)
    normal = [rng.gauss(0, 2) for _ in range(500)]
    assert stats.robust_scale(normal) == pytest.approx(2.0, rel=0.15)
    assert stats.robust_scale([*normal, 1000.0]) == pytest.approx(2.0, rel=0.15)
    lumpy = [rng.gauss(0, 2) + (40 if rng.random() < 0.15 else 0) for _ in range(500)]
    assert stats.robust_scale(lumpy) > 10


def test_normal_threshold_grows_with_the_number_of_tests() -> None:
    assert stats.normal_threshold(0.05, 1) == pytest.approx(1.96, abs=0.01)
    assert stats.normal_threshold(0.01, 5000) == pytest.approx(4.753, abs=0.002)  # 1e-6 per side


def test_synonyms_connect_description_and_columns() -> None:
    wanted = concepts("How is our turnover developing with key clients?")
    assert relevance({"revenue"}, wanted) > 0
    assert relevance({"customer", "id"}, wanted) > 0
    assert relevance({"warehouse"}, wanted) == 0
    assert concepts("") == [] and concepts(None) == []


def test_rank_puts_relevant_findings_first_and_numbers_them() -> None:
    strong = Insight("trend", "t", "s", {}, 0.99, frozenset({"quantity"}), weight=1.0)
    relevant = Insight("trend", "t", "s", {}, 0.6, frozenset({"revenue", "region"}), weight=0.6)
    ranked = rank([strong, relevant], "sales by region")
    assert ranked == [relevant, strong]
    assert [f.details["rank"] for f in ranked] == [1, 2]
    assert ranked[0].details["relevance"] == 1.0
    assert rank([relevant, strong], None) == [strong, relevant]


def test_thresholds_accept_numbers_and_refuse_the_rest() -> None:
    assert Thresholds.from_mapping({"alpha": 0.05}).alpha == 0.05
    with pytest.raises(ValueError, match="must be a number"):
        Thresholds.from_mapping({"alpha": "high"})


def test_duckdb_budget_leaves_room_for_the_rest_of_the_process() -> None:
    assert engine.duckdb_budget_mb(None, 80.0) is None
    budget = engine.duckdb_budget_mb(512, 100.0)
    assert budget is not None and 150 <= budget <= 300
    assert engine.duckdb_budget_mb(100, 90.0) == engine.MIN_BUDGET_MB
    assert engine.thread_count(engine.MIN_BUDGET_MB) == 1


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, runner.insights; "
        "print(sorted(m for m in ('duckdb', 'openpyxl', 'psutil') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
