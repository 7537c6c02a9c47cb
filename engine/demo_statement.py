"""The demo's latest bank statement: imported through an import profile, then matched by
the rules, as a clerk's morning goes.

Earlier months are history, matched already. The latest statement pays open invoices
the way customers really pay: most with the invoice number and the exact amount (the
rules settle those), some without a reference or short of the amount (suggestions for
a person to confirm), and a few the rules cannot place: a payout from a payment
provider, a tax refund, a donation, one invoice paid twice. One customer quotes another
customer's invoice number: the rules propose that customer's own oldest invoice
instead, for a person to judge. The statement is written as the `bank_csv` profile
reads it and imported through engine.imports, so importing it again adds nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import money
from engine.errors import FormworkError
from engine.imports import import_file
from engine.imports.run import ImportResult
from engine.permissions import Principal
from engine.rules.run import RunResult
from engine.rules.service import Reconciliation
from engine.storage import Database

PROFILE = ("receivables", "bank_csv")
COLUMNS = ("Date", "Amount", "Currency", "Counterparty", "IBAN", "Memo", "Reference")
PAYMENTS = 40  # lines paying open overdue invoices


@dataclass
class Story:
    """What the clerk's morning did: the statement imported and the rules' run."""

    imported: ImportResult
    run: RunResult


def plan_statement(
    rng: random.Random,
    plan: Any,
    customers: list[str],
    ibans: list[str | None],
    today: dt.date,
) -> list[dict[str, Any]]:
    """The latest statement's lines (values only), oldest first: `plan` is the demo's
    plan with its history (allocations, credit notes and write-offs) made."""
    invoices, ledger = plan.invoices, plan.ledger
    settled = [*plan.allocations, *ledger.credit_allocations, *ledger.write_offs]
    allocated = {a["invoice"] for a in settled}
    open_overdue = [
        i
        for i, inv in enumerate(invoices)
        if not inv["disputed"] and inv["due_date"] < today - dt.timedelta(days=5)
        and i not in allocated
    ]  # fmt: skip
    lines = []
    chosen = rng.sample(open_overdue, min(PAYMENTS, len(open_overdue)))
    for n, i in enumerate(chosen):
        inv = invoices[i]
        customer = customers[inv["customer"]]
        short = n % 4 == 3  # the customer deducted a fee or a discount
        amount = inv["amount"] - (money.round_money(Decimal(15), inv["currency"]) if short else 0)
        line = _line(rng, today, amount, inv["currency"], customer, ibans[inv["customer"]],
                     f"{inv['number']} {customer}" if n % 3 else "payment")  # fmt: skip
        lines.append({**line, "_exact": not short})
    lines += _unplaceable(rng, invoices, customers, ibans, lines, allocated | set(chosen), today)
    for b in lines:
        b.pop("_exact", None)
    lines.sort(key=lambda b: b["date"])
    return lines


def _line(
    rng: random.Random,
    today: dt.date,
    amount: Decimal,
    currency: str,
    counterparty: str,
    iban: str | None,
    memo: str,
) -> dict[str, Any]:
    return {
        "date": today - dt.timedelta(days=rng.randint(1, 12)),
        "amount": amount,
        "currency": currency,
        "counterparty": counterparty,
        "counterparty_iban": iban,
        "memo": memo,
        "reference": f"E2E{rng.randint(10**11, 10**12 - 1)}",
    }


def _unplaceable(
    rng: random.Random,
    invoices: list[dict[str, Any]],
    customers: list[str],
    ibans: list[str | None],
    lines: list[dict[str, Any]],
    taken: set[int],
    today: dt.date,
) -> list[dict[str, Any]]:
    """Lines no rule settles, each for a reason the workbench explains."""
    out = [
        _line(rng, today, Decimal("1873.40"), "EUR", "Stripe Technology Europe Ltd", None,
              f"Payout po_{rng.randint(10**9, 10**10 - 1)}"),
        _line(rng, today, Decimal("250.00"), "EUR", "Hans Weber", None, "Spende Sommerfest"),
        _line(rng, today, Decimal("3412.17"), "EUR", "Finanzamt Köln-Altstadt", None,
              "Erstattung USt 10/2026 StNr 214/5732/0815"),
    ]  # fmt: skip
    exact = [b for b in lines if b["memo"].startswith("INV-") and b.get("_exact")]
    if exact:  # one of this statement's payments made twice, by the customer's payables
        first = exact[len(exact) // 2]
        name = first["counterparty"].split()[0]
        later = min(first["date"] + dt.timedelta(days=1), today - dt.timedelta(days=1))
        out.append(
            {**first, "date": later, "counterparty": f"{name} Kreditorenbuchhaltung",
             "counterparty_iban": None, "memo": first["memo"].split()[0],
             "reference": f"E2E{rng.randint(10**11, 10**12 - 1)}"}
        )  # fmt: skip
    euro = [
        i for i, inv in enumerate(invoices)
        if inv["currency"] == "EUR" and i not in taken and not inv["disputed"]
    ]  # fmt: skip
    if len(euro) >= 2:  # one customer quotes another customer's invoice
        theirs = invoices[euro[0]]
        payer = next(
            (
                invoices[i]["customer"]
                for i in euro
                if invoices[i]["customer"] != theirs["customer"]
            ),
            None,
        )
        if payer is not None:
            out.append(
                _line(rng, today, theirs["amount"] + Decimal("100"), "EUR", customers[payer],
                      ibans[payer], f"Invoice {theirs['number']}")
            )  # fmt: skip
    return out


def story_text(story: Story) -> str:
    """The CLI's line about the morning's work."""
    r = story.run
    return (
        f"Imported the latest statement: {story.imported.created} bank lines; the rules "
        f"matched {r.auto}, suggested {r.suggested} for you to confirm and left "
        f"{r.unmatched} unmatched (see Reconcile)."
    )


def statement_csv(lines: list[dict[str, Any]], path: Path) -> None:
    """The lines as the bank_csv profile reads them (ISO dates, 1234.56 amounts)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for b in lines:
            writer.writerow(
                [b["date"].isoformat(), str(b["amount"]), b["currency"], b["counterparty"],
                 b.get("counterparty_iban") or "", b["memo"], b.get("reference") or ""]
            )  # fmt: skip


def import_and_match(
    db: Database,
    principal: Principal,
    lines: list[dict[str, Any]],
    today: dt.date,
) -> Story:
    """Import the statement through its profile, then run the matching rules."""
    app, name = PROFILE
    profile = db.appset.apps[app].imports.get(name)
    if profile is None:
        raise FormworkError(f"the demo imports its statement with the {app}.{name} profile")
    with tempfile.TemporaryDirectory(prefix="formwork-demo-") as folder:
        path = Path(folder) / f"statement-{today:%Y-%m-%d}.csv"
        statement_csv(lines, path)
        imported = import_file(db.repository(principal), profile, path)
    run = Reconciliation(db, principal).run()
    return Story(imported, run)
