"""bulk_update, bulk_delete and deferred_refresh: many records at once, with what a single
write guarantees (validation, all or nothing, versions, audit, events, parents refreshed),
on SQLite and PostgreSQL. The matching engine confirms and undoes allocations this way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.errors import NotFound, StaleVersion
from engine.permissions import Principal
from engine.storage import BulkValidationError, Database, RecordEvent, Repository

D = Decimal
CUSTOMER, INVOICE = "receivables.customer", "receivables.invoice"
BANK_LINE, ALLOCATION = "receivables.bank_line", "receivables.allocation"


def world(repo: Repository, n: int = 3) -> dict[str, Any]:
    """A customer with `n` invoices of 100.00, a bank line paying each, allocations of 40."""
    (cust,) = repo.bulk_create(CUSTOMER, [{"name": "Acme"}])
    invoices = repo.bulk_create(
        INVOICE,
        [
            {"number": f"INV-{i}", "customer": cust, "issue_date": "2099-01-10", "amount": "100"}
            for i in range(n)
        ],
    )
    lines = repo.bulk_create(BANK_LINE, [{"date": "2024-02-01", "amount": "100"}] * n)
    allocations = repo.bulk_create(
        ALLOCATION,
        [
            {"bank_line": line, "invoice": inv, "amount": "40"}
            for line, inv in zip(lines, invoices, strict=True)
        ],
    )
    return {"customer": cust, "invoices": invoices, "lines": lines, "allocations": allocations}


def audit_actions(db: Database, entity: str, ids: list[int]) -> list[str]:
    table = db.system("audit")
    stmt = (
        sa.select(table.c.action)
        .where(table.c.entity == entity, table.c.record_id.in_(ids))
        .order_by(table.c.id)
    )
    with db.engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def test_bulk_update_changes_every_record_and_refreshes_the_parents(
    db: Database, repo: Repository
) -> None:
    w = world(repo)
    events: list[RecordEvent] = []
    db.on_event(lambda event, conn: events.append(event))
    changes = [(a, {"amount": "60"}, 1) for a in w["allocations"]]
    stored = repo.bulk_update(ALLOCATION, changes)
    assert [r["amount"] for r in stored] == [D("60.00")] * 3
    assert [r["version"] for r in stored] == [2, 2, 2]
    for inv in w["invoices"]:
        got = repo.get(INVOICE, inv)
        assert (got["paid_amount"], got["open_amount"], got["status"]) == (60, 40, "partial")
    for line in w["lines"]:
        assert repo.get(BANK_LINE, line)["unallocated_amount"] == D("40.00")
    assert repo.get(CUSTOMER, w["customer"])["balance"] == D("120.00")
    assert audit_actions(db, ALLOCATION, w["allocations"]) == ["create"] * 3 + ["update"] * 3
    updated = [e for e in events if e.entity == ALLOCATION]
    assert [e.kind for e in updated] == ["updated"] * 3
    assert all(e.changed >= {"amount", "version"} for e in updated)
    # parents changed too: one event each, no audit row of their own
    assert {e.record_id for e in events if e.entity == INVOICE} == set(w["invoices"])


def test_bulk_update_is_all_or_nothing(db: Database, repo: Repository) -> None:
    w = world(repo)
    a, b, c = w["allocations"]
    with pytest.raises(BulkValidationError) as refused:
        # the second takes more than its invoice's amount; the third is not money
        repo.bulk_update(
            ALLOCATION, [(a, {"amount": "50"}), (b, {"amount": "100.00"}), (c, {"amount": "x"})]
        )
    assert set(refused.value.rows) == {2}
    with pytest.raises(BulkValidationError) as too_much:
        repo.bulk_update(ALLOCATION, [(a, {"amount": "50"}), (b, {"amount": "150"})])
    assert set(too_much.value.rows) == {1}
    assert [repo.get(ALLOCATION, i)["amount"] for i in (a, b, c)] == [D("40.00")] * 3
    assert repo.get(INVOICE, w["invoices"][0])["paid_amount"] == D("40.00")
    assert audit_actions(db, ALLOCATION, [a, b, c]) == ["create"] * 3


def test_bulk_update_refuses_a_stale_version_or_a_missing_record(repo: Repository) -> None:
    w = world(repo)
    a, b, _ = w["allocations"]
    repo.update(ALLOCATION, b, {"note": "seen"})
    with pytest.raises(StaleVersion):
        repo.bulk_update(ALLOCATION, [(a, {"amount": "50"}, 1), (b, {"amount": "50"}, 1)])
    with pytest.raises(NotFound):
        repo.bulk_update(ALLOCATION, [(a, {"amount": "50"}), (10**9, {"amount": "50"})])
    assert repo.get(ALLOCATION, a)["amount"] == D("40.00")


def test_bulk_delete_removes_every_record_and_reopens_the_invoices(
    db: Database, repo: Repository
) -> None:
    w = world(repo)
    with pytest.raises(NotFound):
        repo.bulk_delete(ALLOCATION, [w["allocations"][0], 10**9])
    assert repo.get(ALLOCATION, w["allocations"][0]) is not None
    with pytest.raises(StaleVersion):
        repo.bulk_delete(ALLOCATION, w["allocations"][:2], versions=[1, 2])
    repo.bulk_delete(ALLOCATION, w["allocations"], versions=[1, None, 1])
    assert all(repo.get(ALLOCATION, a) is None for a in w["allocations"])
    for inv in w["invoices"]:
        got = repo.get(INVOICE, inv)
        assert (got["paid_amount"], got["open_amount"], got["status"]) == (0, 100, "open")
    assert repo.get(CUSTOMER, w["customer"])["balance"] == D("300.00")
    assert audit_actions(db, ALLOCATION, w["allocations"]) == ["create"] * 3 + ["delete"] * 3


def test_a_scoped_principal_cannot_bulk_change_records_it_cannot_see(db: Database) -> None:
    repo = db.repository(Principal.system("setup"))
    w = world(repo)
    (other,) = repo.bulk_create(CUSTOMER, [{"name": "Other"}])
    portal = db.repository(Principal("portal", "admin", {"receivables.customer": other}))
    with pytest.raises(NotFound):
        portal.bulk_delete(INVOICE, w["invoices"])
    with pytest.raises(NotFound):
        portal.bulk_update(INVOICE, [(i, {"description": "x"}) for i in w["invoices"]])
    assert all(repo.get(INVOICE, i) is not None for i in w["invoices"])


def test_deferred_refresh_refreshes_the_parents_once_at_the_end(
    db: Database, repo: Repository
) -> None:
    w = world(repo)
    invoice_events: list[int] = []
    db.on_event(lambda e, conn: invoice_events.append(e.record_id) if e.entity == INVOICE else 0)
    with repo.deferred_refresh():
        for a in w["allocations"]:
            repo.update(ALLOCATION, a, {"amount": "50"})
            repo.update(ALLOCATION, a, {"amount": "70"})
        # not refreshed yet: the sums are worked out once, when the block ends
        assert repo.get(INVOICE, w["invoices"][0])["paid_amount"] == D("40.00")
    assert sorted(invoice_events) == sorted(w["invoices"])  # each invoice once
    assert repo.get(INVOICE, w["invoices"][0])["paid_amount"] == D("70.00")
    assert repo.get(CUSTOMER, w["customer"])["balance"] == D("90.00")


def test_deferred_refresh_still_checks_the_parents(repo: Repository) -> None:
    w = world(repo)
    with pytest.raises(Exception) as refused, repo.deferred_refresh():
        repo.bulk_update(ALLOCATION, [(a, {"amount": "100"}) for a in w["allocations"]])
        repo.bulk_create(
            ALLOCATION,
            [{"bank_line": w["lines"][0], "invoice": w["invoices"][0], "amount": "1"}],
        )
    assert set(getattr(refused.value, "errors", {})) & {"invoice", "bank_line"}, refused.value
    assert repo.get(ALLOCATION, w["allocations"][0])["amount"] == D("40.00")
