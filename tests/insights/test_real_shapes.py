"""Shapes real files have that synthetic sales data lacks: dates in other formats, `;` files
with thousands dots, impossible readings, rare gaps, integer years, a huge description."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.insights.rows import Rows, details, of_type

pytestmark = pytest.mark.unit


def issues(rows: Rows) -> dict[str, dict[str, object]]:
    return {details(r)["issue"]: details(r) for r in of_type(rows, "data_quality")}


def profile(rows: Rows) -> dict[str, object]:
    return details(of_type(rows, "profile")[0])


def test_dates_in_other_and_mixed_formats_are_read(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    start = dt.date(2000, 1, 1)
    styles = ("%b %d %Y", "%Y/%m/%d", "%B %d, %Y")
    lines = ["symbol,date,price"]
    for i in range(120):
        day = start + dt.timedelta(days=7 * i)
        text = day.strftime(styles[i % 3]).replace(" 0", " ")
        lines.append(f'S{i % 3},"{text}",{50 + i}')
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    found = profile(analyse([path]))
    assert found["roles"]["time"] == ["date"]  # type: ignore[index]
    assert found["period"]["start"] == "2000-01-01"  # type: ignore[index]
    assert "unreadable_values" not in issues(analyse([path]))


def test_day_first_dates_are_told_from_month_first(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    days = [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    path = tmp_path / "readings.csv"
    path.write_text(
        "day;reading\n" + "".join(f"{d:%d.%m.%Y};{i % 7}\n" for i, d in enumerate(days))
    )
    period = profile(analyse([path]))["period"]
    assert (period["start"], period["end"]) == ("2021-01-01", "2021-03-01")  # type: ignore[index]


def test_a_date_column_that_cannot_be_read_is_reported(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    lines = ["shipped,weight"] + [f"2021-{13 + i % 5}-{40 + i % 9},{i}" for i in range(50)]
    path = tmp_path / "shipments.csv"
    path.write_text("\n".join(lines) + "\n")
    unreadable = issues(analyse([path]))["unreadable_values"]
    assert unreadable["columns"][0]["column"] == "shipped"  # type: ignore[index]
    assert unreadable["columns"][0]["looks_like"] == "dates"  # type: ignore[index]


def test_thousands_dots_in_a_semicolon_file_are_not_decimals(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    lines = ["year;source;net_generation"]
    values = {}
    for year in range(2001, 2018):
        for source, base in (("Fossil", 35_000), ("Wind", 1_400)):
            value = base + 97 * (year - 2001)
            values[(year, source)] = value
            lines.append(f"{year}-01-01;{source};{value:,}".replace(",", "."))
    path = tmp_path / "generation.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = analyse([path])
    kpi = next(
        details(r) for r in of_type(rows, "kpi") if details(r)["measure"] == "net_generation"
    )
    assert kpi["max"] == max(values.values())  # 36.552 would be read 1,000x too small


def test_physically_impossible_readings_are_flagged(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    rng = random.Random(4)
    start = dt.datetime(2013, 1, 1)
    lines = ["time_hour,temp,wind_speed"]
    for i in range(500):
        wind = 1048.4 if i == 250 else round(rng.uniform(0, 30), 1)
        lines.append(
            f"{start + dt.timedelta(hours=i):%Y-%m-%d %H:%M:%S},{rng.uniform(20, 80):.1f},{wind}"
        )
    path = tmp_path / "weather.csv"
    path.write_text("\n".join(lines) + "\n")
    impossible = issues(analyse([path]))["impossible_values"]["columns"]
    assert [(c["column"], c["rows"]) for c in impossible] == [("wind_speed", 1)]  # type: ignore[index]


def test_every_missing_share_is_listed_when_the_question_asks(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    lines = ["tailnum,year,seats,speed"]
    for i in range(1000):
        year = "" if i % 50 == 0 else str(1960 + i % 50)  # 2% missing
        speed = str(400 + i % 30) if i % 100 == 0 else ""  # 99% missing
        lines.append(f"N{i:05d},{year},{100 + i % 200},{speed}")
    path = tmp_path / "planes.csv"
    path.write_text("\n".join(lines) + "\n")
    asked = issues(analyse([path], "Which fields have missing data?"))["missing_values"]
    assert {c["column"] for c in asked["columns"]} == {"year", "speed"}  # type: ignore[index]
    silent = issues(analyse([path], "What is the fleet made of?"))["missing_values"]
    assert {c["column"] for c in silent["columns"]} == {"speed"}  # type: ignore[index]


def test_an_integer_year_is_a_time_axis_and_labels_are_plain(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    lines = ["country,continent,year,lifeExp"]
    for year in range(1952, 2012, 5):
        for c in range(40):
            continent = ("Africa", "Europe")[c % 2]
            life = (45 if continent == "Africa" else 65) + 0.3 * (year - 1952) + c % 5
            lines.append(f"C{c},{continent},{year},{life:.1f}")
    path = tmp_path / "countries.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = analyse([path], "How has life expectancy changed on each continent?")
    assert profile(rows)["roles"]["time"] == ["year"]  # type: ignore[index]
    overall = [details(r) for r in of_type(rows, "trend") if details(r)["segment"] is None]
    assert overall and overall[0]["direction"] == "up" and overall[0]["grain"] == "year"
    text = " ".join(r["content"]["title"] + " " + r["content"]["summary"] for r in rows)
    assert "1952.0" not in text and "per year" not in text  # a life expectancy is no flow
    best = next(
        details(r)
        for r in of_type(rows, "segment_comparison")
        if details(r)["measure"] == "lifeExp"
    )
    assert (best["best"], best["worst"], best["basis"]) == ("Europe", "Africa", "average")


def test_a_huge_description_is_quoted_by_its_first_sentence(
    tmp_path: Path, sales_csv: Callable[..., Path], analyse: Callable[..., Rows]
) -> None:
    description = "Why did revenue fall in the West? " + "Background. " * 900_000  # ~11 MB
    rows = analyse([sales_csv()], description)
    summary = rows[0]["content"]
    assert "Why did revenue fall in the West?…" in summary["summary"]
    assert len(json.dumps(rows)) < 1_000_000


def test_segments_level_with_the_most_are_named_together(
    tmp_path: Path, analyse: Callable[..., Rows]
) -> None:
    counts = {"AMZN": 120, "MSFT": 120, "IBM": 120, "GOOG": 20}  # as vega's stocks, nearly
    lines = ["symbol,price"] + [f"{s},{10 + i % 7}" for s, n in counts.items() for i in range(n)]
    path = tmp_path / "stocks.csv"
    path.write_text("\n".join(lines) + "\n")
    found = [r for r in of_type(analyse([path]), "segment_comparison")
             if details(r)["measure"] == "rows"]  # fmt: skip
    assert found, "no comparison of row counts"
    title = found[0]["content"]["title"]
    assert "(tied)" in title and all(s in title for s in ("AMZN", "MSFT", "IBM")), title
    assert sorted(details(found[0])["tied_best"]) == ["AMZN", "IBM", "MSFT"]
