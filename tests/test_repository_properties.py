"""Property tests of the Repository on both databases: what goes in comes back exactly, and
computed amounts always equal what the allocations say.

The database is built once per backend (on PostgreSQL, in a schema of its own) and reused
across examples; every example uses names of its own, so no cleaning is needed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import clock, money
from engine.appdef import AppSet
from engine.errors import ValidationError
from engine.fieldtypes import EMAIL_RE
from engine.permissions import Principal
from engine.storage import Database, Filter, Repository

PG_URL = os.environ.get("FORMWORK_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
CUSTOMER, INVOICE, CONTACT = (
    "receivables.customer",
    "receivables.invoice",
    "collections.contact_log",
)
BANK_LINE, ALLOCATION = "receivables.bank_line", "receivables.allocation"
CURRENCIES = ["EUR", "USD", "JPY", "KWD", "CHF", "GBP"]
SEQUENCE = itertools.count(1)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_db(
    request: pytest.FixtureRequest,
    appset: AppSet,
    tmp_path_factory: pytest.TempPathFactory,
    private_database,
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("props")
    with private_database(
        request.param, appset, folder, "fw_test_repository_properties"
    ) as database:
        yield database


@pytest.fixture(scope="module")
def repo(shared_db: Database) -> Repository:
    return shared_db.repository(Principal.system("property"))


# -- strategies --------------------------------------------------------------------------------


def texts(max_size: int, min_size: int = 0, multiline: bool = False) -> st.SearchStrategy[str]:
    """Any Unicode a person could type (no NUL, no lone surrogates), already trimmed."""
    banned = "\x00" if multiline else "\x00\n\r"
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters=banned)
    return st.text(alphabet, min_size=min_size, max_size=max_size).map(str.strip)


def amounts(currency: str, low: Decimal = Decimal(0)) -> st.SearchStrategy[Decimal]:
    """Money with exactly the currency's places, up to 10^11."""
    return st.decimals(
        min_value=low,
        max_value=Decimal(10**11),
        places=money.places(currency),
        allow_nan=False,
        allow_infinity=False,
    )


def unique(prefix: str, text: str, limit: int) -> str:
    return f"{prefix}{next(SEQUENCE)} {text}"[:limit].strip()


emails = st.emails().filter(lambda e: len(e) <= 255 and EMAIL_RE.match(e) is not None)
phones = st.from_regex(r"\+?[0-9][0-9 ()./-]{2,27}[0-9]", fullmatch=True)
dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9998, 12, 31))
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
moments = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2999, 12, 31), timezones=zones
)


@st.composite
def customers(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(CURRENCIES))
    return {
        "name": unique("C", draw(texts(200)), 200),
        "email": draw(st.none() | emails),
        "phone": draw(st.none() | phones),
        "currency": currency,
        "payment_terms_days": draw(st.integers(0, 365)),
        "credit_limit": draw(st.none() | amounts(currency)),
        "credit_status": draw(st.sampled_from(["ok", "watch", "hold", "prepay"])),
        "vat_number": draw(st.none() | texts(30, min_size=1)) or None,
        "address": draw(st.none() | texts(500, multiline=True)) or None,
    }


@st.composite
def invoices(draw: st.DrawFn, currency: str) -> dict[str, Any]:
    issue = draw(dates)
    due = draw(st.none() | st.dates(min_value=issue, max_value=dt.date(9999, 12, 31)))
    values = {
        "number": unique("INV-", draw(texts(20)), 40),
        "issue_date": issue,
        "amount": draw(amounts(currency)),
        "description": draw(st.none() | texts(300, multiline=True)) or None,
        "disputed": draw(st.booleans()),
    }
    if due is not None:
        values["due_date"] = due
    return values


def status_of(stored: dict[str, Any], paid: Decimal) -> str:
    """The invoice status the receivables app states (no write-offs here)."""
    if stored["open_amount"] <= 0:
        return "paid"
    if stored["disputed"]:
        return "disputed"
    if stored["due_date"] < clock.today():
        return "overdue"
    return "partial" if paid else "open"


# -- what goes in comes back exactly -------------------------------------------------------------


def assert_same(stored: dict[str, Any], given: dict[str, Any]) -> None:
    for name, value in given.items():
        got = stored[name]
        assert got == value, name
        assert type(got) is type(value), name
        if isinstance(value, Decimal):
            assert str(got) == str(value), f"{name}: same places"


def read_back(repo: Repository, entity: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record by get(), and by query() on its id and on a field's value."""
    by_get = repo.get(entity, record["id"])
    assert by_get is not None
    by_id = repo.query(entity, [Filter("id", "eq", record["id"])]).rows
    assert len(by_id) == 1
    return [by_get, by_id[0]]


@PROPERTY
@given(data=st.data())
def test_customers_and_invoices_come_back_exactly(repo: Repository, data: st.DataObject) -> None:
    values = data.draw(customers(), label="customer")
    created = repo.create(CUSTOMER, values)
    assert_same(created, values)
    for stored in read_back(repo, CUSTOMER, created):
        assert_same(stored, values)
    by_name = repo.query(CUSTOMER, [Filter("name", "eq", values["name"])]).rows
    assert [r["id"] for r in by_name] == [created["id"]]

    total = Decimal(0)
    for _ in range(data.draw(st.integers(1, 3), label="invoices")):
        inv = data.draw(invoices(values["currency"]), label="invoice")
        created_inv = repo.create(INVOICE, {**inv, "customer": created["id"]})
        expected = {
            **inv,
            "customer": created["id"],
            "currency": values["currency"],
            "due_date": inv.get("due_date")
            or inv["issue_date"] + dt.timedelta(days=values["payment_terms_days"]),
            "open_amount": inv["amount"],
        }
        expected["status"] = status_of({**inv, **expected}, Decimal(0))
        assert_same(created_inv, expected)
        for stored in read_back(repo, INVOICE, created_inv):
            assert_same(stored, expected)
        matching = repo.query(
            INVOICE,
            [Filter("number", "eq", inv["number"]), Filter("amount", "eq", str(inv["amount"]))],
        ).rows
        assert [r["id"] for r in matching] == [created_inv["id"]]
        total += inv["amount"]
    balance = repo.get(CUSTOMER, created["id"])["balance"]
    assert balance == total
    assert str(balance) == str(money.round_money(total, values["currency"]))


@PROPERTY
@given(
    contacted_at=moments,
    channel=st.sampled_from(["phone", "email", "letter", "visit", "portal"]),
    outcome=st.sampled_from(["reached", "no_answer", "left_message", "promised", "disputed"]),
    person=st.none() | texts(120, min_size=1),
    notes=st.none() | texts(1000, multiline=True),
)
def test_contact_times_come_back_as_the_same_instant_in_utc(
    repo: Repository,
    contacted_at: dt.datetime,
    channel: str,
    outcome: str,
    person: str | None,
    notes: str | None,
) -> None:
    owner = repo.create(CUSTOMER, {"name": unique("T", "", 200)})
    values = {
        "customer": owner["id"],
        "contacted_at": contacted_at,
        "channel": channel,
        "outcome": outcome,
        "contact_person": person or None,
        "notes": notes or None,
    }
    created = repo.create(CONTACT, values)
    for stored in [created, *read_back(repo, CONTACT, created)]:
        assert stored["contacted_at"] == contacted_at
        assert stored["contacted_at"].utcoffset() == dt.timedelta(0)
        assert {k: stored[k] for k in values if k != "contacted_at"} == {
            k: v for k, v in values.items() if k != "contacted_at"
        }
    mine = Filter("customer", "eq", owner["id"])
    at = contacted_at.isoformat()  # as a query string gives it, with its own offset
    for op, found in [("eq", True), ("gte", True), ("lte", True), ("gt", False), ("lt", False)]:
        rows = repo.query(CONTACT, [mine, Filter("contacted_at", op, at)]).rows
        assert [r["id"] for r in rows] == ([created["id"]] if found else []), op


# -- allocations: computed amounts always match ---------------------------------------------------


def allocations_of(db: Database, field: str, record_id: int) -> list[Decimal]:
    table = db.table(ALLOCATION)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.amount).where(table.c[field] == record_id))
        return [Decimal(a) for (a,) in rows]


cents = st.decimals(min_value=Decimal("-5"), max_value=Decimal("2000"), places=2)
small = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2)
big = st.decimals(min_value=Decimal("100"), max_value=Decimal("5000"), places=2)
# Mostly amounts that may fit; some too big, negative, zero or with a third decimal place.
odd_amounts = st.one_of(
    small, small, small, cents, st.decimals(min_value=Decimal(0), max_value=Decimal(50), places=3)
)
operations = st.lists(
    st.tuples(st.sampled_from(["add", "change", "remove"]), st.integers(0, 5), odd_amounts),
    min_size=1,
    max_size=8,
)


@PROPERTY
@given(
    invoice_amount=st.decimals(min_value=Decimal(0), max_value=Decimal(3000), places=2),
    line_amounts=st.lists(big | cents, min_size=1, max_size=3),
    steps=operations,
)
def test_open_amount_is_always_amount_minus_allocations(
    shared_db: Database,
    repo: Repository,
    invoice_amount: Decimal,
    line_amounts: list[Decimal],
    steps: list[tuple[str, int, Decimal]],
) -> None:
    owner = repo.create(CUSTOMER, {"name": unique("A", "", 200)})
    inv = repo.create(
        INVOICE,
        {
            "number": unique("ALLOC-", "", 40),
            "customer": owner["id"],
            "issue_date": "2024-01-01",
            "amount": invoice_amount,
        },
    )
    lines = [repo.create(BANK_LINE, {"date": "2024-02-01", "amount": a}) for a in line_amounts]
    made: list[list[Any]] = []  # [allocation id, its bank line, its amount]

    def acceptable(amount: Decimal, line: dict[str, Any], replaced: Decimal) -> bool:
        """The rules the apps state: at least 0.01, cents only, at most the line's amount,
        and in all no more than the invoice's amount or the line's amount."""
        if not (Decimal("0.01") <= amount <= line["amount"] and amount == round(amount, 2)):
            return False
        paid = sum((a for _, _, a in made), Decimal(0)) - replaced + amount
        taken = sum((a for _, ln, a in made if ln is line), Decimal(0)) - replaced + amount
        return paid <= invoice_amount and taken <= abs(line["amount"])

    def check() -> None:
        stored = repo.get(INVOICE, inv["id"])
        paid = sum(allocations_of(shared_db, "invoice", inv["id"]), Decimal(0))
        assert paid == sum((a for _, _, a in made), Decimal(0))
        assert stored["paid_amount"] == paid
        assert stored["open_amount"] == invoice_amount - paid
        assert stored["open_amount"] >= 0, "never more than the invoice's amount"
        assert stored["status"] == status_of(stored, paid)
        for line in lines:
            got = repo.get(BANK_LINE, line["id"])
            taken = sum(allocations_of(shared_db, "bank_line", line["id"]), Decimal(0))
            assert got["allocated_amount"] == taken
            assert got["unallocated_amount"] == line["amount"] - taken
            assert taken <= abs(line["amount"]), "never more than the bank line's amount"
        assert repo.get(CUSTOMER, owner["id"])["balance"] == invoice_amount - paid

    for kind, pick, amount in steps:
        before = allocations_of(shared_db, "invoice", inv["id"])
        if kind == "remove" and made:
            repo.delete(ALLOCATION, made.pop(pick % len(made))[0])
            check()
            continue
        changing = kind == "change" and bool(made)
        if changing:
            entry = made[pick % len(made)]
            line, replaced = entry[1], entry[2]
        else:
            line, replaced = lines[pick % len(lines)], Decimal(0)
        expected = acceptable(amount, line, replaced)
        try:
            if changing:
                repo.update(ALLOCATION, entry[0], {"amount": amount})
                entry[2] = amount
            else:
                values = {"bank_line": line["id"], "invoice": inv["id"], "amount": amount}
                made.append([repo.create(ALLOCATION, values)["id"], line, amount])
        except ValidationError as exc:
            assert set(exc.errors) <= {"amount", "invoice", "bank_line"}, exc.errors
            assert not expected, exc.errors
            assert allocations_of(shared_db, "invoice", inv["id"]) == before, "refused: no change"
        else:
            assert expected, f"{amount} should have been refused"
        check()
