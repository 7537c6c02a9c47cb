"""Concurrent writers on both databases: they wait for each other, the losers get 409.

Each writer is a thread with its own connection from the pool. A barrier lets them all
go at once, so the writes really overlap instead of queueing up one after the other.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.errors import Conflict, ValidationError
from engine.permissions import Principal
from engine.storage import Database

WRITERS = 10
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}
CUSTOMERS = "/api/receivables/customer"


def all_at_once(work: Callable[[int], Any], n: int = WRITERS) -> list[Any]:
    """Run work(0..n-1) in n threads started together; each result, or the exception raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_ten_concurrent_patches_of_one_record_one_wins_nine_get_409(app) -> None:
    """The probe: ten PATCHes with the same version; on SQLite one answered
    `500 database is locked`. Now one is saved and the nine others are told it is stale."""
    setup = app.test_client()
    record = setup.post(CUSTOMERS, json={"name": "Contended"}, headers=AUTH).get_json()
    url = f"{CUSTOMERS}/{record['id']}"
    setup.get(url, headers=AUTH)  # the password check is cached before the race

    def patch(i: int):
        response = app.test_client().patch(
            url, json={"version": record["version"], "vat_number": f"VAT-{i}"}, headers=AUTH
        )
        return response.status_code, response.get_json()

    results = all_at_once(patch)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (WRITERS - 1), results
    for status, body in results:
        if status == 409:
            assert "changed by someone else" in body["error"]
    final = setup.get(url, headers=AUTH).get_json()
    winner = next(body for status, body in results if status == 200)
    assert (final["version"], final["vat_number"]) == (2, winner["vat_number"])


def test_ten_concurrent_writers_without_versions_all_succeed_in_turn(db: Database) -> None:
    """Writers that do not name a version wait for each other; none fails, none is lost."""
    record = db.repository(Principal.system("setup")).create(
        "receivables.customer", {"name": "Busy"}
    )

    def update(i: int):
        return db.repository(Principal.system(f"writer{i}")).update(
            "receivables.customer", record["id"], {"vat_number": f"VAT-{i}"}
        )

    results = all_at_once(update)
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["version"] for r in results) == list(range(2, WRITERS + 2))
    history = db.repository(Principal.system("x")).history(
        "receivables.customer", record["id"], limit=100
    )
    assert len(history) == WRITERS + 1


def test_concurrent_allocations_to_one_invoice_add_up(db: Database) -> None:
    """Ten matching runs allocate to the same invoice at once: its paid amount is the sum of
    all ten (no refresh computed from a stale total), and over-allocation is still refused."""
    repo = db.repository(Principal.system("setup"))
    customer = repo.create("receivables.customer", {"name": "Payer"})
    invoice = repo.create(
        "receivables.invoice",
        {"number": "INV-C", "customer": customer["id"], "issue_date": "2026-03-01", "amount": 95},
    )
    lines = repo.bulk_create(
        "receivables.bank_line",
        [
            {"date": "2026-03-10", "amount": 10, "currency": "EUR", "account": "DE1"}
            for _ in range(WRITERS)
        ],
    )

    def allocate(i: int):
        return db.repository(Principal.system(f"run{i}")).create(
            "receivables.allocation",
            {"bank_line": lines[i], "invoice": invoice["id"], "amount": 10},
        )

    results = all_at_once(allocate)
    saved = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert (len(saved), len(refused)) == (9, 1), results
    assert "cannot take more than the invoice's amount" in str(refused[0])
    stored = db.repository(Principal.system("x")).get("receivables.invoice", invoice["id"])
    assert stored["paid_amount"] == Decimal("90.00")
    assert stored["open_amount"] == Decimal("5.00")


def test_a_unique_value_taken_by_a_concurrent_write_is_a_conflict_or_a_refusal(
    db: Database,
) -> None:
    """Ten writers create a customer of the same name at once: one is saved; each other is
    told the name is taken, either by the Repository's own check (it ran after the winner
    committed) or as a Conflict when the winner committed between check and insert."""

    def create(i: int):
        return db.repository(Principal.system(f"w{i}")).create(
            "receivables.customer", {"name": "Same name"}
        )

    results = all_at_once(create)
    saved = [r for r in results if isinstance(r, dict)]
    others = [r for r in results if not isinstance(r, dict)]
    assert len(saved) == 1, results
    for exc in others:
        assert isinstance(exc, ValidationError | Conflict), repr(exc)
        assert "name" in exc.errors, exc.errors
    assert db.repository(Principal.system("x")).count("receivables.customer") == 1


def test_a_unique_race_between_check_and_insert_is_a_conflict_naming_the_field(
    db: Database,
) -> None:
    """On PostgreSQL the loser's check cannot see the winner's uncommitted row: its insert
    waits on the unique index and fails when the winner commits. That is a Conflict naming
    the field, answered 409, never a raw IntegrityError (500). On SQLite the loser waits at
    BEGIN IMMEDIATE instead, and its own check then sees the name taken."""
    winner_inserted, loser_started = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def winner() -> None:
        repo = db.repository(Principal.system("winner"))
        with repo.transaction():
            repo.create("receivables.customer", {"name": "Raced"})
            winner_inserted.set()
            loser_started.wait(10)
            threading.Event().wait(0.5)  # the loser is now blocked on the unique index

    def loser() -> None:
        winner_inserted.wait(10)
        loser_started.set()
        try:
            db.repository(Principal.system("loser")).create(
                "receivables.customer", {"name": "Raced"}
            )
        except Exception as exc:
            outcome["error"] = exc

    threads = [threading.Thread(target=winner), threading.Thread(target=loser)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    error = outcome.get("error")
    if db.dialect == "sqlite":
        assert type(error) is ValidationError, repr(error)
        assert "is already used by customer" in error.errors["name"]
    else:
        assert isinstance(error, Conflict), repr(error)
        assert list(error.errors) == ["name"]
        assert "taken by another record saved at the same time" in str(error)


def test_a_lock_held_past_the_timeout_is_a_409_with_a_message_not_a_500(app, login) -> None:
    """Another writer keeps the record locked longer than the lock timeout (SQLite: the
    database's write lock; PostgreSQL: the row lock). The API answers 409 JSON and the
    edit form shows the message, where "database is locked" used to be a 500."""
    db = app.extensions["formwork"].db
    client = login("admin")
    record = client.post(CUSTOMERS, json={"name": "Locked"}, headers=AUTH).get_json()
    db.lock_timeout = 0.2
    db.engine.dispose()  # SQLite's connections take the busy timeout when they open
    table = db.table("receivables.customer")
    edit = f"/receivables/customer/{record['id']}/edit"
    with db.writing() as conn:
        conn.execute(table.update().where(table.c.id == record["id"]).values(version=1))
        api = client.patch(
            f"{CUSTOMERS}/{record['id']}", json={"version": 1, "name": "X"}, headers=AUTH
        )
        page = client.post(edit, data={"version": "1", "name": "Y", "currency": "EUR"})
    assert api.status_code == 409, api.get_data(as_text=True)
    assert api.mimetype == "application/json"
    assert "another change was saved at the same time" in api.get_json()["error"]
    assert page.status_code == 409, page.get_data(as_text=True)
    assert "Another change was saved at the same time" in page.get_data(as_text=True)
    assert client.get(f"{CUSTOMERS}/{record['id']}", headers=AUTH).get_json()["name"] == "Locked"
