"""Realistic receivables data for the benchmarks, the same for every run (seeded).

Shared by bulk_write.py (through the Repository) and list_latency.py (straight into
the tables), so both measure the same shapes of data: customers in a handful of
currencies with their payment terms, invoices numbered in issue-date order, and
amounts in the currency's own number of decimal places.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import math
import pstats
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import money
from engine.appdef import AppSet, load_apps

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"

CURRENCIES = (("EUR", 70), ("USD", 14), ("GBP", 8), ("CHF", 5), ("JPY", 3))
TERMS = (14, 30, 30, 30, 45, 60, 90)
FIRST = (
    "Alpen", "Baltic", "Crown", "Delta", "Elbe", "Fjord", "Granite", "Harbour", "Iris",
    "Juniper", "Kestrel", "Linden", "Meridian", "Nordic", "Orchard", "Pioneer", "Quarry",
    "Rhine", "Summit", "Tidewater", "Union", "Vale", "Westwind", "Yarrow", "Zenith",
)  # fmt: skip
SECOND = (
    "Foods", "Logistics", "Tools", "Textiles", "Pharma", "Electric", "Media", "Motors",
    "Software", "Timber", "Plastics", "Optics", "Paper", "Glass", "Chemicals", "Marine",
)  # fmt: skip
FORMS = ("GmbH", "Ltd", "SA", "BV", "AG", "Inc", "SRL", "Oy", "AB", "KG")
FIRST_ISSUE = dt.date(2023, 1, 1)
ISSUE_DAYS = 900  # invoices are issued over about two and a half years


def apps() -> AppSet:
    return load_apps([APPS])


def describe_machine() -> str:
    """Which engine code runs and how busy the machine is: both move the figures."""
    import os

    import engine

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    where = Path(engine.__file__).resolve().parent.parent
    return f"engine from {where}; load average {load} on {os.cpu_count()} CPUs"


@dataclass(frozen=True)
class Customer:
    """What the invoice generator needs to know about a customer."""

    id: int
    currency: str
    terms: int


def customer_values(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """`n` customers with unique names, as Repository values."""
    rng = random.Random(seed)
    currencies = [c for c, _ in CURRENCIES]
    weights = [w for _, w in CURRENCIES]
    out = []
    for i in range(n):
        name = f"{rng.choice(FIRST)} {rng.choice(SECOND)} {rng.choice(FORMS)} {i + 1:05d}"
        currency = rng.choices(currencies, weights)[0]
        out.append(
            {
                "name": name,
                "email": f"ar{i + 1}@customer{i + 1}.example",
                "currency": currency,
                "payment_terms_days": rng.choice(TERMS),
                "credit_limit": Decimal(rng.choice((5_000, 10_000, 50_000, 250_000)))
                if rng.random() < 0.3
                else None,
                "credit_status": "ok" if rng.random() < 0.9 else "watch",
                "vat_number": f"EU{rng.randrange(10**9, 10**10)}",
            }
        )
    return out


def random_amount(rng: random.Random, currency: str) -> Decimal:
    """A skewed invoice amount: mostly hundreds to a few thousands, some large ones."""
    value = Decimal(str(round(rng.lognormvariate(7.0, 1.2), 4)))
    if currency == "JPY":
        value *= 150
    return max(money.round_money(value, currency), money.quantum(currency))


def invoice_values(
    n: int,
    customers: Sequence[Customer],
    seed: int = 2,
    with_due_date: float = 0.5,
    prefix: str = "INV",
) -> list[dict[str, Any]]:
    """`n` invoices in issue-date order; `with_due_date` of them carry an explicit due date,
    the others leave it to the definition's default (issue date + the customer's terms)."""
    return list(iter_invoice_values(n, customers, seed, with_due_date, prefix))


def iter_invoice_values(
    n: int,
    customers: Sequence[Customer],
    seed: int = 2,
    with_due_date: float = 0.5,
    prefix: str = "INV",
) -> Iterator[dict[str, Any]]:
    """The invoices of `invoice_values`, one at a time (a million do not fit in memory well)."""
    rng = random.Random(seed)
    days = sorted(rng.randrange(ISSUE_DAYS) for _ in range(n))
    for i, day in enumerate(days):
        customer = customers[rng.randrange(len(customers))]
        issue = FIRST_ISSUE + dt.timedelta(days=day)
        values: dict[str, Any] = {
            "number": f"{prefix}-{issue.year}-{i + 1:07d}",
            "customer": customer.id,
            "issue_date": issue,
            "currency": customer.currency,
            "amount": random_amount(rng, customer.currency),
        }
        if rng.random() < with_due_date:
            values["due_date"] = issue + dt.timedelta(days=customer.terms)
        if rng.random() < 0.2:
            values["description"] = f"Order {rng.randrange(10**6):06d}, delivery note {i + 1}"
        if rng.random() < 0.02:
            values["disputed"] = True
        yield values


# -- measuring -------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), nearest rank: p99 of 300 samples is the 297th smallest."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


def profile_report(profiler: cProfile.Profile, path: Path, top: int = 25) -> str:
    """Save the profile for snakeviz/pstats and return the top functions of engine code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(r"/engine/", top)
    out.write("\n--- all code, by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
