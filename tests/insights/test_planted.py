"""Planted structure is found, with the right segment and date; clean data yields none."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.insights import run_complete_workflow
from tests.insights.rows import Rows, details, of_type
from tests.insights.sales_data import Plan, sales, write_csv

SPIKE_DAY = dt.date(2024, 6, 12)
EVERYTHING = Plan(
    growing_region="West",
    spike=(SPIKE_DAY, "North"),
    missing_discount=0.3,
    correlated_spend=True,
    key_accounts=20,
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """The workflow's output on data with every kind of structure planted at once."""
    path = write_csv(sales(EVERYTHING), tmp_path_factory.mktemp("planted") / "sales.csv")
    return run_complete_workflow([str(path)], "Grow revenue per region", {})


def segment_trends(rows: Rows, measure: str) -> dict[str, dict[str, object]]:
    return {
        str(details(r)["segment"]): details(r)
        for r in of_type(rows, "trend")
        if details(r)["segment_column"] == "region" and details(r)["measure"] == measure
    }


def test_growing_segment_is_the_only_segment_trend(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(Plan(growing_region="West"))])
    trends = segment_trends(rows, "rows")
    assert set(trends) == {"West"}
    west = trends["West"]
    assert west["direction"] == "up"
    # Planted: daily orders rise linearly to 3x over the year (fitted +200%).
    assert 120 < float(west["change_pct"]) < 300  # type: ignore[arg-type]
    assert float(west["p_adjusted"]) < 0.01  # type: ignore[arg-type]


def test_one_day_spike_is_named_by_date_and_segment(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(Plan(spike=(SPIKE_DAY, "North")))])
    anomalies = of_type(rows, "anomaly")
    assert len(anomalies) == 1
    found = details(anomalies[0])
    assert (found["date"], found["end"]) == (SPIKE_DAY.isoformat(), SPIKE_DAY.isoformat())
    assert (found["segment_column"], found["segment"]) == ("region", "North")
    assert found["direction"] == "spike"
    assert SPIKE_DAY.isoformat() in anomalies[0]["content"]["summary"]


def test_spike_in_a_small_segment_is_traced_to_it(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    # Two orders a day per region: too few to score regions alone, so the spike is found
    # overall and attributed to the region that holds the excess.
    rows = analyse([sales_csv(Plan(per_day=10, spike=(SPIKE_DAY, "North"), spike_factor=20))])
    anomalies = [details(r) for r in of_type(rows, "anomaly")]
    assert len(anomalies) == 1
    assert anomalies[0]["date"] == SPIKE_DAY.isoformat()
    assert (anomalies[0]["segment_column"], anomalies[0]["segment"]) == ("region", "North")
    assert anomalies[0]["driver_share"] > 0.8


def test_missing_values_column_is_reported(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(Plan(missing_discount=0.3))])
    issues = {details(r)["issue"]: details(r) for r in of_type(rows, "data_quality")}
    columns = {c["column"]: c for c in issues["missing_values"]["columns"]}
    assert set(columns) == {"discount"}
    assert 0.27 < columns["discount"]["share"] < 0.33


def test_strong_correlation_is_found_with_a_causality_caution(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(Plan(correlated_spend=True))])
    links = [details(r) for r in of_type(rows, "correlation")]
    spend = [d for d in links if set(d["columns"]) == {"revenue", "marketing_spend"}]
    assert len(spend) == 1
    assert spend[0]["r"] > 0.9 and spend[0]["sign"] == "positive"
    assert "caus" in spend[0]["caution"]


def test_dominant_customer_group_shows_as_concentration(
    sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(Plan(key_accounts=20))])
    found = [details(r) for r in of_type(rows, "concentration")]
    assert [d["entity_column"] for d in found] == ["customer_id"]
    # 20 of 400 customers order 40x as much: they alone bring about two thirds of revenue.
    assert found[0]["top_10pct_share"] > 0.6
    assert {leader["entity"] for leader in found[0]["leaders"]} <= {f"C{i:04d}" for i in range(20)}


def test_everything_planted_at_once_is_found(planted: Rows) -> None:
    assert "West" in segment_trends(planted, "rows")
    spikes = [details(r) for r in of_type(planted, "anomaly")]
    assert any((d["date"], d["segment"]) == (SPIKE_DAY.isoformat(), "North") for d in spikes)
    issues = {details(r)["issue"] for r in of_type(planted, "data_quality")}
    assert "missing_values" in issues
    assert any(
        set(details(r)["columns"]) == {"revenue", "marketing_spend"}
        for r in of_type(planted, "correlation")
    )
    assert of_type(planted, "concentration")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_random_data_has_no_trend_anomaly_or_false_pattern(
    seed: int, sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    rows = analyse([sales_csv(seed=seed)])
    assert of_type(rows, "trend") == []
    assert of_type(rows, "anomaly") == []
    assert of_type(rows, "concentration") == []
    assert of_type(rows, "segment_comparison") == []
    # revenue = quantity x unit price correlates by construction; marketing spend does not.
    assert all("marketing_spend" not in details(r)["columns"] for r in of_type(rows, "correlation"))


def test_rows_follow_the_insights_table_contract(planted: Rows) -> None:
    assert planted[0]["insight_type"] == "summary"
    for row in planted:
        assert isinstance(row["insight_type"], str) and len(row["insight_type"]) <= 100
        content = row["content"]
        assert content["title"] and content["summary"] and isinstance(content["details"], dict)
        assert 0.0 <= row["confidence_score"] <= 1.0
        assert row["confidence_score"] == round(row["confidence_score"], 2)
        json.dumps(content, allow_nan=False)
    ranks = [details(r)["rank"] for r in planted[1:]]
    assert ranks == list(range(1, len(planted)))
    # Confidence comes from the evidence, so it varies between findings.
    assert len({r["confidence_score"] for r in planted}) > 3


def test_summary_ties_top_findings_to_the_description(planted: Rows) -> None:
    summary = details(planted[0])
    assert summary["written_by"] == "built-in"
    assert summary["business_description"] == "Grow revenue per region"
    assert "Grow revenue per region" in planted[0]["content"]["summary"]
    top = planted[1]
    assert details(top)["relevance"] > 0
    assert summary["highlights"][0]["title"] == top["content"]["title"]
