"""The write transaction's cache of records (storage/records.Loader), on SQLite and PostgreSQL,
and what else a batch does to be fast that must not change what it does.

A batch loads only the columns its expressions read through its refs (an allocation needs
its invoice's currency and customer, not the twenty other columns); whatever reads those
records must still see what a whole read gives, and see changes made in the transaction.
"""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

from engine.appdef import AppSet
from engine.appdef.plan import entity_plan
from engine.errors import ValidationError
from engine.storage import Repository
from engine.storage.records import RefView

R = "receivables."
CUSTOMER, INVOICE, ALLOCATION = R + "customer", R + "invoice", R + "allocation"


def test_a_batch_reads_of_its_refs_the_fields_its_expressions_name(appset: AppSet):
    allocation = entity_plan(appset, ALLOCATION).through
    assert allocation["invoice"] == {"currency", "customer"}
    assert allocation["bank_line"] == {"currency", "amount"}
    invoice = entity_plan(appset, INVOICE).through
    assert invoice["customer"] == {"currency", "payment_terms_days"}  # defaults read them
    assert invoice["payment_terms"] == {"last_days", "total_percent"}


def _yen_invoice(repo: Repository) -> int:
    customer = repo.create(CUSTOMER, {"name": "Tokyo", "currency": "JPY"})
    values = {"number": "J-1", "customer": customer["id"], "issue_date": "2026-01-05"}
    return repo.create(INVOICE, {**values, "amount": "1000"})["id"]


def test_some_columns_read_as_the_whole_record_reads_them(repo: Repository):
    invoice = _yen_invoice(repo)
    with repo.transaction():
        loader = repo.loader
        loader.fetch(INVOICE, [invoice, 999_999], ["amount", "customer"])
        some = loader.holding(INVOICE, invoice, ["amount"])
        assert some is not None
        # money comes with its currency, which says its places (JPY: none)
        assert set(some) == {"id", "amount", "customer", "currency"}
        assert str(some["amount"]) == "1000"
        assert loader.holding(INVOICE, 999_999, ["amount"]) is None
        assert invoice not in loader.cache.get(INVOICE, {})  # not read whole yet
        whole = loader.holding(INVOICE, invoice, ["number"])  # not loaded: read whole
        assert whole is not None and whole["number"] == "J-1"
        assert {k: str(whole[k]) for k in some} == {k: str(v) for k, v in some.items()}
        assert loader.holding(INVOICE, invoice, None) is whole


def test_a_view_of_a_ref_reads_any_field_whatever_was_loaded(repo: Repository):
    invoice = _yen_invoice(repo)
    with repo.transaction():
        repo.loader.fetch(INVOICE, [invoice], ["currency"])
        view = RefView(repo.loader, repo.db.appset, INVOICE, invoice)
        assert view["currency"] == "JPY"
        assert "due_date" in view and str(view["due_date"]) == "2026-02-04"
        assert view["customer"] == RefView(repo.loader, repo.db.appset, CUSTOMER, 1)
        assert "no_such_field" not in view


def test_columns_loaded_are_read_again_once_the_transaction_changes_them(repo: Repository):
    invoice = _yen_invoice(repo)
    line = repo.create(R + "bank_line", {"date": "2026-02-01", "amount": "300", "currency": "JPY"})
    with repo.transaction():
        repo.loader.fetch(INVOICE, [invoice], ["open_amount"])
        before = repo.loader.holding(INVOICE, invoice, ["open_amount"])
        assert before is not None and before["open_amount"] == Decimal(1000)
        repo.create(ALLOCATION, {"bank_line": line["id"], "invoice": invoice, "amount": "300"})
        after = repo.loader.holding(INVOICE, invoice, ["open_amount"])
        assert after is not None and after["open_amount"] == Decimal(700)


def test_a_bulk_write_takes_its_defaults_from_the_columns_it_loaded(repo: Repository):
    invoice = _yen_invoice(repo)
    line = repo.create(R + "bank_line", {"date": "2026-02-01", "amount": "500", "currency": "USD"})
    values = {"bank_line": line["id"], "invoice": invoice, "foreign_amount": "3.30"}
    ids = repo.bulk_create(ALLOCATION, [{**values, "amount": "250"}, {**values, "amount": "1"}])
    made = [repo.get(ALLOCATION, i) for i in ids]
    assert [(a["currency"], a["source_currency"]) for a in made] == [("JPY", "USD")] * 2
    assert [str(a["amount"]) for a in made] == ["250", "1"]
    assert str(repo.get(INVOICE, invoice)["open_amount"]) == "749"


@pytest.mark.parametrize("ref", [2**63, 0, -1])
def test_an_id_no_record_can_have_is_refused_before_any_lookup(repo: Repository, ref: int):
    # the batch's refs are read with one query: a number beyond BIGINT must not reach it
    invoice = _yen_invoice(repo)
    with pytest.raises(ValidationError) as refused:
        repo.create(ALLOCATION, {"bank_line": ref, "invoice": invoice, "amount": "1"})
    assert refused.value.errors == {"bank_line": "must be a record id"}


def test_a_bulk_write_runs_without_the_cyclic_collector_and_gives_it_back(repo: Repository):
    seen: list[bool] = []
    repo.db.on_event(lambda event, conn: seen.append(gc.isenabled()))
    assert gc.isenabled()
    first, _ = repo.bulk_create(CUSTOMER, [{"name": "A"}, {"name": "B"}])
    assert seen == [False, False] and gc.isenabled()
    gc.disable()  # as an import does, collecting between its chunks itself
    try:
        repo.bulk_update(CUSTOMER, [(first, {"email": "a@example.com"})])
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, False, False]
