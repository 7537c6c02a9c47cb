"""Undoing a credit note's allocation is remembered, as undoing a bank line's is: the
next run leaves that credit note off that invoice, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.permissions import Principal
from engine.rules.service import Reconciliation
from engine.storage import Database

R = "receivables."


def allocations_of(db: Database, note: int) -> list[dict[str, Any]]:
    repo = db.repository(Principal.system("test"))
    return [a for a in repo.query(R + "allocation", limit=100).rows if a["credit_note"] == note]


def test_an_undone_credit_note_allocation_is_not_made_again(db: Database) -> None:
    repo = db.repository(Principal.system("test"))
    acme = repo.create(R + "customer", {"name": "Acme"})["id"]
    invoice = repo.create(
        R + "invoice",
        {"number": "INV-1", "customer": acme, "issue_date": "2026-01-10", "amount": "80"},
    )["id"]
    other = repo.create(
        R + "invoice",
        {"number": "INV-2", "customer": acme, "issue_date": "2026-01-11", "amount": "500"},
    )["id"]
    named = repo.create(
        R + "credit_note",
        {
            "number": "CN-1",
            "customer": acme,
            "date": "2026-01-12",
            "amount": "30",
            "invoice": other,
            "reason": "price_correction",
        },
    )["id"]
    unnamed = repo.create(  # the customer's only open invoice of its amount: INV-1
        R + "credit_note",
        {
            "number": "CN-2",
            "customer": acme,
            "date": "2026-01-13",
            "amount": "80",
            "reason": "returned_goods",
        },
    )["id"]
    service = Reconciliation(db, Principal.system("test"))
    service.run()
    (first,) = allocations_of(db, named)
    (second,) = allocations_of(db, unnamed)
    assert (first["invoice"], first["amount"]) == (other, Decimal("30.00"))
    assert (second["invoice"], second["amount"]) == (invoice, Decimal("80.00"))

    service.undo(first["id"])
    service.undo(second["id"])
    rejected = [
        (s["credit_note"], s["invoice"])
        for s in repo.query(R + "match_suggestion", limit=100).rows
        if s["status"] == "rejected"
    ]
    assert sorted(rejected) == sorted([(named, other), (unnamed, invoice)])

    service.run()
    assert allocations_of(db, named) == [] and allocations_of(db, unnamed) == []
    assert repo.get(R + "credit_note", named)["unallocated_amount"] == Decimal("30.00")
    assert repo.get(R + "invoice", invoice)["open_amount"] == Decimal("80.00")
