"""Each principle of issue 23 on planted data: what an analyst would say, and no classic error."""

from __future__ import annotations

import csv
import math
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.insights.conftest import Rows, details, of_type


def write(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def customers(seed: int = 3, n: int = 400) -> tuple[list[str], list[list[Any]]]:
    """Card customers: levels per person (income, balance, rating, age), a few groups."""
    rng = random.Random(seed)
    rows = []
    sizes = {"1": 150, "2": 120, "3": 80, "4": 45, "5": 4, "6": 1}
    cards = [k for k, v in sizes.items() for _ in range(v)]
    rng.shuffle(cards)
    for i in range(n):
        income = rng.lognormvariate(3.6, 0.5)
        rating = 200 + 6 * income + rng.gauss(0, 40)
        balance = max(0.0, 3 * rating - 300 + rng.gauss(0, 200))
        gender = rng.choice(["Male", "Female", " Male"] if i % 10 == 0 else ["Male", "Female"])
        rows.append(
            [
                f"C{i:04d}",
                round(income, 3),
                round(rating),
                rng.randint(20, 90),
                cards[i % len(cards)],
                gender,
                round(balance, 2),
            ]
        )
    return ["ID", "Income", "Rating", "Age", "Cards", "Gender", "Balance"], rows


def test_levels_per_person_are_averaged_never_summed(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = customers()
    rows_out = analyse([write(tmp_path / "credit.csv", header, rows)], "What drives balance?")
    for kpi in of_type(rows_out, "kpi"):
        text = kpi["content"]["title"] + kpi["content"]["summary"]
        assert "in total" not in text, text
        assert details(kpi)["aggregation"] == "mean"


def test_fewest_is_the_smallest_group_even_a_tiny_one(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = customers()
    out = analyse(
        [write(tmp_path / "credit.csv", header, rows)], "How many cards do customers hold?"
    )
    counted = [
        details(r)
        for r in of_type(out, "segment_comparison")
        if details(r)["segment_column"] == "Cards" and details(r)["basis"] == "rows"
    ]
    for found in counted:
        assert found["worst"] == "6", found  # one customer holds 6 cards: the fewest


def test_medians_are_exact(tmp_path: Path, analyse: Callable[..., Rows]) -> None:
    header, rows = customers(n=2000)
    out = analyse([write(tmp_path / "credit.csv", header, rows)], "What is a typical income?")
    income = next(details(r) for r in of_type(out, "kpi") if details(r)["measure"] == "Income")
    assert math.isclose(income["median"], statistics.median(r[1] for r in rows), abs_tol=1e-4)
    medians = [f for f in income["figures"] if f.get("aggregation") == "median"]
    assert medians and not any(f.get("approximate") for f in medians)


def test_values_spelled_with_spaces_or_case_are_flagged(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = customers()
    out = analyse([write(tmp_path / "credit.csv", header, rows)], "What drives balance?")
    issues = {details(r)["issue"]: details(r) for r in of_type(out, "data_quality")}
    assert "inconsistent_values" in issues
    assert [c["column"] for c in issues["inconsistent_values"]["columns"]] == ["Gender"]
