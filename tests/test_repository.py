"""The Repository, the one write path: defaults, validation, computed fields, versions,
audit, record events, bulk writes and queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine import clock
from engine.appdef import AppSet
from engine.errors import NotFound, StaleVersion, ValidationError
from engine.permissions import Principal
from engine.storage import BulkValidationError, Database, Filter, RecordEvent, Repository

D = Decimal
CUSTOMER, INVOICE = "receivables.customer", "receivables.invoice"
BANK_LINE, ALLOCATION = "receivables.bank_line", "receivables.allocation"
MOMENT = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
PG_URL = os.environ.get("FORMWORK_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


# The invoices here are issued in January 2024: on this day none is overdue yet.
NOTHING_DUE_YET = dt.datetime(2024, 1, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def nothing_due_yet() -> Iterator[None]:
    with clock.frozen_at(NOTHING_DUE_YET):
        yield


def customer(repo: Repository, name: str = "Acme", **values: Any) -> dict[str, Any]:
    return repo.create(CUSTOMER, {"name": name, **values})


def invoice(repo: Repository, cust: dict[str, Any], number: str = "INV-1", **values: Any):
    values = {"issue_date": "2024-01-10", "amount": "100.00", **values}
    return repo.create(INVOICE, {"number": number, "customer": cust["id"], **values})


def bank_line(repo: Repository, amount: str = "100.00", **values: Any) -> dict[str, Any]:
    return repo.create(BANK_LINE, {"date": "2024-02-01", "amount": amount, **values})


def allocate(repo: Repository, line: dict, inv: dict, amount: str) -> dict[str, Any]:
    return repo.create(
        ALLOCATION, {"bank_line": line["id"], "invoice": inv["id"], "amount": amount}
    )


def errors_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        call(*args, **kwargs)
    return raised.value.errors


def rows_in(db: Database, qualname: str) -> int:
    table = db.table(qualname)
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


# -- create, defaults, required -----------------------------------------------------------------


def test_create_fills_literal_defaults_and_system_columns(repo: Repository) -> None:
    with clock.frozen_at(MOMENT):
        acme = customer(repo)
    assert acme["currency"] == "EUR"
    assert acme["payment_terms_days"] == 30
    assert acme["credit_status"] == "ok"
    assert acme["balance"] == D("0")
    assert acme["email"] is None
    assert (acme["version"], acme["created_by"], acme["updated_by"]) == (1, "tester", "tester")
    assert acme["created_at"] == acme["updated_at"] == MOMENT
    stored = repo.get(CUSTOMER, acme["id"])
    assert stored == acme
    assert stored["created_at"].tzinfo is not None


def test_invoice_defaults_are_worked_out_from_the_customer(repo: Repository) -> None:
    tokyo = customer(repo, "Tokyo KK", currency="JPY", payment_terms_days=14)
    inv = invoice(repo, tokyo, issue_date="2024-01-25", amount="5000")
    assert inv["due_date"] == dt.date(2024, 2, 8), "issue date + the customer's 14 days"
    assert inv["currency"] == "JPY", "the customer's currency"
    given = invoice(repo, tokyo, "INV-2", due_date="2024-03-31", currency="EUR")
    assert (given["due_date"], given["currency"]) == (dt.date(2024, 3, 31), "EUR")


def test_blank_payment_terms_fall_back_to_thirty_days(repo: Repository) -> None:
    acme = customer(repo, payment_terms_days=None)
    assert acme["payment_terms_days"] == 30, "a blank on create takes the default"
    acme = repo.update(CUSTOMER, acme["id"], {"payment_terms_days": None})
    assert acme["payment_terms_days"] is None
    assert invoice(repo, acme, issue_date="2024-01-01")["due_date"] == dt.date(2024, 1, 31)


def test_required_fields_are_all_reported_and_nothing_is_written(
    repo: Repository, db: Database
) -> None:
    errors = errors_of(repo.create, INVOICE, {})
    for name in ("number", "customer", "issue_date", "amount"):
        assert errors[name] == "is required"
    assert errors_of(repo.create, CUSTOMER, {"name": "   "}) == {"name": "is required"}
    assert rows_in(db, INVOICE) == rows_in(db, CUSTOMER) == 0


def test_bad_values_get_a_message_each(repo: Repository) -> None:
    errors = errors_of(
        repo.create,
        CUSTOMER,
        {"name": "Acme", "email": "nope", "payment_terms_days": "ten", "credit_status": "gold"},
    )
    assert errors == {
        "email": "is not an e-mail address",
        "payment_terms_days": "is not a whole number",
        "credit_status": "must be one of: ok, watch, hold, prepay",
    }
    assert errors_of(repo.create, CUSTOMER, {"name": "Acme", "payment_terms_days": 400}) == {
        "payment_terms_days": "must be at most 365"
    }
    assert errors_of(repo.create, CUSTOMER, {"name": "Acme", "colour": "red"}) == {
        "colour": "customer has no field 'colour'"
    }


def test_unique_names_the_other_record(repo: Repository) -> None:
    acme = customer(repo)
    other = customer(repo, "Other")
    assert errors_of(customer, repo, "Acme") == {
        "name": f"Acme is already used by customer #{acme['id']}"
    }
    assert errors_of(repo.update, CUSTOMER, other["id"], {"name": "Acme"}) == {
        "name": f"Acme is already used by customer #{acme['id']}"
    }
    assert repo.update(CUSTOMER, acme["id"], {"name": "Acme", "phone": "+1 555 0100"})["version"]


# -- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "stored"),
    [
        ("JPY", "1000", "1000"),
        ("EUR", "10.5", "10.50"),
        ("EUR", "7", "7.00"),
        ("KWD", "1.234", "1.234"),
    ],
)
def test_money_keeps_the_currencys_places(
    repo: Repository, currency: str, amount: str, stored: str
) -> None:
    line = bank_line(repo, amount, currency=currency)
    assert str(repo.get(BANK_LINE, line["id"])["amount"]) == stored
    assert str(line["amount"]) == stored
    assert isinstance(line["amount"], Decimal)


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("JPY", "1000.5", "has more than 0 decimal places for JPY"),
        ("EUR", "10.123", "has more than 2 decimal places for EUR"),
        ("KWD", "1.2345", "has more than 3 decimal places for KWD"),
        ("EUR", "10.12345", "has more than 4 decimal places"),
    ],
)
def test_money_with_more_places_than_the_currency_is_refused(
    repo: Repository, db: Database, currency: str, amount: str, message: str
) -> None:
    errors = errors_of(bank_line, repo, amount, currency=currency)
    assert errors == {"amount": message}
    assert rows_in(db, BANK_LINE) == 0


def test_large_amounts_are_exact(repo: Repository) -> None:
    line = bank_line(repo, "99999999999.99")
    assert repo.get(BANK_LINE, line["id"])["amount"] == D("99999999999.99")
    assert repo.get(BANK_LINE, line["id"])["unallocated_amount"] == D("99999999999.99")


# -- checks and refs ------------------------------------------------------------------------------


def test_check_due_date_before_issue_date(repo: Repository, db: Database) -> None:
    acme = customer(repo)
    errors = errors_of(invoice, repo, acme, issue_date="2024-01-10", due_date="2024-01-09")
    assert errors == {"due_date": "The due date cannot be before the issue date"}
    inv = invoice(repo, acme, issue_date="2024-01-10", due_date="2024-01-10")
    assert errors_of(repo.update, INVOICE, inv["id"], {"issue_date": "2024-02-01"}) == {
        "due_date": "The due date cannot be before the issue date"
    }
    assert repo.get(INVOICE, inv["id"])["issue_date"] == dt.date(2024, 1, 10)
    assert rows_in(db, INVOICE) == 1


def test_allocation_cannot_exceed_its_bank_line(repo: Repository) -> None:
    inv = invoice(repo, customer(repo), amount="500.00")
    line = bank_line(repo, "100.00")
    assert errors_of(allocate, repo, line, inv, "100.01") == {
        "amount": "An allocation cannot take more than the bank line's amount"
    }
    assert errors_of(allocate, repo, line, inv, "0.00") == {"amount": "must be at least 0.01"}


def test_refs_to_missing_records_are_refused(repo: Repository) -> None:
    errors = errors_of(
        repo.create,
        INVOICE,
        {"number": "X", "customer": 999, "issue_date": "2024-01-01", "amount": 1},
    )
    assert errors["customer"] == "there is no customer #999"
    assert "due_date" not in errors, "no second-hand error about the missing customer's fields"
    acme = customer(repo)
    inv = invoice(repo, acme)
    assert errors_of(repo.update, INVOICE, inv["id"], {"customer": 12345}) == {
        "customer": "there is no customer #12345"
    }
    assert errors_of(repo.update, INVOICE, inv["id"], {"customer": "abc"}) == {
        "customer": "must be a record id"
    }


# -- computed fields ------------------------------------------------------------------------------


@pytest.mark.usefixtures("nothing_due_yet")
def test_computed_fields_follow_allocations(repo: Repository) -> None:
    acme = customer(repo)
    inv = invoice(repo, acme, amount="100.00")
    other = invoice(repo, acme, "INV-2", amount="50.00")
    line = bank_line(repo, "120.00")
    assert (inv["open_amount"], inv["paid_amount"], inv["status"]) == (
        D("100.00"),
        D("0.00"),
        "open",
    )
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("150.00")

    first = allocate(repo, line, inv, "30.00")
    got = repo.get(INVOICE, inv["id"])
    assert (got["paid_amount"], got["open_amount"], got["status"]) == (
        D("30.00"),
        D("70.00"),
        "partial",
    )
    assert repo.get(BANK_LINE, line["id"])["unallocated_amount"] == D("90.00")
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("120.00")

    allocate(repo, line, inv, "70.00")
    got = repo.get(INVOICE, inv["id"])
    assert (got["open_amount"], got["status"]) == (D("0.00"), "paid")
    assert repo.get(BANK_LINE, line["id"])["allocated_amount"] == D("100.00")
    assert repo.get(BANK_LINE, line["id"])["unallocated_amount"] == D("20.00")
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("50.00")

    repo.update(ALLOCATION, first["id"], {"amount": "10.00"})
    assert repo.get(INVOICE, inv["id"])["open_amount"] == D("20.00")
    assert repo.get(BANK_LINE, line["id"])["unallocated_amount"] == D("40.00")
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("70.00")

    repo.update(ALLOCATION, first["id"], {"invoice": other["id"]})
    assert repo.get(INVOICE, inv["id"])["open_amount"] == D("30.00")
    assert repo.get(INVOICE, other["id"])["open_amount"] == D("40.00")

    repo.delete(ALLOCATION, first["id"])
    assert repo.get(INVOICE, other["id"])["open_amount"] == D("50.00")
    assert repo.get(INVOICE, other["id"])["status"] == "open"
    assert repo.get(BANK_LINE, line["id"])["unallocated_amount"] == D("50.00")
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("80.00")
    assert repo.get(INVOICE, inv["id"])["version"] == 1, "a refresh is not an edit"


def test_changing_the_amount_recomputes_and_cascades(repo: Repository) -> None:
    acme = customer(repo)
    inv = invoice(repo, acme, amount="100.00")
    updated = repo.update(INVOICE, inv["id"], {"amount": "80.00", "open_amount": "1.00"})
    assert updated["open_amount"] == D("80.00"), (
        "what a client sends for a computed field is ignored"
    )
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("80.00")
    repo.delete(INVOICE, inv["id"])
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("0.00")


def test_over_allocation_of_a_bank_line_is_refused(repo: Repository) -> None:
    acme = customer(repo)
    first, second = (
        invoice(repo, acme, amount="80.00"),
        invoice(repo, acme, "INV-2", amount="80.00"),
    )
    line = bank_line(repo, "100.00")
    allocate(repo, line, first, "80.00")
    with pytest.raises(ValidationError) as raised:
        allocate(repo, line, second, "80.00")  # the line has only 20.00 left
    assert "more than the bank line's amount" in raised.value.errors["bank_line"]
    assert repo.get(INVOICE, second["id"])["open_amount"] == D("80.00")


def test_over_allocation_of_an_invoice_is_refused_also_on_update(repo: Repository) -> None:
    acme = customer(repo)
    inv = invoice(repo, acme, amount="50.00")
    first, second = bank_line(repo, "40.00"), bank_line(repo, "40.00")
    allocate(repo, first, inv, "30.00")
    with pytest.raises(ValidationError) as raised:
        allocate(repo, second, inv, "30.00")  # the invoice has only 20.00 open
    assert "more than the invoice's amount" in raised.value.errors["invoice"]
    taken = allocate(repo, second, inv, "20.00")
    with pytest.raises(ValidationError):
        repo.update("receivables.allocation", taken["id"], {"amount": "20.01"})
    assert repo.get(INVOICE, inv["id"])["open_amount"] == D("0.00")


# -- versions, not found, restrict ---------------------------------------------------------------


def test_update_with_a_stale_version_is_refused(repo: Repository) -> None:
    acme = customer(repo)
    changed = repo.update(CUSTOMER, acme["id"], {"phone": "+1 555 0100"}, version=1)
    assert changed["version"] == 2
    with pytest.raises(StaleVersion) as raised:
        repo.update(CUSTOMER, acme["id"], {"phone": "+1 555 0199"}, version=1)
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert "changed by someone else" in str(raised.value)
    assert repo.get(CUSTOMER, acme["id"])["phone"] == "+1 555 0100"
    assert repo.update(CUSTOMER, acme["id"], {"phone": "+1 555 0199"})["version"] == 3


def test_delete_with_a_stale_version_is_refused(repo: Repository) -> None:
    acme = customer(repo)
    repo.update(CUSTOMER, acme["id"], {"phone": "+1 555 0100"})
    with pytest.raises(StaleVersion):
        repo.delete(CUSTOMER, acme["id"], version=1)
    assert repo.get(CUSTOMER, acme["id"]) is not None
    repo.delete(CUSTOMER, acme["id"], version=2)
    assert repo.get(CUSTOMER, acme["id"]) is None


def test_missing_records(repo: Repository) -> None:
    assert repo.get(CUSTOMER, 42) is None
    with pytest.raises(NotFound, match="Customer #42 does not exist"):
        repo.require(CUSTOMER, 42)
    with pytest.raises(NotFound):
        repo.update(CUSTOMER, 42, {"name": "x"})
    with pytest.raises(NotFound):
        repo.delete(CUSTOMER, 42)


def test_delete_is_restricted_while_records_refer_to_it(repo: Repository) -> None:
    acme = customer(repo)
    inv = invoice(repo, acme)
    invoice(repo, acme, "INV-2")
    assert errors_of(repo.delete, CUSTOMER, acme["id"]) == {
        "": "cannot delete: 2 invoices refer to it; delete or move them first"
    }
    line = bank_line(repo)
    allocate(repo, line, inv, "10.00")
    assert errors_of(repo.delete, INVOICE, inv["id"]) == {
        "": "cannot delete: 1 allocation refers to it; delete or move them first"
    }
    assert repo.get(INVOICE, inv["id"]) is not None


# -- audit trail and record events ---------------------------------------------------------------


def test_audit_trail_of_create_update_delete(db: Database) -> None:
    clerk, boss = db.repository(Principal.system("clerk")), db.repository(Principal.system("boss"))
    with clock.frozen_at(MOMENT):
        acme = customer(clerk)
    with clock.frozen_at(MOMENT + dt.timedelta(hours=1)):
        boss.update(CUSTOMER, acme["id"], {"payment_terms_days": 45})
    with clock.frozen_at(MOMENT + dt.timedelta(hours=2)):
        boss.delete(CUSTOMER, acme["id"])
    deleted, updated, created = clerk.history(CUSTOMER, acme["id"])
    assert [r["action"] for r in (created, updated, deleted)] == ["create", "update", "delete"]
    assert [r["user"] for r in (created, updated, deleted)] == ["clerk", "boss", "boss"]
    assert created["at"] == MOMENT and deleted["at"] == MOMENT + dt.timedelta(hours=2)
    assert created["before"] is None
    assert created["after"]["name"] == "Acme" and created["after"]["balance"] == "0.00"
    assert (updated["before"]["payment_terms_days"], updated["after"]["payment_terms_days"]) == (
        30,
        45,
    )
    assert updated["after"]["version"] == 2
    assert deleted["before"]["payment_terms_days"] == 45 and deleted["after"] is None
    assert all(r["entity"] == CUSTOMER and r["record_id"] == acme["id"] for r in (created, deleted))


def test_refused_writes_leave_no_audit(repo: Repository) -> None:
    acme = customer(repo)
    with pytest.raises(ValidationError):
        repo.update(CUSTOMER, acme["id"], {"email": "nope"})
    assert [r["action"] for r in repo.history(CUSTOMER, acme["id"])] == ["create"]


def test_record_events_inside_the_transaction(db: Database, repo: Repository) -> None:
    seen: list[tuple[RecordEvent, int]] = []
    table = db.table(CUSTOMER)

    def listener(event: RecordEvent, conn: sa.Connection) -> None:
        # The listener shares the writing transaction: it already sees the write.
        visible = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        seen.append((event, visible))

    db.on_event(listener)
    acme = customer(repo)
    repo.update(CUSTOMER, acme["id"], {"phone": "+1 555 0100"})
    repo.delete(CUSTOMER, acme["id"])
    kinds = [(e.kind, e.entity, e.record_id, e.user, n) for e, n in seen]
    assert kinds == [
        ("created", CUSTOMER, acme["id"], "tester", 1),
        ("updated", CUSTOMER, acme["id"], "tester", 1),
        ("deleted", CUSTOMER, acme["id"], "tester", 0),
    ]
    created, updated, deleted = (e for e, _ in seen)
    assert created.before is None and created.after["name"] == "Acme"
    assert updated.changed == {"phone", "version", "updated_at"}
    assert updated.before["phone"] is None and updated.after["phone"] == "+1 555 0100"
    assert deleted.after is None and deleted.before["phone"] == "+1 555 0100"


@pytest.mark.usefixtures("nothing_due_yet")
def test_refreshed_parents_are_announced(db: Database, repo: Repository) -> None:
    acme = customer(repo)
    inv = invoice(repo, acme)
    events: list[RecordEvent] = []
    db.on_event(lambda event, conn: events.append(event))
    allocate(repo, bank_line(repo), inv, "40.00")
    updated = {(e.entity, e.record_id): e for e in events if e.kind == "updated"}
    assert updated[(INVOICE, inv["id"])].changed == {"paid_amount", "open_amount", "status"}
    assert updated[(CUSTOMER, acme["id"])].after["balance"] == D("60.00")


@pytest.mark.parametrize("kind", ["created", "updated", "deleted"])
def test_a_failing_listener_rolls_the_write_back(db: Database, repo: Repository, kind: str) -> None:
    acme = customer(repo)

    def listener(event: RecordEvent, conn: sa.Connection) -> None:
        if event.kind == kind:
            raise RuntimeError("listener failed")

    db.on_event(listener)
    with pytest.raises(RuntimeError, match="listener failed"):
        if kind == "created":
            customer(repo, "Beta")
        elif kind == "updated":
            repo.update(CUSTOMER, acme["id"], {"name": "Renamed"})
        else:
            repo.delete(CUSTOMER, acme["id"])
    assert repo.get(CUSTOMER, acme["id"]) == acme
    assert rows_in(db, CUSTOMER) == 1
    assert len(repo.history(CUSTOMER, acme["id"])) == 1


def test_transaction_groups_writes(db: Database, repo: Repository) -> None:
    with pytest.raises(RuntimeError), repo.transaction():
        acme = customer(repo)
        invoice(repo, acme)
        raise RuntimeError("something else failed")
    assert rows_in(db, CUSTOMER) == rows_in(db, INVOICE) == 0
    with repo.transaction():
        acme = customer(repo)
        invoice(repo, acme)
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("100.00")


# -- bulk ---------------------------------------------------------------------------------------


def test_bulk_create_is_all_or_nothing(db: Database, repo: Repository) -> None:
    acme = customer(repo)
    good = {"customer": acme["id"], "issue_date": "2024-01-01", "amount": "10.00"}
    with pytest.raises(BulkValidationError) as raised:
        repo.bulk_create(
            INVOICE,
            [
                {"number": "B-1", **good},
                {"number": "B-1", **good, "amount": "ten"},
                {"number": "B-3", **good},
                {"number": "B-4", **good, "customer": 777},
                {"number": "B-5", **good, "due_date": "2023-01-01"},
            ],
        )
    assert raised.value.rows == {
        1: {"amount": "is not a number", "number": "B-1 is used twice (also in row 1)"},
        3: {"customer": "there is no customer #777", "currency": "is required"},
        4: {"due_date": "The due date cannot be before the issue date"},
    }
    assert "row 2" in str(raised.value) and "row 4" in str(raised.value)
    assert rows_in(db, INVOICE) == 0
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("0.00")


def test_bulk_create_writes_every_record(db: Database, repo: Repository) -> None:
    acme = customer(repo)
    records = [
        {
            "number": f"B-{i:04}",
            "customer": acme["id"],
            "issue_date": "2024-01-01",
            "amount": "1.25",
        }
        for i in range(250)
    ]
    ids = repo.bulk_create(INVOICE, records)
    assert len(ids) == 250 and ids == sorted(ids)
    assert repo.get(INVOICE, ids[17])["number"] == "B-0017"
    assert repo.get(CUSTOMER, acme["id"])["balance"] == D("312.50")
    assert len(repo.history(INVOICE, ids[-1])) == 1
    with pytest.raises(BulkValidationError) as raised:
        repo.bulk_create(INVOICE, [{**records[0], "number": "NEW"}, records[5]])
    assert raised.value.rows == {1: {"number": f"B-0005 is already used by invoice #{ids[5]}"}}


# -- queries (read-only: one database per backend for all of them) -------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def query_db(
    request: pytest.FixtureRequest,
    appset: AppSet,
    tmp_path_factory: pytest.TempPathFactory,
    private_database,
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("query")
    with private_database(request.param, appset, folder, "fw_test_repository_query") as database:
        yield database


@pytest.fixture(scope="module")
def qrepo(query_db: Database) -> Repository:
    return query_db.repository(Principal.system("tester"))


@pytest.fixture(scope="module")
def invoices(qrepo: Repository) -> list[dict[str, Any]]:
    """Ten invoices of two customers, issued on consecutive days, none due yet."""
    repo = qrepo
    acme, beta = customer(repo, "Acme"), customer(repo, "Beta Ltd", currency="JPY")
    with clock.frozen_at(NOTHING_DUE_YET):
        return _ten_invoices(repo, acme, beta)


def _ten_invoices(repo: Repository, acme: dict, beta: dict) -> list[dict[str, Any]]:
    made = []
    for i in range(10):
        owner = acme if i % 2 == 0 else beta
        made.append(
            invoice(
                repo,
                owner,
                f"INV-{i:03}",
                issue_date=dt.date(2024, 1, 1) + dt.timedelta(days=i),
                amount=str(100 * (i + 1)),
                description="rush order" if i in (3, 7) else None,
                disputed=i == 5,
            )
        )
    return made


def numbers(page: Any) -> list[str]:
    return [r["number"] for r in page.rows]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("amount", "eq", "300"), ["INV-002"]),
        (Filter("amount", "gt", "800"), ["INV-008", "INV-009"]),
        (Filter("amount", "gte", D("900")), ["INV-008", "INV-009"]),
        (Filter("amount", "lt", "200"), ["INV-000"]),
        (Filter("amount", "lte", "200"), ["INV-000", "INV-001"]),
        (Filter("issue_date", "ne", "2024-01-01"), [f"INV-{i:03}" for i in range(1, 10)]),
        (Filter("number", "contains", "inv-00"), [f"INV-{i:03}" for i in range(10)]),
        (Filter("number", "startswith", "INV-00"), [f"INV-{i:03}" for i in range(10)]),
        (Filter("number", "in", "INV-003,INV-005"), ["INV-003", "INV-005"]),
        (Filter("number", "in", ["INV-004"]), ["INV-004"]),
        (
            Filter("description", "isnull", "true"),
            [f"INV-{i:03}" for i in (0, 1, 2, 4, 5, 6, 8, 9)],
        ),
        (Filter("description", "isnull", "false"), ["INV-003", "INV-007"]),
        (Filter("disputed", "eq", "yes"), ["INV-005"]),
        (Filter("currency", "eq", "JPY"), ["INV-001", "INV-003", "INV-005", "INV-007", "INV-009"]),
        (Filter("status", "eq", "open"), [f"INV-{i:03}" for i in range(10) if i != 5]),
        (Filter("status", "eq", "disputed"), ["INV-005"]),
        (Filter.parse("amount__gte", "1000"), ["INV-009"]),
        (Filter.parse("number", "INV-000"), ["INV-000"]),
    ],
)
def test_query_filters(qrepo: Repository, invoices: list, flt: Filter, expected: list[str]) -> None:
    assert numbers(qrepo.query(INVOICE, [flt], sort="number")) == expected
    assert qrepo.count(INVOICE, [flt]) == len(expected)


def test_query_combines_filters_and_search(qrepo: Repository, invoices: list) -> None:
    beta_id = invoices[1]["customer"]
    page = qrepo.query(
        INVOICE, [Filter("customer", "eq", beta_id), Filter("amount", "gt", "300")], sort="number"
    )
    assert numbers(page) == ["INV-003", "INV-005", "INV-007", "INV-009"]
    assert numbers(qrepo.query(INVOICE, search="RUSH", sort="number")) == ["INV-003", "INV-007"]
    assert numbers(qrepo.query(INVOICE, search="inv-009")) == ["INV-009"]
    assert [r["name"] for r in qrepo.query(CUSTOMER, search="beta").rows] == ["Beta Ltd"]
    assert numbers(qrepo.query(INVOICE, search="100%_")) == []


def test_query_sorts_and_pages(qrepo: Repository, invoices: list) -> None:
    default = qrepo.query(INVOICE, limit=3)
    assert numbers(default) == ["INV-009", "INV-008", "INV-007"], "the list's sort: -issue_date"
    assert default.has_more and (default.offset, default.limit) == (0, 3)
    assert numbers(qrepo.query(INVOICE, sort="amount", limit=2)) == ["INV-000", "INV-001"]
    by_currency = qrepo.query(INVOICE, sort=[("currency", False), ("amount", True)], limit=10)
    assert numbers(by_currency)[:2] == ["INV-008", "INV-006"], "EUR first, biggest first"
    pages = [qrepo.query(INVOICE, sort="-amount", limit=4, offset=o) for o in (0, 4, 8)]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [n for p in pages for n in numbers(p)] == [f"INV-{i:03}" for i in range(9, -1, -1)]
    assert qrepo.query(INVOICE, limit=10).has_more is False
    assert qrepo.query(INVOICE, offset=50).rows == []


def test_query_rows_are_typed(qrepo: Repository, invoices: list) -> None:
    row = qrepo.query(INVOICE, [Filter("number", "eq", "INV-001")]).rows[0]
    assert row["amount"] == D("200") and isinstance(row["amount"], Decimal)
    assert str(row["amount"]) == "200", "JPY: no decimal places"
    assert (
        str(qrepo.query(INVOICE, [Filter("number", "eq", "INV-000")]).rows[0]["amount"]) == "100.00"
    )
    assert row["issue_date"] == dt.date(2024, 1, 2)
    assert row["created_at"].tzinfo is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": [Filter("nope", "eq", "x")]}, {"nope": "invoice has no field 'nope'"}),
        ({"filters": [Filter("amount", "eq", "x")]}, {"amount": "'x' is not a number"}),
        (
            {"filters": [Filter("issue_date", "gt", "soon")]},
            {"issue_date": "'soon' is not a date (use YYYY-MM-DD)"},
        ),
        (
            {"filters": [Filter("amount", "like", "1")]},
            {
                "amount": "unknown operator 'like' "
                "(eq, ne, lt, lte, gt, gte, contains, startswith, in, isnull)"
            },
        ),
        ({"sort": "colour"}, {"sort": "invoice has no field 'colour' to sort by"}),
    ],
)  # fmt: skip
def test_bad_queries_are_refused(
    qrepo: Repository, invoices: list, kwargs: dict, message: dict
) -> None:
    assert errors_of(qrepo.query, INVOICE, **kwargs) == message


def test_count_with_a_cap(qrepo: Repository, invoices: list) -> None:
    assert qrepo.count(INVOICE) == 10
    assert qrepo.count(INVOICE, cap=3) == 4, "stops counting past the cap"
    assert qrepo.count(INVOICE, cap=50) == 10
    assert qrepo.count(INVOICE, [Filter("amount", "gt", "500")], search="rush") == 1


def test_labels_and_ids(qrepo: Repository, invoices: list) -> None:
    first, second = invoices[0], invoices[1]
    labels = qrepo.labels(INVOICE, [first["id"], second["id"], None, 9999])
    assert labels == {first["id"]: "INV-000", second["id"]: "INV-001"}
    assert qrepo.labels(INVOICE, []) == {}
    assert qrepo.display(INVOICE, first) == "INV-000"
    assert qrepo.ids_by(INVOICE, "number", ["INV-002", "nope"]) == {"INV-002": invoices[2]["id"]}


def test_labels_follow_refs(repo: Repository) -> None:
    inv = invoice(repo, customer(repo))
    line = bank_line(repo, "250.00", counterparty="Acme")
    alloc = allocate(repo, line, inv, "50.00")
    assert repo.labels(BANK_LINE, [line["id"]]) == {line["id"]: "2024-02-01 250.00 Acme"}
    assert repo.display(ALLOCATION, alloc) == "50.00 from 2024-02-01 250.00 Acme to INV-1"
    assert repo.labels(ALLOCATION, [alloc["id"]]) == {alloc["id"]: repo.display(ALLOCATION, alloc)}
