"""scripts/evallib's checks of misleading claims (issue 23's classes 2, 3, 4, 5, 9) and its noise
rule, each on a small table where the answer is known: they flag what misleads, and nothing else."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from evallib.claims import unaccounted
from evallib.keys import Dataset, driver_key, names
from evallib.misleading import misleading
from evallib.noise import is_trivial
from evallib.truth import Truth, derive

pytestmark = pytest.mark.unit


def _dataset(**fields: Any) -> Dataset:
    return Dataset("t", "t.csv", "?", pd.DataFrame, lambda path: None, lambda f: [], **fields)


def _row(kind: str, **details: Any) -> dict[str, Any]:
    return {"insight_type": kind, "content": {"title": "t", "summary": "", "details": details}}


MONTHS = pd.date_range("2020-01-01", periods=36, freq="MS")


def _fit_figure(text: str, value: float, at: str) -> dict[str, Any]:
    return {"kind": "fit", "text": text, "value": value, "at": at, "measure": "sales",
            "aggregation": "sum", "filters": [], "time": "month", "grain": "month",
            "from": "2020-01-01", "before": "2023-01-01", "model": "linear"}  # fmt: skip


def test_a_fitted_start_below_every_observed_level_is_flagged() -> None:
    truth = Truth(pd.DataFrame({"month": MONTHS, "sales": np.arange(36.0) + 10}))
    outside = _row("trend", figures=[_fit_figure("5.0", 5.0, "start")])
    inside = _row("trend", figures=[_fit_figure("10.0", 10.0, "start")])
    assert misleading(outside, truth, _dataset()) != []
    assert misleading(inside, truth, _dataset()) == []


def _drawdown(peak: str, trough: str, recovered: bool) -> dict[str, Any]:
    period = {"kind": "period", "column": "month", "grain": "month", "from": peak, "text": peak}
    return _row("drawdown", measure="sales", aggregation="mean", grain="month", peak=peak,
                trough=trough, depth=0.5, recovered=recovered, figures=[period])  # fmt: skip


def test_a_peak_beaten_after_the_trough_is_not_a_peak_still_unrecovered() -> None:
    sales = [10.0, 20.0, 10.0, 30.0, 25.0, 26.0] * 6
    truth = Truth(pd.DataFrame({"month": MONTHS, "sales": sales}))
    flags = misleading(_drawdown("2020-02-01", "2020-03-01", False), truth, _dataset())
    assert any("beaten" in f for f in flags)
    assert any("the season" in f for f in flags)  # the same February-March fall every year


def test_a_single_fall_without_a_later_high_is_not_flagged() -> None:
    sales = list(np.linspace(100, 200, 12)) + list(np.linspace(190, 60, 24))
    truth = Truth(pd.DataFrame({"month": MONTHS, "sales": sales}))
    assert misleading(_drawdown("2020-12-01", "2022-12-01", False), truth, _dataset()) == []


def _total(measure: str) -> dict[str, Any]:
    figure = {"kind": "aggregate", "text": "1", "value": 1, "measure": measure,
              "aggregation": "sum", "filters": []}  # fmt: skip
    return _row("kpi", measure=measure, figures=[figure])


def test_a_per_unit_measure_summed_over_rows_is_flagged_a_count_is_not() -> None:
    truth = Truth(pd.DataFrame({"price": [1.0, 2.0, 3.0], "units": [1, 2, 3]}))
    dataset = _dataset(per_unit=names("price"))
    assert misleading(_total("price"), truth, dataset) != []
    assert misleading(_total("units"), truth, dataset) == []


def test_a_stock_adds_up_across_entities_in_one_period_not_over_periods() -> None:
    frame = pd.DataFrame({"year": [2000, 2000, 2001, 2001], "country": list("abab"),
                          "pop": [1.0, 2.0, 1.5, 2.5]})  # fmt: skip
    dataset = _dataset(stocks=names("pop"), time="year")
    one_year = _total("pop")
    one_year["content"]["details"]["figures"][0]["filters"] = [{"column": "year", "equals": 2000}]
    assert misleading(one_year, Truth(frame), dataset) == []
    assert misleading(_total("pop"), Truth(frame), dataset) != []


def _correlation(x: str, y: str) -> dict[str, Any]:
    return _row("correlation", columns=[x, y], recipe={"kind": "correlation", "x": x, "y": y})


def test_derived_pairs_are_flagged() -> None:
    rng = np.random.default_rng(1)
    part, other = rng.uniform(1, 10, 60), rng.uniform(1, 10, 60)
    kind = rng.integers(1, 4, 60)
    frame = pd.DataFrame({"part": part, "other": other, "total": part + other,
                          "log_part": np.log(part), "a": kind == 1, "b": kind == 2})  # fmt: skip
    truth = Truth(frame.astype(float))
    for x, y in (("part", "log_part"), ("part", "total"), ("a", "b")):
        assert misleading(_correlation(x, y), truth, _dataset()) != [], (x, y)


def test_two_parts_of_one_total_and_two_trends_are_not_derived() -> None:
    rng = np.random.default_rng(2)
    goods, services = rng.uniform(1, 10, 60), rng.uniform(1, 10, 60)
    trend = np.arange(60.0)
    frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=60, freq="MS"),
                          "goods": goods, "services": services, "total": goods + services,
                          "gdp": trend * 2 + rng.normal(0, 3, 60), "pop": trend + 100})  # fmt: skip
    truth = Truth(frame)
    dataset = _dataset(time="month")
    assert misleading(_correlation("goods", "services"), truth, dataset) == []
    assert misleading(_correlation("gdp", "pop"), truth, dataset) == []


def test_a_total_its_other_columns_make_alone_is_no_sum_of_a_bystander() -> None:
    # national rain = the regions' rains; a temperature beside them is no part of it, though
    # the rains fit "rain - temperature" too (its swings are small against rain's).
    rng = np.random.default_rng(3)
    east, west = rng.uniform(200, 900, 80), rng.uniform(100, 600, 80)
    temp = 21 + rng.normal(0, 0.3, 80)
    frame = pd.DataFrame({"east": east, "west": west, "rain": 0.4 * east + 0.6 * west,
                          "temp": temp})  # fmt: skip
    assert misleading(_correlation("rain", "temp"), Truth(frame), _dataset()) == []


def test_fewest_named_after_dropping_small_groups_is_flagged() -> None:
    truth = Truth(pd.DataFrame({"cards": [1] * 20 + [2] * 12 + [6] * 10 + [7] * 4 + [9]}))
    row = _row("segment_comparison", segment_column="cards", measure="rows", basis="rows",
               best=1, worst=6)  # fmt: skip
    assert misleading(row, truth, _dataset()) != []
    row["content"]["details"]["worst"] = 9
    assert misleading(row, truth, _dataset()) == []


def test_noise_is_what_the_question_does_not_bear_on() -> None:
    dataset = _dataset(targets=names("wage"))
    assert is_trivial(_row("profile"), dataset)
    assert is_trivial(_row("segment_comparison", measure="rows", basis="rows"), dataset)
    assert is_trivial(_row("kpi", measure="age"), dataset)
    assert is_trivial(_correlation("age", "exper"), dataset)
    assert not is_trivial(_correlation("wage", "educ"), dataset)
    assert not is_trivial(_row("kpi", measure="wage"), dataset)
    assert not is_trivial(_row("data_quality", columns=[{"column": "wage"}]), dataset)
    assert is_trivial(_row("data_quality", columns=[{"column": "age"}]), dataset)


def test_a_driver_key_counts_a_correlation_or_a_segment_comparison() -> None:
    key = driver_key("wage", "educ", "positive", high=[16], low=[8])
    correlation = {"columns": ["educ", "wage"], "sign": "positive"}
    segments = {"segment_column": "educ", "measure": "wage", "basis": "average", "best": 16}
    assert key.stated_by("correlation", correlation)
    assert key.stated_by("segment_comparison", segments)
    assert not key.stated_by("correlation", {**correlation, "sign": "negative"})
    assert not key.stated_by("segment_comparison", {**segments, "best": 8, "worst": 16})


def _stated(title: str, summary: str = "", **details: Any) -> dict[str, Any]:
    return {"insight_type": "kpi", "content": {"title": title, "summary": summary,
                                               "details": {"figures": [], **details}}}  # fmt: skip


def test_digits_of_column_names_are_no_figures_but_a_stray_figure_is() -> None:
    columns = ["Num collections last 12m", "m1", "SalesQ3Total", "2019", "customer"]
    named = _stated(
        "Num collections last 12m tracks m1",
        "num collections last 12m and sales q3 total move with M1.",
    )
    assert unaccounted(named, columns) == []
    stray = _stated("Num collections last 12m is 42 on average", "m1 rose 7.5% in m12")
    assert unaccounted(stray, columns) == ["42", "7.5", "12"]
    # A name that is only a number stays a number; a name is matched whole, not inside one.
    assert unaccounted(_stated("2019 customers"), columns) == ["2019"]
    # Figures with a recipe are accounted for, the rest of the text still read.
    listed = _stated("m1 is 42", figures=[{"text": "42", "value": 42, "kind": "aggregate"}])
    assert unaccounted(listed, columns) == []


def _season_recipe(equals: int, detrend: str, model: str = "ratio") -> dict[str, Any]:
    return {"kind": "seasonal_index", "measure": "sales", "aggregation": "sum", "filters": [],
            "time": "month", "grain": "month", "from": "2020-01-01", "before": "2023-01-01",
            "part": "month", "equals": equals, "model": model, "detrend": detrend}  # fmt: skip


def test_a_seasonal_index_is_the_season_net_of_the_trend() -> None:
    season = np.array([0.2, -0.1] + [0.0] * 9 + [-0.1])  # January +20%, February -10%
    trend = 100 * 1.01 ** np.arange(36)
    truth = Truth(pd.DataFrame({"month": MONTHS, "sales": trend * (1 + np.tile(season, 3))}))
    for detrend in ("moving_average", "fit"):
        assert derive(_season_recipe(1, detrend), truth) == pytest.approx(0.2, abs=0.01)
        assert derive(_season_recipe(2, detrend), truth) == pytest.approx(-0.1, abs=0.01)
    flat = Truth(pd.DataFrame({"month": MONTHS, "sales": 50 + 5 * np.tile(season, 3) * 10}))
    assert derive(_season_recipe(1, "fit", "difference"), flat) == pytest.approx(10.0, abs=0.5)


def test_a_seasonal_expected_level_is_the_trend_times_the_index() -> None:
    season = np.array([0.2, -0.1] + [0.0] * 9 + [-0.1])
    trend = 100 * 1.01 ** np.arange(36)
    truth = Truth(pd.DataFrame({"month": MONTHS, "sales": trend * (1 + np.tile(season, 3))}))
    recipe = _season_recipe(0, "moving_average") | {"kind": "seasonal_expected"}
    # January 2021 (period 12): trend about 100 * 1.01 ** 12, January 20% above it.
    at = derive(recipe | {"period": "2021-01-01"}, truth)
    assert at == pytest.approx(100 * 1.01**12 * 1.2, rel=0.02)
    with pytest.raises(Exception, match="no trend"):  # the moving average's ends
        derive(recipe | {"period": "2020-01-01"}, truth)


def test_a_growth_rate_is_the_yearly_rate_between_the_two_windows() -> None:
    truth = Truth(
        pd.DataFrame({"month": MONTHS, "sales": [100.0] * 12 + [0.0] * 12 + [121.0] * 12})
    )
    window = [{"column": "month", "from": "2020-01-01", "before": "2021-01-01"}]
    late = [{"column": "month", "from": "2022-01-01", "before": "2023-01-01"}]
    recipe = {"kind": "growth_rate", "years": 99,
              "from": {"kind": "aggregate", "measure": "sales", "aggregation": "sum", "filters": window},
              "to": {"kind": "aggregate", "measure": "sales", "aggregation": "sum", "filters": late}}  # fmt: skip
    assert derive(recipe, truth) == pytest.approx(0.1)


def test_a_figure_that_names_a_column_with_digits_is_read_whole() -> None:
    figures = [{"text": "0 num collections last 12m", "value": 0, "kind": "label"},
               {"text": "1", "value": 1, "kind": "aggregate"}]  # fmt: skip
    row = _stated(
        "Num collections last 12m: most loans for 0 num collections last 12m",
        "num_accounts_120d_past_due is constant; 1 loan.",
        figures=figures,
    )
    assert unaccounted(row, ["Num collections last 12m", "num_accounts_120d_past_due"]) == []
