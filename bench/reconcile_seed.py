"""Writes a reconcile_data.Dataset into a database, and keeps the truth beside it.

Customers, open invoices, exchange rates and bank lines go through the one write path
(`Repository.bulk_create`: validated, defaults and computed fields worked out, audited).
The paid history (most of the million invoices) goes straight into the invoice table
with SQLAlchemy Core, its stored computed columns set as a fully paid invoice has them,
because writing 840,000 invoices through the Repository would take minutes of set-up
for rows the matching run only has to step over. No allocations or bank lines stand
behind the history's paid amounts. None of this is part of the timed run.

The truth file maps (bank line id, invoice id) pairs, with each line's kind; the engine
never sees it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import reconcile_data
import reconcile_refs as refs
from reconcile_data import ACCOUNT, Dataset, Invoice

from engine.appdef.model import Entity
from engine.permissions import Principal
from engine.storage import Database

BATCH = 20_000
CUSTOMER = "receivables.customer"
INVOICE = "receivables.invoice"
LINE = "receivables.bank_line"
RATE = "receivables.exchange_rate"
ALLOCATION = "receivables.allocation"
# Fields the definitions may or may not have (they grow while matching is built): filled
# when the entity has them.
CUSTOMER_IBAN = ("iban", "counterparty_iban", "ibans")
INVOICE_RF = ("creditor_reference", "rf_reference", "payment_reference")


def _known(ent: Entity, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in ent.fields}


def _first_field(ent: Entity, candidates: tuple[str, ...]) -> str | None:
    return next((f for f in candidates if f in ent.fields), None)


def _batches(items: Iterator[Any] | list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def seed(db: Database, data: Dataset, truth_path: Path, say: Any = print) -> dict[str, int]:
    """Write the dataset (the database must be migrated and hold no receivables records)."""
    repo = db.repository(Principal.system("bench"))
    appset = db.appset
    cust_ent, inv_ent = appset.entity(CUSTOMER), appset.entity(INVOICE)
    iban_field = _first_field(cust_ent, CUSTOMER_IBAN)
    rf_field = _first_field(inv_ent, INVOICE_RF)
    customers = []
    for i, c in enumerate(data.customers):
        values: dict[str, Any] = {
            "name": c.name,
            "email": f"ar{i + 1}@customer{i + 1}.example",
            "currency": c.currency,
            "payment_terms_days": c.terms,
        }
        if iban_field and c.iban and c.iban_known:
            values[iban_field] = [c.iban] if iban_field.endswith("s") else c.iban
        customers.append(_known(cust_ent, values))
    customer_ids = repo.bulk_create(CUSTOMER, customers)
    say(f"  {len(customer_ids):,} customers")

    history = insert_history(db, data, customer_ids)
    say(f"  {history:,} paid invoices (history, direct insert)")

    def invoice_values(inv: Invoice) -> dict[str, Any]:
        values = {
            "number": data.number(inv.number),
            "customer": customer_ids[inv.customer],
            "issue_date": inv.issue,
            "currency": inv.currency,
            "amount": inv.amount,
        }
        if rf_field:
            values[rf_field] = refs.rf_reference(f"{inv.number:0{data.width}d}")
        return values

    invoice_ids: dict[int, int] = {}
    for batch in _batches(data.open_numbers):
        ids = repo.bulk_create(INVOICE, [invoice_values(data.invoice(n)) for n in batch])
        invoice_ids.update(zip(batch, ids, strict=True))
    say(f"  {len(invoice_ids):,} open invoices")

    rates = [{"date": d, "currency": c, "rate": r} for (c, d), r in data.rates.items()]
    repo.bulk_create(RATE, rates)
    say(f"  {len(rates):,} exchange rates")

    line_ent = appset.entity(LINE)
    line_ids: list[int] = []
    for batch in _batches(data.lines):
        line_ids += repo.bulk_create(LINE, [_known(line_ent, line_values(x)) for x in batch])
    say(f"  {len(line_ids):,} bank lines")
    write_truth(truth_path, data, line_ids, invoice_ids)
    write_exports(truth_path.parent, data, line_ids, invoice_ids)
    return {"customers": len(customer_ids), "history": history, "open": len(invoice_ids)}


def line_values(line: Any) -> dict[str, Any]:
    """The bank line as an import writes it (fields the definitions lack are left out)."""
    return {
        "date": line.date,
        "amount": line.amount,
        "currency": line.currency,
        "counterparty": line.counterparty,
        "counterparty_iban": line.counterparty_iban or None,
        "memo": line.memo or None,
        "reference": line.reference or None,
        "end_to_end_id": line.end_to_end,
        "account": ACCOUNT["EUR" if line.currency == "EUR" else "USD"],
        "statement_id": f"STMT-{line.date:%Y-%m}",  # before statements were records
    }


def _history_computed(ent: Entity, amount: Decimal) -> dict[str, Any]:
    """The stored computed columns of a fully paid invoice, whatever the definitions add."""
    out: dict[str, Any] = {}
    for name, f in ent.fields.items():
        if not f.computed:
            continue
        if name == "status":
            out[name] = "paid"
        elif name == "paid_amount":
            out[name] = amount
        elif f.result == "money":
            out[name] = Decimal(0)
        elif f.result == "boolean":
            out[name] = False
    return out


def insert_history(db: Database, data: Dataset, customer_ids: list[int]) -> int:
    ent = db.appset.entity(INVOICE)
    table = db.table(INVOICE)
    columns = [c.name for c in table.columns if c.name != "id"]
    at = dt.datetime.combine(reconcile_data.FIRST_ISSUE, dt.time(9), dt.UTC)
    system = {
        "version": 1,
        "created_at": at,
        "updated_at": at,
        "created_by": "bench",
        "updated_by": "bench",
    }
    count = 0
    with db.engine.begin() as conn:
        for batch in _batches(data.history()):
            rows = []
            for inv in batch:
                customer = data.customers[inv.customer]
                row = dict.fromkeys(columns)
                row.update(system)
                row.update(_history_computed(ent, inv.amount))
                row.update(
                    number=data.number(inv.number),
                    customer=customer_ids[inv.customer],
                    issue_date=inv.issue,
                    due_date=inv.issue + dt.timedelta(days=customer.terms),
                    currency=inv.currency,
                    amount=inv.amount,
                    disputed=False,
                )
                rows.append({k: v for k, v in row.items() if k in columns})
            conn.execute(table.insert(), rows)
            count += len(rows)
    return count


def write_truth(
    path: Path, data: Dataset, line_ids: list[int], invoice_ids: dict[int, int]
) -> None:
    """The truth by database id: each line's kind and the invoices it really pays."""
    lines = []
    for line_id, line in zip(line_ids, data.lines, strict=True):
        lines.append(
            {
                "id": line_id,
                "kind": line.kind,
                "pays": [invoice_ids[n] for n in line.pays],
                "written": list(line.written),
                "repeats": line.repeats,
                "noise": list(line.noise),
            }
        )
    path.write_text(json.dumps({"seed": data.seed, "lines": lines}))


def read_truth(path: Path) -> tuple[set[tuple[int, int]], dict[int, str]]:
    """(line id, invoice id) pairs, and each line's kind."""
    raw = json.loads(path.read_text())
    pairs = {(line["id"], inv) for line in raw["lines"] for inv in line["pays"]}
    return pairs, {line["id"]: line["kind"] for line in raw["lines"]}


LINES_CSV, INVOICES_CSV = "lines.csv", "open_invoices.csv"


def write_exports(
    folder: Path, data: Dataset, line_ids: list[int], invoice_ids: dict[int, int]
) -> None:
    """The statement and the open-items list as CSV, what a plain script starts from."""
    with (folder / LINES_CSV).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        columns = ["date", "amount", "currency", "counterparty", "memo", "reference"]
        writer.writerow(["id", *columns])
        for line_id, line in zip(line_ids, data.lines, strict=True):
            writer.writerow([line_id, *(getattr(line, c) for c in columns)])
    with (folder / INVOICES_CSV).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "number", "customer", "issue_date", "amount", "currency"])
        for n, invoice_id in invoice_ids.items():
            inv = data.invoice(n)
            name = data.customers[inv.customer].name
            writer.writerow([invoice_id, data.number(n), name, inv.issue, inv.amount, inv.currency])
