"""Each principle of issue 23 on planted data: what an analyst would say, and no classic error."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.insights.rows import Rows, details, of_type


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


def store_sales(seed: int = 5, n: int = 400) -> tuple[list[str], list[list[Any]]]:
    """Store sales where price (r about -0.45) and advertising (+0.27) drive sales, a log of
    sales rides along, two side columns move together, and the fifth category (shelf) matters."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        price = rng.gauss(100, 15)
        advertising = rng.gauss(10, 3)
        sales = 500 - 3.0 * price + 9 * advertising + rng.gauss(0, 75)
        shelf = rng.choice(["Bad", "Medium", "Good"])
        sales += {"Bad": -40, "Medium": 0, "Good": 40}[shelf]
        population = rng.gauss(300, 80)
        households = population * 0.4 + rng.gauss(0, 25)
        rows.append(
            [
                round(sales, 2),
                round(math.log(max(sales, 1)), 4),
                round(price, 2),
                round(advertising, 2),
                round(population, 1),
                round(households, 1),
                rng.choice(["Yes", "No"]),
                rng.choice(["Urban", "Rural"]),
                rng.choice(["A", "B", "C"]),
                rng.choice(["N", "S", "E", "W"]),
                shelf,
            ]
        )
    header = [
        "Sales",
        "LogSales",
        "Price",
        "Advertising",
        "Population",
        "Households",
        "US",
        "Urban",
        "Brand",
        "Zone",
        "ShelveLoc",
    ]
    return header, rows


def test_moderate_drivers_of_the_target_lead_and_side_pairs_do_not_show(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = store_sales()
    out = analyse([write(tmp_path / "carseats.csv", header, rows)], "What drives sales?")
    links = {frozenset(details(r)["columns"]): details(r) for r in of_type(out, "correlation")}
    assert links[frozenset({"Sales", "Price"})]["sign"] == "negative"
    assert links[frozenset({"Sales", "Advertising"})]["sign"] == "positive"
    # Side columns correlated with each other, or a column and its own log, are no finding.
    assert all("Sales" in pair for pair in links), links.keys()
    assert frozenset({"Sales", "LogSales"}) not in links
    profile = details(of_type(out, "profile")[0])
    assert [d["column"] for d in profile["derived_columns"]] == ["LogSales"]
    top10 = out[1:11]
    assert {"Price", "Advertising"} <= {
        c for r in top10 if r["insight_type"] == "correlation" for c in details(r)["columns"]
    }


def test_every_category_column_is_compared_with_the_target(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = store_sales()
    out = analyse([write(tmp_path / "carseats.csv", header, rows)], "What drives sales?")
    shelf = [
        details(r)
        for r in of_type(out, "segment_comparison")
        if details(r)["segment_column"] == "ShelveLoc" and details(r)["measure"] == "Sales"
    ]
    assert shelf and (shelf[0]["best"], shelf[0]["worst"]) == ("Good", "Bad")
    assert shelf[0]["effect"] in ("medium", "large")


def monthly(
    years: int = 10, growth: float = 0.2, season: float = 0.15, seed: int = 11, start: int = 2001
) -> list[tuple[str, float]]:
    """A monthly level compounding by growth a year, with December season above trend."""
    rng = random.Random(seed)
    out = []
    for i in range(12 * years):
        year, month = start + i // 12, i % 12 + 1
        trend = 3.0 * (1 + growth) ** (i / 12)
        bump = 1 + season * math.cos(2 * math.pi * (month - 12) / 12)
        out.append((f"{year}-{month:02d}", round(trend * bump * rng.uniform(0.97, 1.03), 4)))
    return out


def test_growth_is_observed_and_never_a_fitted_value_outside_the_data(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    series = monthly()
    path = write(tmp_path / "price.csv", ["date", "price"], [(f"{d}-01", v) for d, v in series])
    out = analyse([path], "How fast is the price growing?")
    trend = next(details(r) for r in of_type(out, "trend") if details(r)["segment"] is None)
    low, high = min(v for _, v in series), max(v for _, v in series)
    for figure in trend["figures"]:
        if figure.get("kind") == "aggregate":
            assert low <= figure["value"] <= high, figure
        assert figure.get("kind") != "fit" or figure.get("at") not in ("start", "end"), figure
    first = statistics.mean(v for _, v in series[:12])
    last = statistics.mean(v for _, v in series[-12:])
    assert math.isclose(trend["change_pct"], 100 * (last / first - 1), rel_tol=1e-3)
    assert trend["compounding"]
    assert 0.17 < trend["growth_per_year"]["value"] < 0.23  # planted: 20% a year


def test_the_season_of_a_growing_series_is_found_on_its_detrended_levels(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Growth of 30% a year beside a December peak 12% above trend: on raw levels the late
    # months of each year are high because of the trend as much as of the season.
    series = monthly(years=6, growth=0.3, season=0.12)
    path = write(tmp_path / "sales.csv", ["month", "sales"], [(f"{d}-01", v) for d, v in series])
    out = analyse([path], "Is there a seasonal pattern in sales?")
    seasons = [details(r) for r in of_type(out, "seasonality") if details(r)["measure"] == "sales"]
    assert len(seasons) == 1
    season = seasons[0]
    assert season["detrended"] and season["peak"] in (12, 1) and season["trough"] in (5, 6, 7)
    peak = next(level for level in season["levels"] if level["equals"] == season["peak"])
    assert 0.08 < peak["value"] < 0.16


def test_one_year_of_daily_data_shows_no_season(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    rng = random.Random(2)
    start = dt.date(2023, 1, 1)
    rows = [
        ((start + dt.timedelta(days=i)).isoformat(), round(100 + 0.3 * i + rng.gauss(0, 5), 2))
        for i in range(365)
    ]
    out = analyse([write(tmp_path / "daily.csv", ["date", "sales"], rows)], "How are sales doing?")
    for season in of_type(out, "seasonality"):
        if details(season)["part"] == "month":
            assert "not yet a season" in season["content"]["summary"]


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SHAPES: dict[str, Callable[[int, int], Any]] = {
    "YYYY-MM": lambda y, m: f"{y}-{m:02d}",
    "YYYY/MM": lambda y, m: f"{y}/{m:02d}",
    "MM/YYYY": lambda y, m: f"{m:02d}/{y}",
    "1993M01": lambda y, m: f"{y}M{m:02d}",
    "month name": lambda y, m: f"{MONTHS[m - 1]} {y}",
    "Excel serial": lambda y, m: (dt.date(y, m, 1) - dt.date(1899, 12, 30)).days,
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_common_month_shape_is_a_time_axis(
    shape: str, tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    rows = [
        (SHAPES[shape](y, m), round(10 * 1.02**i + (i % 3) * 0.37, 2))
        for i, (y, m) in enumerate((y, m) for y in range(1993, 1998) for m in range(1, 13))
    ]
    out = analyse([write(tmp_path / "prices.csv", ["date", "price"], rows)], "Price trend?")
    roles = details(of_type(out, "profile")[0])["roles"]
    assert roles.get("time") == ["date"], roles
    assert of_type(out, "trend")


@pytest.mark.parametrize("written", ["{y}Q{q}", "Q{q} {y}", "{y}-Q{q}"])
def test_year_quarters_and_year_numbers_are_time_axes(
    written: str, tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    quarters = [
        (written.format(y=y, q=q), 5 + y - 1990 + q)
        for y in range(1990, 2000)
        for q in (1, 2, 3, 4)
    ]
    out = analyse([write(tmp_path / "gdp.csv", ["period", "gdp"], quarters)], "GDP growth?")
    assert details(of_type(out, "profile")[0])["roles"].get("time") == ["period"]
    years = [(y, 100 + 3 * (y - 1990)) for y in range(1990, 2010)]
    out = analyse([write(tmp_path / "pop.csv", ["date", "population"], years)], "Growth?")
    assert details(of_type(out, "profile")[0])["roles"].get("time") == ["date"]


def test_a_seasonal_dip_is_no_fall_from_a_peak(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Occupancy (a level per month) drops 42% from January to February every year, then
    # climbs back month by month: the same dip each year is the season, not a fall.
    shape = [1.3, 0.75, *(0.75 + 0.05 * k for k in range(1, 11))]
    rows = [
        (f"{y}-{m:02d}-01", round(1000 * (1 + 0.02 * (y - 2010)) * shape[m - 1], 1))
        for y in range(2010, 2018)
        for m in range(1, 13)
    ]
    out = analyse([write(tmp_path / "occupancy.csv", ["month", "occupancy_rate"], rows)], None)
    assert of_type(out, "drawdown") == []


def test_a_fall_beaten_since_is_said_to_have_recovered(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    levels = (
        [100 + i for i in range(24)] + [80 - i for i in range(12)] + [70 + 4 * i for i in range(24)]
    )
    day = dt.date(2005, 1, 1)
    rows = []
    for i, level in enumerate(levels):
        rows.append((day.isoformat(), level + 0.5 * (i % 2)))
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    rows.append((day.isoformat(), 120.0))
    out = analyse([write(tmp_path / "employment.csv", ["month", "jobs_level"], rows)], None)
    falls = [details(r) for r in of_type(out, "drawdown")]
    assert falls and falls[0]["recovered"] and falls[0]["beaten"]
    assert "still below" not in of_type(out, "drawdown")[0]["content"]["summary"]


def test_side_findings_take_at_most_two_of_the_top_ten_and_the_summary_answers(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = store_sales()
    out = analyse([write(tmp_path / "carseats.csv", header, rows)], "What drives sales?")
    top10 = out[1:11]
    assert sum(not details(r)["on_question"] for r in top10) <= 2
    first = out[0]["content"]["summary"].split(". ")[0]
    assert "Sales" in first or "sales" in first, first
    assert first.startswith(("Sales", "Price", "Shelve")), first


def test_a_weighted_sum_of_columns_is_derived_and_no_driver(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Price is the midpoint of the min and max price; horsepower is the real driver.
    rng = random.Random(9)
    rows = []
    for _ in range(120):
        hp = rng.uniform(60, 300)
        low = 5 + hp / 20 + rng.gauss(0, 3)
        high = low + rng.uniform(1, 12)
        rows.append([round(low, 1), round((low + high) / 2, 2), round(high, 1), round(hp)])
    path = write(tmp_path / "cars.csv", ["Min.Price", "Price", "Max.Price", "Horsepower"], rows)
    out = analyse([path], "What drives car prices?")
    links = [set(details(r)["columns"]) for r in of_type(out, "correlation")]
    assert {"Price", "Horsepower"} in links
    assert all(pair & {"Min.Price", "Max.Price"} == set() for pair in links), links
    derived = {d["column"] for d in details(of_type(out, "profile")[0])["derived_columns"]}
    assert derived == {"Min.Price", "Max.Price"}


def test_a_steady_trend_under_a_strong_season_is_found_and_its_swings_are_no_fall(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Deaths (a count per month) with a July peak 20% above trend and a 2% yearly decline.
    rng = random.Random(4)
    rows = []
    for i in range(72):
        year, month = 1973 + i // 12, i % 12 + 1
        season = 1 + 0.2 * math.cos(2 * math.pi * (month - 7) / 12)
        level = 9000 * 0.98 ** (i / 12) * season * rng.uniform(0.985, 1.015)
        rows.append((f"{year}-{month:02d}-01", round(level)))
    out = analyse([write(tmp_path / "deaths.csv", ["month", "deaths"], rows)], "Trend of deaths?")
    trends = [details(r) for r in of_type(out, "trend") if details(r)["measure"] == "deaths"]
    assert trends and trends[0]["direction"] == "down"
    assert of_type(out, "drawdown") == []


def test_a_word_like_none_is_missing_only_where_it_is_no_category(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """'None' is a real category in a text column (no airbags) and a gap in a numeric one;
    empty, NA, NULL and NaN are gaps wherever they are."""
    rng = random.Random(11)
    bags = ["None", "Driver only", "Driver & Passenger"]
    rows = []
    for i in range(300):
        bag = bags[i % 3]
        price = 15 + 5 * bags.index(bag) + rng.gauss(0, 2)
        rebate = "None" if i % 10 == 0 else round(rng.uniform(0, 3), 2)
        mpg = "NA" if i % 8 == 0 else round(rng.uniform(20, 40), 1)
        rows.append([bag, round(price, 2), rebate, mpg])
    path = write(tmp_path / "cars.csv", ["AirBags", "Price", "Rebate", "MPG"], rows)
    out = analyse([path], "What drives price?")
    gaps = {
        c["column"]: c
        for r in of_type(out, "data_quality")
        if details(r)["issue"] == "missing_values"
        for c in details(r)["columns"]
    }
    assert "AirBags" not in gaps, gaps
    assert set(gaps) == {"Rebate", "MPG"}, gaps
    segments = [
        details(r)
        for r in of_type(out, "segment_comparison")
        if details(r)["segment_column"] == "AirBags"
    ]
    assert segments and segments[0]["worst"] == "None", segments


def test_a_measure_taken_at_a_place_is_one_target_not_the_place_too(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """'Ridership at Clark/Lake station': the measure is ridership; a column named after the
    place (Clark_Lake, another series taken there) is a driver, no second target."""
    rng = random.Random(13)
    start = dt.date(2015, 1, 1)
    rows = []
    for i in range(730):
        temp = 12 + 10 * math.sin(2 * math.pi * (i - 100) / 365) + rng.gauss(0, 3)
        riders = 15 + 0.2 * temp + rng.gauss(0, 1.5)
        lagged = round(riders + rng.gauss(0, 1), 2)
        other = round(8 + rng.gauss(0, 1), 2)
        rows.append([start + dt.timedelta(days=i), lagged, round(riders, 2), other, round(temp, 1)])
    header = ["date", "Clark_Lake", "ridership", "Austin", "temp"]
    out = analyse(
        [write(tmp_path / "l.csv", header, rows)],
        "What drives daily ridership at Clark/Lake station, and how has it trended?",
    )
    targets = {details(r)["target"] for r in of_type(out, "correlation")}
    assert targets == {"ridership"}, targets


def test_a_part_of_the_total_keeps_its_own_fall(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """A sector is a part of total employment (no driver of it), yet a quantity of its own:
    its fall in a recession is a finding, while the total's is the headline."""
    rng = random.Random(17)
    rows = []
    for i in range(120):
        year, month = 2006 + i // 12, i % 12 + 1
        slump = 1 - 0.35 * math.exp(-(((i - 45) / 12) ** 2))  # deep, passing
        construction = 700 * slump + rng.gauss(0, 3)
        manufacturing = 1200 * (1 - 0.0015 * i) + rng.gauss(0, 4)
        health = 1500 * (1 + 0.002 * i) + rng.gauss(0, 4)
        parts = [round(construction, 1), round(manufacturing, 1), round(health, 1)]
        rows.append([f"{year}-{month:02d}", round(sum(parts), 1), *parts])
    header = ["month", "nonfarm", "construction", "manufacturing", "health"]
    out = analyse(
        [write(tmp_path / "jobs.csv", header, rows)],
        "How did the recession hit employment, and has it recovered?",
    )
    measures = {details(r)["measure"] for r in of_type(out, "drawdown")}
    assert "construction" in measures, measures
    correlations = [details(r) for r in of_type(out, "correlation")]
    assert not any("construction" in (c["target"], c.get("measure")) for c in correlations)


def test_a_name_in_the_question_matches_its_three_letter_abbreviation_only(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """'Australia' in the question is the column 'ausRain' (a name shortened to three
    letters), not a region's; a common word is not shortened so ('age' is no 'Agency')."""
    rng = random.Random(19)
    rows = []
    for i in range(80):
        nsw, qld = 600 + rng.gauss(0, 80), 700 + rng.gauss(0, 90)
        aus = 450 + 0.8 * i + rng.gauss(0, 30)
        rows.append([1940 + i, round(nsw, 1), round(qld, 1), round(aus, 1)])
    path = write(tmp_path / "bom.csv", ["Year", "nswRain", "qldRain", "ausRain"], rows)
    out = analyse([path], "How has rainfall in Australia changed since 1950?")
    headline = {details(r)["measure"] for r in of_type(out, "kpi")}
    assert headline == {"ausRain"}, headline

    people = [[rng.randint(20, 70), round(rng.uniform(100, 900), 2)] for _ in range(300)]
    rows_out = analyse(
        [write(tmp_path / "agents.csv", ["age", "premium"], people)],
        "Which Agency sells the highest premium?",
    )
    assert all(details(r).get("target") != "age" for r in of_type(rows_out, "correlation"))
    kpis = {details(r)["measure"] for r in of_type(rows_out, "kpi")}
    assert kpis == {"premium"}, kpis


def test_a_moderate_real_gap_beside_a_strong_one_is_reported_and_noise_is_not(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """Professors' salaries: rank differs hugely, discipline clearly, sex moderately (p about
    0.004 alone, 0.015 once multiplied by Bonferroni's four columns). Holm's step-down keeps
    the same family-wise error yet reports the sex gap with its size; a column with no effect
    (office) stays out."""
    rng = random.Random(0)
    rows = []
    for i in range(400):
        rank, discipline = ["Prof", "Assoc", "Asst"][i % 3], ["A", "B"][i % 2]
        sex = "Female" if i % 10 == 0 else "Male"
        salary = 80000 + {"Prof": 45000, "Assoc": 20000, "Asst": 0}[rank]
        salary += (9000 if discipline == "B" else 0) + (12000 if sex == "Male" else 0)
        rows.append([rank, discipline, sex, round(salary + rng.gauss(0, 22000))])
    rng = random.Random(1)
    rows = [[*r[:3], rng.choice(["North", "South", "East", "West"]), r[3]] for r in rows]
    header = ["rank", "discipline", "sex", "office", "salary"]
    out = analyse([write(tmp_path / "salaries.csv", header, rows)], "What determines salaries?")
    found = {
        details(r)["segment_column"]: details(r)
        for r in of_type(out, "segment_comparison")
        if details(r).get("measure") == "salary"
    }
    assert {"rank", "discipline", "sex"} <= set(found), set(found)
    assert "office" not in found
    assert (found["sex"]["best"], found["sex"]["worst"]) == ("Male", "Female")


def test_a_weekly_series_with_a_missing_month_shows_its_month_season(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """Weekly readings over eight years, rising, peaking in May, with the first year's June
    never read: the month season is judged on the longest stretch without a missing month."""
    rng = random.Random(23)
    rows = []
    day = dt.date(1990, 3, 31)
    while day < dt.date(1998, 1, 1):
        years = (day - dt.date(1990, 1, 1)).days / 365.25
        level = 350 + 1.5 * years + 3 * math.cos(2 * math.pi * (day.month - 5) / 12)
        gap = day.year == 1990 and day.month == 6
        rows.append([day, "" if gap else round(level + rng.gauss(0, 0.3), 2)])
        day += dt.timedelta(days=7)
    path = write(tmp_path / "co2.csv", ["week", "co2"], rows)
    out = analyse([path], "How fast is CO2 rising, and what is its seasonal cycle?")
    seasons = [d for d in map(details, of_type(out, "seasonality")) if d["part"] == "month"]
    assert seasons and seasons[0]["peak"] in (4, 5, 6), seasons
    assert seasons[0]["trough"] in (10, 11, 12), seasons
    first = seasons[0]["levels"][0]["recipe"]["from"]
    assert first >= "1990-07-01", first


def test_a_series_read_once_a_period_has_its_dips_found(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """Births a day (one row a day, a weekday rhythm): a public holiday's dip is an anomaly
    even though each day is a single row, not a lumpy sum of few events."""
    rng = random.Random(29)
    holidays = {dt.date(1978, 1, 2), dt.date(1978, 7, 4), dt.date(1978, 12, 25)}
    rows = []
    for i in range(365):
        day = dt.date(1978, 1, 1) + dt.timedelta(days=i)
        level = 9000 * (0.82 if day.weekday() >= 5 else 1.0) * (0.8 if day in holidays else 1.0)
        rows.append([day, round(level * rng.uniform(0.98, 1.02))])
    out = analyse([write(tmp_path / "births.csv", ["date", "births"], rows)], "How do births vary?")
    drops = {
        details(r)["date"] for r in of_type(out, "anomaly") if details(r)["direction"] == "drop"
    }
    assert {d.isoformat() for d in holidays} <= drops, drops


def test_month_and_weekday_names_beside_a_date_are_its_calendar_not_segments(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # A date with its month and weekday spelled out beside it, and a real category: the named
    # parts are the date's calendar (seasonality reads the date), never a segment that
    # "drives" a day's spike or splits the measure.
    rng = random.Random(4)
    start = dt.date(2023, 1, 1)
    rows = []
    for i in range(365):
        day = start + dt.timedelta(days=i)
        for cause in ("flu", "cold"):
            level = (30 if cause == "flu" else 10) * (3 if 200 <= i <= 215 else 1)
            name = day.strftime("%A")[:3]
            rows.append([day.isoformat(), day.strftime("%b"), name, cause, rng.gauss(level, 2)])
    path = write(tmp_path / "cases.csv", ["date", "month", "weekday", "cause", "cases"], rows)
    out = analyse([path], "How did cases develop through the year?")
    named = {"month", "weekday"}
    for row in out:
        d = details(row)
        assert d.get("segment_column") not in named, row["content"]["title"]
        assert not named & set(d.get("also_flagged") or []), row["content"]["title"]
    roles = details(of_type(out, "profile")[0])["roles"]
    assert {"month", "weekday"} <= set(roles["calendar"]), roles
    causes = [d for r in out if (d := details(r)).get("segment_column") == "cause"]
    assert causes, "the real category still splits the measure"


def _with_gaps(rows: list[list[Any]], column: int, every: int) -> list[list[Any]]:
    return [
        [("" if i % every == 0 and j == column else v) for j, v in enumerate(r)]
        for i, r in enumerate(rows)
    ]


def _gaps_rank(out: Rows) -> tuple[int, dict[str, Any]]:
    gap = next(
        details(r) for r in of_type(out, "data_quality") if details(r)["issue"] == "missing_values"
    )
    return gap["rank"], gap


def test_a_small_gap_in_the_target_is_flagged_and_ranked_with_the_answer(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # 2.5 % of the target missing (under the 5 % a side column needs) and 1.25 % of a side
    # column: every figure on the target covers only the filled rows, so its gap is a finding;
    # the side column, less incomplete than the target, is not.
    header, rows = store_sales()
    rows = _with_gaps(_with_gaps(rows, header.index("Sales"), 40), header.index("Population"), 80)
    out = analyse([write(tmp_path / "stores.csv", header, rows)], "What drives sales?")
    rank, gap = _gaps_rank(out)
    assert [c["column"] for c in gap["columns"]] == ["Sales"], gap["columns"]
    assert rank <= 10 and gap["on_question"], rank


def test_a_question_on_completeness_has_its_gaps_answered_near_the_top(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    header, rows = store_sales()
    rows = _with_gaps(rows, header.index("Zone"), 4)  # a side column, a quarter missing
    question = "What drives sales, and is our store data complete?"
    rank, gap = _gaps_rank(analyse([write(tmp_path / "stores.csv", header, rows)], question))
    assert gap["on_question"] and rank <= 5, (rank, gap)


def test_the_word_naming_every_row_makes_no_driver_more_relevant(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # "our loans" names the rows (loans.csv): every column is of a loan, so "loan purpose"
    # is no nearer the question than "grade", which moves the rate far more.
    rng = random.Random(8)
    rows = []
    for i in range(600):
        grade = rng.choice("ABCDE")
        purpose = rng.choice(["car", "house", "debt", "other"])
        status = rng.choice(["current", "late"])
        rate = 6 + 4 * "ABCDE".index(grade) + (3 if purpose == "debt" else 0)
        rate += (3 if status == "late" else 0) + rng.gauss(0, 1.5)
        rows.append([f"L{i:04d}", round(rate, 2), grade, purpose, status, rng.randint(1, 40)])
    header = ["loan_id", "interest_rate", "grade", "loan_purpose", "loan_status", "loan_amount"]
    out = analyse(
        [write(tmp_path / "loans.csv", header, rows)],
        "What drives the interest rate on our loans, and is the loan data complete?",
    )
    ranks = {
        d["segment_column"]: d["rank"]
        for r in of_type(out, "segment_comparison")
        if (d := details(r))["measure"] == "interest_rate"
    }
    assert ranks["grade"] < min(ranks.get("loan_purpose", 99), ranks.get("loan_status", 99)), ranks
    # Nor is "loan amount" a second target for sharing it.
    assert {details(r)["measure"] for r in of_type(out, "kpi")} == {"interest_rate"}


def test_a_strong_segment_effect_is_not_ranked_down_for_a_small_extreme_group(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # Party size moves the room price a lot over 2,000 bookings; its largest parties are few
    # (12 of them). The effect rests on every booking, not on the smallest group: it ranks
    # above a weaker split of even groups.
    rng = random.Random(12)
    sizes = [1] * 500 + [2] * 1300 + [3] * 188 + [4] * 12
    rows = []
    for i, party in enumerate(sizes):
        channel = "direct" if i % 2 else "agent"
        price = 40 + 35 * party + (12 if channel == "direct" else 0) + rng.gauss(0, 25)
        rows.append([round(price, 2), party, channel, rng.choice(["x", "y", "z"])])
    header = ["room_price", "party", "channel", "floor"]
    out = analyse([write(tmp_path / "bookings.csv", header, rows)], "What drives room prices?")
    ranks = {
        d["segment_column"]: d["rank"]
        for r in of_type(out, "segment_comparison")
        if (d := details(r))["measure"] == "room_price"
    }
    assert ranks["party"] < ranks["channel"], ranks


def test_a_record_high_set_after_the_deepest_fall_has_its_own_fall_stated(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # A price climbs to 100, crashes 80 % (the deepest fall), then sets a record of 150 and
    # loses 40 % of it: where the price stands against its record is news of its own.
    rng = random.Random(6)
    path_points = [(0, 40), (36, 100), (60, 20), (108, 150), (132, 90), (143, 95)]
    rows = []
    for (a, va), (b, vb) in itertools.pairwise(path_points):
        for i in range(a, b):
            level = va + (vb - va) * (i - a) / (b - a)
            day = dt.date(2000 + i // 12, i % 12 + 1, 1)
            rows.append([day.isoformat(), round(level * rng.uniform(0.99, 1.01), 2)])
    out = analyse(
        [write(tmp_path / "price.csv", ["month", "price"], rows)], "How has the price moved?"
    )
    falls = [details(r) for r in of_type(out, "drawdown")]
    peaks = {d["peak"][:4] for d in falls}
    assert {"2003", "2009"} <= peaks, falls
    record = next(d for d in falls if d["peak"].startswith("2009"))
    assert 0.35 < record["depth"] < 0.45 and record["rank"] <= 5, record


def test_a_name_made_of_initials_of_the_question_words_is_the_target(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # "usaAVt": the USA's AVerage Temperature, initials of consecutive words of the question;
    # it is a target beside usaRain, and the regions' columns are not.
    rng = random.Random(9)
    regions = ["usa", "east", "west", "north", "south", "inland", "coast"]
    header = ["Year"] + [f"{r}{m}" for r in regions for m in ("AVt", "Rain")]
    rows = []
    for i in range(70):
        warm = 12 + 0.02 * i
        row: list[Any] = [1950 + i]
        for k, _ in enumerate(regions):
            row += [round(warm + k / 3 + rng.gauss(0, 0.3), 2), round(700 + rng.gauss(0, 80), 1)]
        rows.append(row)
    question = "How have the USA's average temperature and rainfall changed since 1950?"
    out = analyse([write(tmp_path / "climate.csv", header, rows)], question)
    headline = {details(r)["measure"] for r in of_type(out, "kpi")}
    assert {"usaAVt", "usaRain"} <= headline, headline
    trends = {
        d["measure"]: d for r in of_type(out, "trend") if (d := details(r))["segment"] is None
    }
    assert trends["usaAVt"]["direction"] == "up" and trends["usaAVt"]["rank"] <= 5, trends


def test_compounding_growth_is_said_as_a_rate_a_year(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    series = monthly()  # planted: 20 % a year, compounding
    path = write(tmp_path / "price.csv", ["date", "price"], [(f"{d}-01", v) for d, v in series])
    out = analyse([path], "How fast is the price growing?")
    trend = next(r for r in of_type(out, "trend") if details(r)["segment"] is None)
    rates = [f for f in details(trend)["figures"] if f.get("kind") == "growth_rate"]
    assert len(rates) == 1 and 0.17 < rates[0]["value"] < 0.23, rates
    assert f"{rates[0]['text']} a year" in trend["content"]["summary"], trend["content"]["summary"]


def test_a_sizeable_gap_in_a_side_column_ranks_above_the_profile(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # A file named for what it holds ("sales2024.csv"): its name makes the profile no nearer
    # the question than any finding; 15 % of a column missing changes the figures built on it.
    header, rows = store_sales()
    rows = _with_gaps(rows, header.index("Population"), 7)
    out = analyse([write(tmp_path / "sales2024.csv", header, rows)], "What drives sales?")
    gap, _ = _gaps_rank(out)
    assert gap < details(of_type(out, "profile")[0])["rank"], gap


def test_initials_spell_the_words_said_never_their_synonyms(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # A month dummy "aug" is no "AUtumn Growth" ("month" brings autumn, "trend" growth):
    # the accidents stay the target.
    rng = random.Random(5)
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    rows = []
    for i in range(96):
        dummies = [int(i % 12 == k) for k in range(12)]
        rows.append([f"{1981 + i // 12}-{i % 12 + 1:02d}", round(1000 + 2 * i + rng.gauss(0, 30))])
        rows[-1] += dummies
    question = "How do accidents each month trend and vary through the year?"
    out = analyse([write(tmp_path / "acc.csv", ["month", "accidents", *months], rows)], question)
    assert {details(r)["measure"] for r in of_type(out, "kpi")} == {"accidents"}


def test_a_small_steady_rise_far_beyond_the_noise_is_a_trend(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # A level of 20 rising 0.8 over a century (4 %, under the 5 % a noisy series needs)
    # with year-to-year noise of 0.15: five times the noise, steady, as a warming record.
    rng = random.Random(10)
    rows = [(1920 + i, round(20 + 0.008 * i + rng.gauss(0, 0.15), 3)) for i in range(101)]
    out = analyse(
        [write(tmp_path / "record.csv", ["Year", "level"], rows)], "How has level changed?"
    )
    trends = [details(r) for r in of_type(out, "trend")]
    assert [t["direction"] for t in trends] == ["up"], trends


def test_the_same_quantity_elsewhere_is_named_once_not_as_many_drivers(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # natSales beside eastSales, westSales...: the same quantity for other places moves with
    # the national one by construction of the market; one line names them, the real driver
    # (advertising) keeps its place.
    rng = random.Random(2)
    regions = ["east", "west", "north", "south", "inland", "coast"]
    header = ["natSales", *(f"{r}Sales" for r in regions), "advertising"]
    rows = []
    for _ in range(200):
        ads = rng.gauss(10, 3)
        base = 100 + 4 * ads + rng.gauss(0, 10)
        parts = [round(base * rng.uniform(0.9, 1.1) + rng.gauss(0, 3), 1) for _ in regions]
        rows.append([round(base, 1), *parts, round(ads, 2)])
    out = analyse([write(tmp_path / "market.csv", header, rows)], "What drives national sales?")
    links = [details(r) for r in of_type(out, "correlation") if details(r)["target"] == "natSales"]
    siblings = [d for d in links if d["driver"].endswith("Sales")]
    assert len(siblings) == 1 and len(siblings[0]["alike"]) == len(regions) - 1, siblings
    ads = next(d for d in links if d["driver"] == "advertising")
    assert ads["rank"] <= 3, ads


def test_effect_sizes_of_numbers_and_categories_rank_on_one_scale(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    # term moves the rate with r about 0.35; a channel splits it with eta² about 0.02 (the
    # square root, 0.14, on the scale of r): the larger effect ranks first.
    rng = random.Random(13)
    rows = []
    for _ in range(3000):
        term = rng.choice([36, 60])
        channel = rng.choice(["web", "branch", "phone"])
        rate = 10 + 0.12 * term + {"web": 0.0, "branch": 0.7, "phone": 1.4}[channel]
        rows.append([round(rate + rng.gauss(0, 8), 2), term, channel, rng.gauss(0, 1)])
    header = ["rate", "term", "channel", "noise"]
    out = analyse([write(tmp_path / "book.csv", header, rows)], "What drives the rate?")
    ranked = {
        d.get("driver") or d.get("segment_column"): d["rank"]
        for r in out
        if (d := details(r)).get("target", d.get("measure")) == "rate" and "rank" in d
    }
    assert ranked["term"] < ranked["channel"], ranked


def _spiked_months(december: float, spike: float, seed: int) -> list[tuple[str, float]]:
    """Six years of a monthly level growing 15% a year, December at `december` x its trend,
    and March 2004 at `spike` x its own level."""
    rng = random.Random(seed)
    rows = []
    for i in range(72):
        year, month = 2001 + i // 12, i % 12 + 1
        level = 1000 * 1.15 ** (i / 12) * (december if month == 12 else 1.0)
        level *= spike if (year, month) == (2004, 3) else 1.0
        rows.append((f"{year}-{month:02d}-01", round(level * rng.uniform(0.97, 1.03), 1)))
    return rows


def test_a_spike_in_a_seasonal_growing_series_is_judged_on_its_residual(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """A December 60% above trend every year is the season, not a spike; a March 45% above
    its trend and season is one, and its expected level is the trend times March's index."""
    rows = _spiked_months(december=1.6, spike=1.45, seed=5)
    out = analyse([write(tmp_path / "sales.csv", ["month", "sales"], rows)], "How do sales vary?")
    found = [r for r in of_type(out, "anomaly") if details(r)["measure"] == "sales"]
    peaks = {details(r)["peak"] for r in found}
    assert peaks == {"2004-03-01"}, peaks
    spike = details(found[0])
    assert spike["direction"] == "spike" and spike["expected_from"] == "trend_and_season"
    assert "for a March on the trend and season" in found[0]["content"]["summary"]
    value, expected = spike["measures"][0]["points"][0][1:]
    assert 1.2 < value / expected < 1.6  # planted: 1.45 x (the spike lifts its own index)


def test_a_spike_in_a_series_without_season_is_judged_against_its_neighbours(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    """No season and no December peak: the neighbour median still sets the expected level."""
    rows = _spiked_months(december=1.0, spike=1.6, seed=6)
    out = analyse([write(tmp_path / "sales.csv", ["month", "sales"], rows)], "How do sales vary?")
    found = [details(r) for r in of_type(out, "anomaly") if details(r)["measure"] == "sales"]
    assert [d["peak"] for d in found] == ["2004-03-01"]
    assert found[0]["expected_from"] == "neighbours"
    assert of_type(out, "seasonality") == []
