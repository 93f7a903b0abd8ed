#!/usr/bin/env python3
"""Regenerate the quickstart sample files (deterministic: the same bytes on every run).

    python conf/samples/generate.py

sales.csv              4,300 orders of 2024; online grows, Black Friday spikes online, East
                       leads, a few returns keyed in as negative quantities, missing discounts
customers.csv          1,200 customers; Enterprise is few but most of the value,
                       lifetime value follows the number of orders
support_tickets.jsonl  2,000 tickets; a login outage on 17 September, shipping tickets take
                       ever longer, slow resolutions come with low satisfaction
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
YEAR = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(366)]
REGIONS = {"North": 1.0, "South": 0.8, "East": 1.1, "West": 0.9}
CATEGORIES = {"Electronics": 1.0, "Home": 0.8, "Office": 0.6, "Garden": 0.5}
KEY_ACCOUNTS = 12


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _channel_weights(day: dt.date) -> dict[str, float]:
    progress = (day - YEAR[0]).days / 365
    return {"online": 0.6 + 1.2 * progress, "store": 1.0, "partner": 0.4}


def _orders_on(day: dt.date) -> int:
    base = 9.0 * (1.25 if day.weekday() < 5 else 0.7) * (1 + 0.35 * (day - YEAR[0]).days / 365)
    return round(base * (4 if day == dt.date(2024, 11, 29) else 1))


def sales(rng: random.Random) -> list[dict[str, Any]]:
    """Order lines of 2024."""
    rows: list[dict[str, Any]] = []
    for day in YEAR:
        for _ in range(_orders_on(day)):
            channel = (
                "online" if day == dt.date(2024, 11, 29) else _weighted(rng, _channel_weights(day))
            )
            customer = rng.randrange(1, 1201)
            quantity = rng.randint(1, 5) * (6 if customer <= KEY_ACCOUNTS else 1)
            if rng.random() < 0.004:
                quantity = -quantity  # a return keyed in as a sale
            price = round(rng.lognormvariate(3.4, 0.45), 2)
            discount = None if rng.random() < 0.08 else round(rng.choice([0, 0, 0.05, 0.1]), 2)
            rows.append(
                {
                    "order_id": f"SO-{len(rows) + 10001}",
                    "order_date": day.isoformat(),
                    "customer_id": f"C{customer:05d}",
                    "region": _weighted(rng, REGIONS),
                    "channel": channel,
                    "category": _weighted(rng, CATEGORIES),
                    "quantity": quantity,
                    "unit_price": price,
                    "discount": discount,
                    "revenue": round(quantity * price * (1 - (discount or 0)), 2),
                }
            )
    return rows


def customers(rng: random.Random) -> list[dict[str, Any]]:
    """The customer master: segment, country, signup, orders, value, satisfaction."""
    rows = []
    for n in range(1, 1201):
        segment = "Enterprise" if n <= 60 else _weighted(rng, {"SMB": 0.45, "Consumer": 0.55})
        orders = max(1, round(rng.lognormvariate({"Enterprise": 3.4}.get(segment, 1.6), 0.5)))
        per_order = {"Enterprise": 900.0, "SMB": 160.0, "Consumer": 55.0}[segment]
        signup = YEAR[0] - dt.timedelta(days=int(1400 * (1 - math.sqrt(rng.random()))))
        rows.append(
            {
                "customer_id": f"C{n:05d}",
                "segment": segment,
                "country": _weighted(rng, {"Germany": 3, "France": 2, "Spain": 1.5, "Italy": 1.5}),
                "signup_date": signup.isoformat(),
                "orders": orders,
                "lifetime_value": round(orders * per_order * rng.uniform(0.7, 1.3), 2),
                "satisfaction": rng.choice([3, 4, 4, 5, 5])
                if segment != "Consumer"
                else rng.randint(2, 5),
            }
        )
    return rows


SUBJECTS = {
    "Login": ["cannot log in after password reset", "two-factor code never arrives"],
    "Billing": ["charged twice for the same invoice", "invoice shows the wrong VAT number"],
    "Shipping": [
        "parcel stuck at the depot for days",
        "delivery arrived damaged, need a replacement",
    ],
    "Product": ["device stops charging after update", "missing screws in the furniture kit"],
}


def tickets(rng: random.Random) -> list[dict[str, Any]]:
    """Support tickets with resolution times and satisfaction."""
    rows = []
    for n in range(2000):
        created = dt.datetime(2024, 1, 1, 8) + dt.timedelta(minutes=int(rng.uniform(0, 365 * 1440)))
        category = _weighted(rng, {"Login": 1, "Billing": 1, "Shipping": 1.2, "Product": 1})
        if n < 90:  # the login outage
            created = dt.datetime(2024, 9, 17, 9) + dt.timedelta(minutes=rng.randint(0, 600))
            category = "Login"
        rows.append(_ticket(rng, n, created, category))
    return sorted(rows, key=lambda r: str(r["created_at"]))


def _ticket(rng: random.Random, n: int, created: dt.datetime, category: str) -> dict[str, Any]:
    hours = {"Login": 4.0, "Billing": 20.0, "Shipping": 10.0, "Product": 14.0}[category]
    if category == "Shipping":
        hours *= 1 + 2.5 * created.timetuple().tm_yday / 366
    resolution = round(hours * rng.lognormvariate(0, 0.4), 1)
    satisfaction = max(1, min(5, round(5.4 - resolution / 12 + rng.gauss(0, 0.6))))
    return {
        "ticket_id": f"T-{n + 50001}",
        "created_at": created.isoformat(sep=" "),
        "customer_id": f"C{rng.randrange(1, 1201):05d}",
        "category": category,
        "priority": _weighted(rng, {"low": 3, "normal": 5, "high": 2}),
        "channel": _weighted(rng, {"email": 4, "chat": 3, "phone": 2}),
        "resolution_hours": resolution,
        "satisfaction": satisfaction,
        "subject": rng.choice(SUBJECTS[category]),
    }


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    _write_csv(sales(random.Random(2024)), HERE / "sales.csv")
    _write_csv(customers(random.Random(7)), HERE / "customers.csv")
    with (HERE / "support_tickets.jsonl").open("w", encoding="utf-8") as stream:
        stream.writelines(json.dumps(t) + "\n" for t in tickets(random.Random(17)))


if __name__ == "__main__":
    main()
