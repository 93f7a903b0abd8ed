"""Unit tests of how the analysis reads data: roles, additivity, calendars, number styles,
periods, figures and the words of a question. No database, no files: plain functions."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.insights import figures as fig
from runner.insights import trends
from runner.insights.anomalies import score
from runner.insights.dates import _choose
from runner.insights.loader import detect_number_style
from runner.insights.model import Aggregation, Column, Role, number, percent
from runner.insights.relevance import asks_about_gaps, concepts, relevance, stem
from runner.insights.roles import Scan, aggregation_of, calendar_part, infer, is_year
from runner.insights.series import Series, Timeline, next_period, period_index, period_start, shift
from runner.insights.stats import f_test_p, one_way_anova
from runner.insights.summary import first_sentence
from runner.insights.totals import part_of, parts_of, top_totals

pytestmark = pytest.mark.unit


def scan(name: str, sql_type: str = "BIGINT", lo: float = 0, hi: float = 100, **kw: float) -> Scan:
    figures = {"non_null": 1000, "distinct": 100} | kw
    return Scan(name, sql_type, lo=lo, hi=hi, **figures)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("revenue", Aggregation.SUM),
        ("order_total", Aggregation.SUM),
        ("quantity", Aggregation.SUM),
        ("pop", Aggregation.MEAN),  # a level per country and year: never "in total"
        ("Income", Aggregation.MEAN),
        ("Salary", Aggregation.MEAN),
        ("Balance", Aggregation.MEAN),
        ("net_generation", Aggregation.SUM),
        ("unit_price", Aggregation.MEAN),  # a price beside an amount word still averages
        ("lifeExp", Aggregation.MEAN),
        ("gdpPercap", Aggregation.MEAN),
        ("temp_max", Aggregation.MEAN),
        ("Miles_per_Gallon", Aggregation.MEAN),
        ("nonfarm", Aggregation.MEAN),  # a headcount snapshot: no amount word, so averaged
        ("dep_delay", Aggregation.MEAN),
    ],
)
def test_only_amounts_quantities_and_counts_add_up(name: str, expected: Aggregation) -> None:
    assert aggregation_of(scan(name, "DOUBLE")) is expected


def test_calendar_parts_and_clock_times_are_recognised() -> None:
    assert calendar_part(scan("month", lo=1, hi=12)) == "month"
    assert calendar_part(scan("hour", lo=0, hi=23)) == "hour"
    assert calendar_part(scan("minute", lo=0, hi=59)) == "minute"
    assert calendar_part(scan("month", lo=1, hi=40)) is None  # not a month if it holds 40
    assert calendar_part(scan("dep_time", "DOUBLE", lo=1, hi=2400, past_sixty=0)) == "clock"
    assert calendar_part(scan("air_time", "DOUBLE", lo=20, hi=695, past_sixty=900)) is None


def test_an_integer_year_column_is_a_time_axis() -> None:
    assert is_year(scan("year", lo=1952, hi=2007))
    assert not is_year(scan("year", lo=1, hi=5))  # year of study, not a calendar year
    column = infer(scan("year", lo=1952, hi=2007, distinct=12), 1704)
    assert (column.role, column.grain) == (Role.TIME, "year")


def test_roles_of_numbers_by_name_and_values() -> None:
    assert infer(scan("flight", lo=1, hi=8500, distinct=3800), 9000).role is Role.IDENTIFIER
    assert infer(scan("Cylinders", lo=3, hi=8, distinct=5), 406).role is Role.CATEGORY
    assert infer(scan("quantity", lo=1, hi=6, distinct=6), 400).role is Role.MEASURE
    assert infer(scan("survived", lo=0, hi=1, distinct=2), 891).role is Role.MEASURE
    assert infer(scan("wind_dir", "DOUBLE", lo=0, hi=360), 900).role is Role.OTHER


@pytest.mark.parametrize(
    ("lines", "delimiter", "expected"),
    [
        (["y;s;n", "2001;Fossil;35.361", "2002;Fossil;35.991"], ";", (",", ".")),  # thousands
        (["a;b", "1,5;2.345,25"], ";", (",", ".")),
        (["a;b", "1.5;2.25"], ";", (".", None)),  # decimals that are not groups of three
        (["a,b", "1.5,2.25"], ",", (".", None)),
        (["a,b", '"1,234.5",2'], ",", (".", ",")),
    ],
)
def test_number_style(lines: list[str], delimiter: str, expected: tuple[str, str | None]) -> None:
    assert detect_number_style(lines, delimiter) == expected


def test_day_first_and_month_first_dates_are_told_apart() -> None:
    assert _choose({"common": 0, "day_first": 90, "month_first": 60}, dotted=False) == "day_first"
    assert _choose({"common": 0, "day_first": 60, "month_first": 90}, dotted=False) == "month_first"
    assert _choose({"common": 0, "day_first": 90, "month_first": 90}, dotted=True) == "day_first"
    assert _choose({"common": 90, "day_first": 90, "month_first": 90}, dotted=False) == "common"
    assert _choose({"common": 0, "day_first": 0, "month_first": 0}, dotted=False) is None


def test_calendar_periods_nest_and_step() -> None:
    day = dt.date(2013, 8, 14)
    assert period_start(day, "quarter") == dt.date(2013, 7, 1)
    assert period_start(day, "year") == dt.date(2013, 1, 1)
    assert next_period(dt.date(2013, 12, 1), "month") == dt.date(2014, 1, 1)
    assert next_period(dt.date(2013, 10, 1), "quarter") == dt.date(2014, 1, 1)
    assert shift(dt.date(2010, 2, 1), "month", -3) == dt.date(2009, 11, 1)
    assert period_index(dt.date(1952, 1, 1), dt.date(2007, 1, 1), "year") == 55


def test_period_labels_come_from_the_period_itself() -> None:
    assert fig.period_label(dt.date(2017, 1, 1), "year") == "2017"
    assert fig.period_label(dt.date(2016, 12, 1), "month") == "December 2016"
    assert fig.period_label(dt.date(2013, 7, 1), "quarter") == "Q3 2013"


def test_segment_values_read_plainly() -> None:
    figures = fig.Figures()
    cylinders = Column("Cylinders", "BIGINT", Role.CATEGORY, "x", 406, 5)
    engines = Column("engines", "BIGINT", Role.CATEGORY, "x", 406, 4)
    assert figures.segment(cylinders, "4") == "4 cylinders"
    assert figures.segment(engines, "1") == "1 engine"
    assert figures.segment(cylinders, "Japan") == "Japan"
    assert [e["kind"] for e in figures.entries] == ["label", "label"]  # digits are checked


def test_numbers_and_shares_keep_small_values_readable() -> None:
    assert number(0.0045) == "0.0045"
    assert number(1_234_567) == "1.23 M"
    assert number(-43.0) == "-43"
    assert percent(0.000095) == "0.0095%"
    assert percent(0.174) == "17.4%"


def test_anova_tells_groups_that_differ() -> None:
    assert f_test_p(3.0, 2, 20) == pytest.approx(0.0725, abs=1e-4)
    p, eta2 = one_way_anova([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]])
    assert p < 0.01 and eta2 > 0.8
    assert one_way_anova([[1, 2, 3], [1, 2, 3]]) == (1.0, 0.0)


def test_totals_and_their_parts() -> None:
    sums = {
        "nonfarm": [frozenset({"private", "government"})],
        "private": [frozenset({"goods", "services"})],
    }
    assert top_totals(sums) == {"nonfarm"}
    assert parts_of(sums) == {"private", "government", "goods", "services"}
    assert part_of("private", "nonfarm", sums) and part_of("nonfarm", "government", sums)
    assert not part_of("goods", "government", sums)


def test_stems_and_question_words() -> None:
    assert [stem(w) for w in ("wettest", "warmest", "categories", "sales")] == [
        "wet",
        "warm",
        "category",
        "sale",
    ]
    assert asks_about_gaps("Which fields have missing data?")
    assert not asks_about_gaps("Which fields matter?")


def test_relevance_favours_the_question_a_finding_answers_whole() -> None:
    wanted = concepts(
        "Country data since 1952. Which continents lag behind in life expectancy, "
        "and is income linked to life expectancy?"
    )
    answers = relevance({"life", "exp", "gdp", "percap", "correlation", "link"}, wanted)
    grazes = relevance({"pop", "continent", "trend"}, wanted)
    assert answers > grazes
    context_only = relevance({"country"}, concepts("Country data. Which products sell?"))
    asked = relevance({"product"}, concepts("Country data. Which products sell?"))
    assert asked > context_only > 0


def test_the_summary_quotes_one_sentence_at_most() -> None:
    assert first_sentence("Grow revenue per region") == "Grow revenue per region"
    assert first_sentence("Why did sales drop? Look at March.") == "Why did sales drop?…"
    huge = "word " * 2_000_000  # a 10 MB description
    quoted = first_sentence(huge)
    assert len(quoted) <= 200 and quoted.endswith("…")


def yearly(name: str, values: list[float]) -> tuple[Series, Timeline]:
    years = [dt.date(2001 + i, 1, 1) for i in range(len(values))]
    measure = Column(
        name,
        "DOUBLE",
        Role.MEASURE,
        "x",
        len(values),
        len(values),
        minimum=min(values),
        maximum=max(values),
        aggregation=Aggregation.SUM,
    )
    series = Series(
        measure, None, None, dict(zip(years, values, strict=True)), dict.fromkeys(years, 1)
    )
    time = Column("year", "BIGINT", Role.TIME, "x", len(values), len(values), grain="year")
    return series, Timeline(time, "year", "year", tuple(years), [series])


def test_a_trend_of_a_positive_measure_never_fits_below_zero() -> None:
    series, timeline = yearly("net_generation", [100 * 1.35**i for i in range(17)])
    tested = trends.test_series(series, timeline, "year")
    assert tested is not None
    assert tested.model == "exponential" and tested.start > 0 and tested.change > 0
    assert series_fit(tested) == pytest.approx(tested.start)


def test_no_percentage_of_a_temperature() -> None:
    series, timeline = yearly("temp", [10.0 + (i % 3) + 0.5 * i for i in range(12)])
    tested = trends.test_series(series, timeline, "year")
    assert tested is not None and tested.low_base  # stated as "from X to Y", never as %


def test_a_series_that_is_mostly_zero_has_no_anomalies() -> None:
    days = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(120)]
    rain = [5.0 if i % 9 == 0 else 0.0 for i in range(120)]
    measure = Column("precip", "DOUBLE", Role.MEASURE, "x", 120, 10, minimum=0, maximum=5)
    series = Series(
        measure, None, None, dict(zip(days, rain, strict=True)), dict.fromkeys(days, 24)
    )
    time = Column("time_hour", "TIMESTAMP", Role.TIME, "x", 120, 120)
    timeline = Timeline(time, "day", "subday", tuple(days), [series], snapshot=True)
    assert score(series, timeline) == []


def series_fit(tested: trends.Tested) -> float:
    return tested.at(0.0)
