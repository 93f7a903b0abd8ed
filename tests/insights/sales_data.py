"""Synthetic sales data with known, planted structure (or none), for the insights tests."""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGIONS = ("North", "South", "East", "West", "Central")
CHANNELS = ("online", "store", "partner")
CATEGORIES = ("Electronics", "Furniture", "Office", "Grocery")
START = dt.date(2024, 1, 1)


@dataclass(frozen=True)
class Plan:
    """What to plant in the data; the defaults plant nothing."""

    days: int = 364
    per_day: int = 40
    growing_region: str | None = None  # its daily orders rise linearly to 3x
    spike: tuple[dt.date, str] | None = None  # (day, region) with spike_factor x the orders
    spike_factor: float = 6.0
    missing_discount: float = 0.0  # share of rows with no discount
    correlated_spend: bool = False  # marketing_spend tracks revenue (r ~ 0.9)
    key_accounts: int = 0  # this many of 400 customers order 40x as much
    customers: int = 400


def sales(plan: Plan, seed: int = 7) -> list[dict[str, Any]]:
    """Order lines: one dict per order, in date order."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for day_index in range(plan.days):
        day = START + dt.timedelta(days=day_index)
        for region in REGIONS:
            for _ in range(_orders(plan, rng, day, day_index, region)):
                rows.append(_order(plan, rng, day, region, len(rows) + 1))
    return rows


def _orders(plan: Plan, rng: random.Random, day: dt.date, index: int, region: str) -> int:
    mean = plan.per_day / len(REGIONS)
    if region == plan.growing_region:
        mean *= 1 + 2 * index / plan.days
    if plan.spike == (day, region):
        mean *= plan.spike_factor
    return _poisson(rng, mean)


def _order(plan: Plan, rng: random.Random, day: dt.date, region: str, n: int) -> dict[str, Any]:
    customer = rng.randrange(plan.customers)
    quantity = rng.randint(1, 6)
    unit_price = round(rng.lognormvariate(3.0, 0.5), 2)
    if customer < plan.key_accounts:
        quantity *= 40
    revenue = round(quantity * unit_price, 2)
    spend = revenue * 0.1 * rng.uniform(0.6, 1.4) if plan.correlated_spend else rng.uniform(5, 50)
    discount = None if rng.random() < plan.missing_discount else round(rng.uniform(0, 0.2), 2)
    return {
        "order_id": n,
        "order_date": day.isoformat(),
        "customer_id": f"C{customer:04d}",
        "region": region,
        "channel": rng.choice(CHANNELS),
        "category": rng.choice(CATEGORIES),
        "quantity": quantity,
        "unit_price": unit_price,
        "revenue": revenue,
        "marketing_spend": round(spend, 2),
        "discount": discount,
    }


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (means here are small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def write_csv(rows: list[dict[str, Any]], path: Path, delimiter: str = ",") -> Path:
    """rows as a CSV file with a header."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path
