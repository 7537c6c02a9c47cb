"""Unallocated credit notes settled against open invoices, before the bank lines.

A credit note that names the invoice it corrects goes to that invoice (as much as both
have open); one that names none goes to its customer's one open invoice of exactly its
amount, when there is exactly one. Anything else is left for a person: a credit note is
the customer's money, and guessing where it goes is worse than asking. They go first, so
that a customer who pays an invoice net of its credit note is matched exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.i18n import Message, _
from engine.rules.outcome import reasons_json
from engine.rules.state import ZERO, OpenInvoices, rounded

RULE = "credit note"


@dataclass(frozen=True)
class CreditShare:
    credit_note: int
    invoice: int
    amount: Decimal
    reason: Message


def load_credit_notes(
    conn: sa.Connection,
    table: sa.Table,
    locked: Callable[[sa.Select[Any]], sa.Select[Any]],
    suggestions: sa.Table | None = None,
) -> list[dict[str, Any]]:
    """The credit notes with money left, each with `rejected`: the invoices a person took
    it back from (an undone allocation), which no run gives it again."""
    stmt = sa.select(table).where(table.c.unallocated_amount > 0).order_by(table.c.date, table.c.id)
    notes = [
        rounded(dict(r), ("amount", "unallocated_amount"))
        for r in conn.execute(locked(stmt)).mappings()
    ]
    rejected: dict[int, set[int]] = {}
    if notes and suggestions is not None and "credit_note" in suggestions.c:
        s = suggestions.c
        found = sa.select(s.credit_note, s.invoice).where(
            s.status == "rejected", s.credit_note.is_not(None)
        )
        for note, invoice in conn.execute(found):
            rejected.setdefault(note, set()).add(invoice)
    for note in notes:
        note["rejected"] = rejected.get(note["id"], set())
    return notes


def settle_credit_notes(notes: list[dict[str, Any]], invoices: OpenInvoices) -> list[CreditShare]:
    """Where each credit note goes; the invoices' open amounts go down as it is decided."""
    shares = []
    for note in notes:
        left = note["unallocated_amount"]
        named = note.get("invoice")
        item = invoices.items.get(named) if named is not None else None
        if named in note.get("rejected", ()):
            continue
        if item is not None and item.open > ZERO and item.currency == note.get("currency"):
            amount = min(left, item.open)
            reason = _("the credit note names invoice %(number)s", number=item.row.get("number"))
        elif named is None and note.get("customer") is not None:
            same = invoices.amount_between(note["customer"], note.get("currency"), left, left)
            if len(same) != 1 or same[0].id in note.get("rejected", ()):
                continue
            item, amount = same[0], left
            reason = _("the customer's only open invoice of the credit note's amount")
        else:
            continue
        invoices.settle(item, amount)
        shares.append(CreditShare(note["id"], item.id, amount, reason))
    return shares


def allocation_of(share: CreditShare, run_id: int, version: str) -> dict[str, Any]:
    return {
        "credit_note": share.credit_note,
        "invoice": share.invoice,
        "amount": share.amount,
        "matched_by": "rule",
        "rule": RULE,
        "definitions_version": version,
        "score": Decimal(100),
        "reasons": reasons_json([share.reason]),
        "run": run_id,
    }
