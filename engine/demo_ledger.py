"""The demo's payment schedules, credit notes and write-offs (part of `formwork demo`).

Kept apart from the rest of the demo plan and drawn from a random generator of their own,
so the story around them (invoices, payments, collection tasks) is the same with or
without them. Only invoices nobody paid or chased yet are picked, so no allocation, credit
or write-off ever takes more than an invoice's amount.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine import money

if TYPE_CHECKING:
    from engine.demo import Plan

# name, description, (percent, days) lines
TERMS: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...] = (
    ("30/50/20 at 30/60/90 days", "Machinery and projects", ((30, 30), (50, 60), (20, 90))),
    ("Half in 14 days, half in 45", "Large first orders", ((50, 14), (50, 45))),
)
TOLERANCE_RULE = "amount within 1.00 of the invoice"


@dataclass
class LedgerPlan:
    """Values only; customers and invoices are indexes into the demo plan's lists."""

    terms: list[dict[str, Any]] = field(default_factory=list)  # with "lines"
    credit_notes: list[dict[str, Any]] = field(default_factory=list)
    credit_allocations: list[dict[str, Any]] = field(default_factory=list)  # credit_note: index
    write_offs: list[dict[str, Any]] = field(default_factory=list)


def plan_ledger(
    plan: Plan, today: dt.date, seed: int, accounts: dict[str, str], paid: dict[int, Decimal]
) -> None:
    """Schedules, credit notes and write-offs on invoices nobody has paid; what they settle
    is added to `paid`, so the collectors chase only what is still open."""
    rng = random.Random(f"{seed}-ledger")
    ledger = plan.ledger
    ledger.terms = [
        {"name": n, "description": d, "lines": [{"percent": p, "days": days} for p, days in ls]}
        for n, d, ls in TERMS
    ]
    touched = {a["invoice"] for a in plan.allocations}
    free = [
        i for i, inv in enumerate(plan.invoices)
        if i not in touched and not inv["disputed"] and inv["currency"] == "EUR"
    ]  # fmt: skip
    recent = [i for i in free if 32 < (today - plan.invoices[i]["issue_date"]).days < 58]
    older = [i for i in free if i not in recent and plan.invoices[i]["due_date"] < today]
    rng.shuffle(recent)
    rng.shuffle(older)
    # Two invoices on 30/50/20: the first instalment of one is paid, the other's is late.
    for n, i in enumerate(recent[:2]):
        inv = plan.invoices[i]
        inv["payment_terms"] = 0
        inv["due_date"] = inv["issue_date"] + dt.timedelta(days=90)
        if n == 0:
            first = money.round_money(inv["amount"] * Decimal("0.3"), "EUR")
            _pay(plan, accounts, i, first, inv["issue_date"] + dt.timedelta(days=29))
    returned, cancelled, fee, small = older[:4]
    _credit_note(plan, 0, returned, "returned_goods", Decimal("0.2"), "Two pallets came back")
    _credit_note(plan, 1, cancelled, "cancellation", Decimal(1), "Invoiced twice by mistake")
    customer = plan.invoices[older[4]]["customer"]
    ledger.credit_notes.append(
        {
            "number": "CN-0003", "customer": customer, "date": today - dt.timedelta(days=6),
            "currency": "EUR", "amount": Decimal("150.00"), "reason": "price_correction",
            "note": "Agreed volume rebate; to be set against the next invoice",
        }
    )  # fmt: skip
    # Paid short: a correspondent bank's fee, and a few cents a rule let through.
    for i, short, reason, rule in (
        (fee, Decimal("7.50"), "bank_fee", None),
        (small, Decimal("0.40"), "small_difference", TOLERANCE_RULE),
    ):
        inv = plan.invoices[i]
        _pay(plan, accounts, i, inv["amount"] - short, inv["due_date"] + dt.timedelta(days=3))
        ledger.write_offs.append(
            {
                "invoice": i, "date": inv["due_date"] + dt.timedelta(days=3), "amount": short,
                "reason": reason, "rule": rule,
                "note": None if rule else "Correspondent bank charge deducted from the transfer",
            }
        )  # fmt: skip
    # A customer gone insolvent: its oldest open invoice written off as a bad debt.
    bad = older[5]
    ledger.write_offs.append(
        {
            "invoice": bad, "date": today - dt.timedelta(days=2),
            "amount": plan.invoices[bad]["amount"], "reason": "bad_debt",
            "note": "Insolvency proceedings opened; claim filed with the administrator",
        }
    )  # fmt: skip
    plan.bank_lines.sort(key=lambda b: b["date"])
    settled = [*plan.allocations, *ledger.credit_allocations, *ledger.write_offs]
    for entry in settled:
        if entry["invoice"] not in touched:
            paid[entry["invoice"]] = paid.get(entry["invoice"], Decimal(0)) + entry["amount"]


def _credit_note(plan: Plan, n: int, i: int, reason: str, share: Decimal, note: str) -> None:
    inv = plan.invoices[i]
    amount = money.round_money(inv["amount"] * share, "EUR")
    plan.ledger.credit_notes.append(
        {
            "number": f"CN-{n + 1:04d}", "customer": inv["customer"],
            "date": inv["issue_date"] + dt.timedelta(days=10), "currency": "EUR",
            "amount": amount, "reason": reason, "invoice": i, "note": note,
        }
    )  # fmt: skip
    plan.ledger.credit_allocations.append(
        {"credit_note": n, "invoice": i, "amount": amount, "currency": "EUR"}
    )


def _pay(plan: Plan, accounts: dict[str, str], i: int, amount: Decimal, on: dt.date) -> None:
    from engine.demo import CUSTOMERS

    inv = plan.invoices[i]
    line = {
        "date": on, "amount": amount, "currency": "EUR",
        "counterparty": CUSTOMERS[inv["customer"]][0], "memo": inv["number"],
        "reference": f"E2E-{inv['number']}", "account": accounts["EUR"],
    }  # fmt: skip
    plan.bank_lines.append(line)
    plan.allocations.append(
        {
            "bank_line": line, "invoice": i, "amount": amount, "currency": "EUR",
            "matched_by": "manual", "rule": None,
            "difference": inv["amount"] - amount if amount != inv["amount"] else None,
            "difference_class": "none",
        }
    )  # fmt: skip


def write_ledger(repo: Any, ledger: LedgerPlan, customers: list[int], invoices: list[int]) -> None:
    """The credit notes, their allocations and the write-offs (after the invoices)."""
    notes = repo.bulk_create(
        "receivables.credit_note",
        [
            {**c, "customer": customers[c["customer"]],
             "invoice": invoices[c["invoice"]] if "invoice" in c else None}
            for c in ledger.credit_notes
        ],
    )  # fmt: skip
    repo.bulk_create(
        "receivables.allocation",
        [
            {**a, "credit_note": notes[a["credit_note"]], "invoice": invoices[a["invoice"]]}
            for a in ledger.credit_allocations
        ],
    )
    repo.bulk_create(
        "receivables.write_off",
        [{**w, "invoice": invoices[w["invoice"]]} for w in ledger.write_offs],
    )


def write_terms(repo: Any, ledger: LedgerPlan) -> list[int]:
    """The payment schedules with their lines (before the invoices that use them)."""
    ids = repo.bulk_create(
        "receivables.payment_terms",
        [{k: v for k, v in t.items() if k != "lines"} for t in ledger.terms],
    )
    repo.bulk_create(
        "receivables.payment_terms_line",
        [{**line, "payment_terms": i} for t, i in zip(ledger.terms, ids, strict=True)
         for line in t["lines"]],
    )  # fmt: skip
    return ids
