"""Payment schedules: an invoice with terms gets instalments that add up to it exactly and
are settled oldest due first, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from engine.errors import ValidationError
from engine.storage import Filter, Repository

D = Decimal
R = "receivables."


def make(repo: Repository, entity: str, **values: Any) -> dict[str, Any]:
    return repo.create(R + entity, values)


def terms(repo: Repository, name: str, *lines: tuple[str, int]) -> dict[str, Any]:
    made = make(repo, "payment_terms", name=name)
    for percent, days in lines:
        make(repo, "payment_terms_line", payment_terms=made["id"], percent=percent, days=days)
    return made


def instalments(repo: Repository, inv: dict[str, Any]) -> list[tuple[Any, ...]]:
    page = repo.query(R + "instalment", [Filter("invoice", "eq", inv["id"])], sort="number")
    return [(r["number"], r["due_date"], r["amount"], r["open_amount"]) for r in page.rows]


@pytest.fixture
def thirds(repo: Repository) -> dict[str, Any]:
    # Listed out of order: the schedule is by days.
    return terms(repo, "30/50/20", ("50", 60), ("30", 30), ("20", 90))


def invoice(repo: Repository, currency: str, amount: str, sched: dict | None, **values: Any):
    cust = make(repo, "customer", name=f"Customer {currency} {amount}", currency=currency)
    return make(
        repo, "invoice", number=f"INV-{currency}-{amount}", customer=cust["id"],
        issue_date="2026-01-01", amount=amount,
        payment_terms=sched["id"] if sched else None, **values,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("EUR", "100.01", [D("30.00"), D("50.00"), D("20.01")]),
        ("EUR", "0.05", [D("0.02"), D("0.02"), D("0.01")]),
        ("JPY", "1001", [D("300"), D("500"), D("201")]),
        ("JPY", "7", [D("2"), D("4"), D("1")]),
        ("KWD", "10.001", [D("3.000"), D("5.000"), D("2.001")]),
    ],
)
def test_amounts_are_rounded_per_currency_and_the_last_takes_the_rest(
    repo, thirds, currency, amount, expected
):
    inv = invoice(repo, currency, amount, thirds)
    got = instalments(repo, inv)
    assert [row[2] for row in got] == expected
    assert sum(row[2] for row in got) == D(amount)
    assert [row[0] for row in got] == [1, 2, 3]
    assert [row[1] for row in got] == [dt.date(2026, 1, 31), dt.date(2026, 3, 2),
                                       dt.date(2026, 4, 1)]  # fmt: skip


def test_no_schedule_no_instalments(repo):
    inv = invoice(repo, "EUR", "100.00", None)
    assert instalments(repo, inv) == []


def test_schedule_lines_must_add_up_to_100(repo):
    bad = terms(repo, "half", ("50", 30))
    with pytest.raises(ValidationError) as raised:
        invoice(repo, "EUR", "100.00", bad)
    assert raised.value.errors == {
        "payment_terms": "The payment schedule's lines must add up to 100 %"
    }
    assert repo.count(R + "instalment") == 0


def test_payments_settle_the_oldest_instalment_first(repo, thirds):
    inv = invoice(repo, "EUR", "1000.00", thirds)
    line = make(repo, "bank_line", date="2026-02-01", amount="400.00")
    alloc = make(repo, "allocation", bank_line=line["id"], invoice=inv["id"], amount="400.00")
    assert [row[3] for row in instalments(repo, inv)] == [D("0.00"), D("400.00"), D("200.00")]
    make(repo, "write_off", invoice=inv["id"], amount="450.00", reason="discount")
    assert [row[3] for row in instalments(repo, inv)] == [D("0.00"), D("0.00"), D("150.00")]
    repo.delete(R + "allocation", alloc["id"])
    assert [row[3] for row in instalments(repo, inv)] == [D("0.00"), D("350.00"), D("200.00")]


def test_changing_the_amount_or_the_schedule_makes_them_again(repo, thirds):
    inv = invoice(repo, "EUR", "100.00", thirds)
    repo.update(R + "invoice", inv["id"], {"amount": "200.00"})
    assert [row[2] for row in instalments(repo, inv)] == [D("60.00"), D("100.00"), D("40.00")]
    whole = terms(repo, "net 45", ("100", 45))
    repo.update(R + "invoice", inv["id"], {"payment_terms": whole["id"]})
    assert instalments(repo, inv) == [(1, dt.date(2026, 2, 15), D("200.00"), D("200.00"))]
    repo.update(R + "invoice", inv["id"], {"payment_terms": None})
    assert instalments(repo, inv) == []
    # Editing the description leaves them alone (same ids).
    repo.update(R + "invoice", inv["id"], {"payment_terms": thirds["id"]})
    ids = [r["id"] for r in repo.query(R + "instalment").rows]
    repo.update(R + "invoice", inv["id"], {"description": "rush"})
    assert [r["id"] for r in repo.query(R + "instalment").rows] == ids


def test_deleting_the_invoice_deletes_its_instalments(repo, thirds):
    inv = invoice(repo, "EUR", "100.00", thirds)
    repo.delete(R + "invoice", inv["id"])
    assert repo.count(R + "instalment") == 0


def test_bulk_created_invoices_get_their_instalments_in_one_write(repo, thirds):
    cust = make(repo, "customer", name="Bulk")
    rows = [
        {"number": f"B-{i}", "customer": cust["id"], "issue_date": "2026-01-01",
         "amount": f"{i}.00", "payment_terms": thirds["id"]}
        for i in range(1, 51)
    ]  # fmt: skip
    ids = repo.bulk_create(R + "invoice", rows)
    assert repo.count(R + "instalment") == 150
    for record_id, i in zip(ids, range(1, 51), strict=True):
        got = instalments(repo, {"id": record_id})
        assert sum(row[2] for row in got) == D(i)


def test_a_long_import_does_not_keep_the_invoices_it_made_schedules_for(repo, thirds):
    # An import of a million invoices runs in one transaction: the records the generator
    # read to make their instalments must not stay in the transaction's cache.
    cust = make(repo, "customer", name="Streamed")
    with repo.deferred_refresh():
        for chunk in range(3):
            rows = [
                {"number": f"S-{chunk}-{i}", "customer": cust["id"], "issue_date": "2026-01-01",
                 "amount": "10.00", "payment_terms": thirds["id"]}
                for i in range(20)
            ]  # fmt: skip
            repo.bulk_create(R + "invoice", rows)
            cached = repo.loader.cache.get(R + "invoice", {})
            assert len(cached) == 0, f"{len(cached)} invoices kept after chunk {chunk}"
    assert repo.count(R + "instalment") == 180
