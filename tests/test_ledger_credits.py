"""Credit notes and write-offs: what a customer owes follows them, on SQLite and PostgreSQL.

An allocation takes its money from a bank line or a credit note (exactly one); a
write-off is its own record with a reason. The invoice's open amount, status and the
customer's balance follow from them and are never typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from engine import clock
from engine.errors import ValidationError
from engine.storage import Repository

D = Decimal
R = "receivables."


def make(repo: Repository, entity: str, **values: Any) -> dict[str, Any]:
    return repo.create(R + entity, values)


def reread(repo: Repository, entity: str, row: dict[str, Any]) -> dict[str, Any]:
    got = repo.get(R + entity, row["id"])
    assert got is not None
    return got


@pytest.fixture(autouse=True)
def before_anything_is_due() -> Iterator[None]:
    with clock.frozen_at(dt.datetime(2026, 1, 25, 9, 0, tzinfo=dt.UTC)):
        yield


@pytest.fixture
def acme(repo: Repository) -> dict[str, Any]:
    return make(repo, "customer", name="Acme")


def invoice(repo: Repository, cust: dict[str, Any], number: str, amount: str, **values: Any):
    return make(
        repo, "invoice", number=number, customer=cust["id"], issue_date="2026-01-10",
        amount=amount, **values,
    )  # fmt: skip


def credit_note(repo: Repository, cust: dict[str, Any], amount: str, **values: Any):
    values = {"number": "CN-1", "date": "2026-01-20", "reason": "price_correction", **values}
    return make(repo, "credit_note", customer=cust["id"], amount=amount, **values)


def errors_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        call(*args, **kwargs)
    return raised.value.errors


def test_credit_note_allocated_reduces_open_amount_and_balance(repo, acme):
    inv = invoice(repo, acme, "INV-1", "100.00")
    note = credit_note(repo, acme, "30.00", invoice=inv["id"])
    # Unallocated, the credit already lowers what the customer owes; the invoice is untouched.
    assert reread(repo, "customer", acme)["balance"] == D("70.00")
    assert reread(repo, "invoice", inv)["open_amount"] == D("100.00")
    make(repo, "allocation", credit_note=note["id"], invoice=inv["id"], amount="30.00")
    got = reread(repo, "invoice", inv)
    assert (got["paid_amount"], got["open_amount"], got["status"]) == (
        D("30.00"), D("70.00"), "partial",
    )  # fmt: skip
    assert reread(repo, "credit_note", note)["unallocated_amount"] == D("0.00")
    assert reread(repo, "customer", acme)["balance"] == D("70.00")


def test_allocation_needs_exactly_one_source(repo, acme):
    inv = invoice(repo, acme, "INV-1", "100.00")
    note = credit_note(repo, acme, "10.00")
    line = make(repo, "bank_line", date="2026-02-01", amount="10.00")
    neither = errors_of(make, repo, "allocation", invoice=inv["id"], amount="5.00")
    both = errors_of(
        make, repo, "allocation", invoice=inv["id"], amount="5.00",
        bank_line=line["id"], credit_note=note["id"],
    )  # fmt: skip
    for errs in (neither, both):
        assert "bank line or from a credit note" in errs["bank_line"]
    assert reread(repo, "invoice", inv)["open_amount"] == D("100.00")


def test_over_allocation_of_a_credit_note_or_an_invoice_is_refused(repo, acme):
    inv = invoice(repo, acme, "INV-1", "50.00")
    other = invoice(repo, acme, "INV-2", "50.00")
    note = credit_note(repo, acme, "40.00")
    make(repo, "allocation", credit_note=note["id"], invoice=inv["id"], amount="30.00")
    errs = errors_of(
        make, repo, "allocation", credit_note=note["id"], invoice=other["id"], amount="20.00"
    )
    assert "more than the credit note's amount" in errs["credit_note"]
    make(repo, "write_off", invoice=inv["id"], amount="15.00", reason="discount")
    errs = errors_of(make, repo, "write_off", invoice=inv["id"], amount="5.01", reason="other",
                     note="x")  # fmt: skip
    assert "cannot take more than the invoice's amount" in errs["invoice"]
    got = reread(repo, "invoice", inv)
    assert (got["open_amount"], got["status"]) == (D("5.00"), "partial")
    assert reread(repo, "credit_note", note)["unallocated_amount"] == D("10.00")


def test_credit_note_for_another_customers_invoice_is_refused(repo, acme):
    other = make(repo, "customer", name="Beta")
    inv = invoice(repo, other, "INV-9", "10.00")
    errs = errors_of(credit_note, repo, acme, "5.00", invoice=inv["id"])
    assert errs == {"invoice": "The corrected invoice belongs to another customer"}


def test_small_difference_written_off_settles_as_paid(repo, acme):
    inv = invoice(repo, acme, "INV-1", "100.00")
    line = make(repo, "bank_line", date="2026-02-01", amount="99.50")
    make(repo, "allocation", bank_line=line["id"], invoice=inv["id"], amount="99.50")
    assert reread(repo, "invoice", inv)["status"] == "partial"
    off = make(
        repo, "write_off", invoice=inv["id"], amount="0.50", reason="small_difference",
        rule="amount within 1 EUR",
    )  # fmt: skip
    assert (off["currency"], off["bad_debt_amount"]) == ("EUR", D("0.00"))
    got = reread(repo, "invoice", inv)
    assert (got["open_amount"], got["written_off_amount"], got["status"]) == (
        D("0.00"), D("0.50"), "paid",
    )  # fmt: skip
    assert reread(repo, "customer", acme)["balance"] == D("0.00")


def test_bad_debt_or_a_whole_write_off_makes_it_written_off(repo, acme):
    partly = invoice(repo, acme, "INV-1", "100.00")
    line = make(repo, "bank_line", date="2026-02-01", amount="60.00")
    make(repo, "allocation", bank_line=line["id"], invoice=partly["id"], amount="60.00")
    make(repo, "write_off", invoice=partly["id"], amount="40.00", reason="bad_debt")
    assert reread(repo, "invoice", partly)["status"] == "written_off"
    whole = invoice(repo, acme, "INV-2", "20.00")
    make(repo, "write_off", invoice=whole["id"], amount="20.00", reason="other", note="gone")
    assert reread(repo, "invoice", whole)["status"] == "written_off"
    assert reread(repo, "customer", acme)["balance"] == D("0.00")


def test_write_off_with_reason_other_needs_a_note(repo, acme):
    inv = invoice(repo, acme, "INV-1", "10.00")
    errs = errors_of(make, repo, "write_off", invoice=inv["id"], amount="1.00", reason="other")
    assert errs == {"note": "Say in the note why the amount is written off"}
    assert reread(repo, "invoice", inv)["written_off_amount"] == D("0.00")


def test_status_follows_the_money_both_ways(repo, acme):
    inv = invoice(repo, acme, "INV-1", "100.00")
    assert inv["status"] == "open"
    line = make(repo, "bank_line", date="2026-02-01", amount="100.00")
    alloc = make(repo, "allocation", bank_line=line["id"], invoice=inv["id"], amount="100.00")
    assert reread(repo, "invoice", inv)["status"] == "paid"
    repo.delete(R + "allocation", alloc["id"])
    assert reread(repo, "invoice", inv)["status"] == "open"
    repo.update(R + "invoice", inv["id"], {"disputed": True})
    assert reread(repo, "invoice", inv)["status"] == "disputed"
    # A typed status is ignored: it is computed.
    repo.update(R + "invoice", inv["id"], {"status": "paid", "disputed": False})
    assert reread(repo, "invoice", inv)["status"] == "open"


def test_a_credit_note_settles_only_its_own_customers_invoices(repo, acme):
    other = make(repo, "customer", name="Beta")
    inv = invoice(repo, other, "INV-9", "10.00")
    note = credit_note(repo, acme, "5.00")
    errs = errors_of(make, repo, "allocation", credit_note=note["id"], invoice=inv["id"],
                     amount="5.00")  # fmt: skip
    assert errs == {"credit_note": "A credit note settles invoices of its own customer only"}


def test_a_credit_note_in_another_currency_is_allocated_in_its_own(repo, acme):
    inv = invoice(repo, acme, "INV-1", "100.00")
    note = credit_note(repo, acme, "50.00", currency="USD")
    alloc = make(
        repo, "allocation", credit_note=note["id"], invoice=inv["id"], amount="46.00",
        foreign_amount="50.00", exchange_rate="0.92",
    )  # fmt: skip
    assert alloc["source_currency"] == "USD"
    assert reread(repo, "credit_note", note)["unallocated_amount"] == D("0.00")
    assert reread(repo, "invoice", inv)["open_amount"] == D("54.00")
    errs = errors_of(
        make, repo, "allocation", credit_note=note["id"], invoice=inv["id"], amount="1.00",
        source_currency="EUR",
    )  # fmt: skip
    assert (
        errs["credit_note"] == "An allocation from a credit note is in the credit note's currency"
    )
