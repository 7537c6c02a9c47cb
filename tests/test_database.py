"""Transactions on the embedded database behave as on PostgreSQL."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from engine.errors import Conflict
from engine.permissions import Principal
from engine.storage import Database


def test_schema_changes_roll_back_with_their_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
        raise RuntimeError("abort the migration halfway")
    assert "scratch" not in sa.inspect(db.engine).get_table_names()


def test_sqlite_write_transactions_hold_the_write_lock_from_begin(appset, tmp_path) -> None:
    """Repository.transaction() begins with BEGIN IMMEDIATE: its validation reads and its
    writes see one state that no other writer can change halfway. Another writer waits for
    the lock (busy timeout) and, when it is not released in time, gets a Conflict (409),
    not a raw "database is locked"."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    db = Database(appset, url)
    db.migrate()
    impatient = Database(appset, url, lock_timeout=0.2)
    count = sa.text("SELECT count(*) FROM receivables_customer")
    try:
        repo = db.repository(Principal.system("tester"))
        with repo.transaction() as conn:
            before = conn.execute(count).scalar()
            with pytest.raises(Conflict, match="another change was saved at the same time"):
                impatient.repository(Principal.system("other")).create(
                    "receivables.customer", {"name": "Out"}
                )
            repo.create("receivables.customer", {"name": "In"})
            during = conn.execute(count).scalar()
        impatient.repository(Principal.system("other")).create(
            "receivables.customer", {"name": "Later"}
        )
        after = db.repository(Principal.system("x")).count("receivables.customer")
        assert (before, during, after) == (0, 1, 2)
    finally:
        impatient.dispose()
        db.dispose()


# -- ids are never reused ------------------------------------------------------------------


def test_ids_of_deleted_records_are_never_reused(repo) -> None:
    """The probe: on SQLite a new customer took the id of the one just deleted."""
    first = repo.create("receivables.customer", {"name": "Deleted"})
    repo.delete("receivables.customer", first["id"])
    second = repo.create("receivables.customer", {"name": "New"})
    assert second["id"] > first["id"]
    assert [h["action"] for h in repo.history("receivables.customer", second["id"])] == ["create"]


def test_a_stale_patch_for_a_deleted_record_never_lands_on_a_new_one(app, client) -> None:
    """The probe's exact scenario over HTTP: create, delete, create again, then PATCH the
    first record with the version read before the delete. The new record must neither
    inherit the deleted one's history nor take the stale write."""
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}
    url = "/api/receivables/customer"
    old = client.post(url, json={"name": "Probe A"}, headers=auth).get_json()
    assert client.delete(f"{url}/{old['id']}?version=1", headers=auth).status_code == 204
    new = client.post(url, json={"name": "Probe B"}, headers=auth).get_json()
    assert new["id"] != old["id"]

    stale = client.patch(f"{url}/{old['id']}", json={"version": 1, "name": "X"}, headers=auth)
    assert stale.status_code == 404, stale.get_data(as_text=True)
    assert client.get(f"{url}/{new['id']}", headers=auth).get_json()["name"] == "Probe B"
    history = (
        app.extensions["formwork"]
        .db.repository(Principal.system("t"))
        .history("receivables.customer", new["id"])
    )
    assert [h["action"] for h in history] == ["create"]


def test_every_table_with_an_id_is_declared_autoincrement_on_sqlite(db: Database) -> None:
    for table in db.metadata.tables.values():
        assert table.dialect_options["sqlite"]["autoincrement"], table.name


def test_migrate_rebuilds_old_sqlite_tables_so_deleted_ids_stay_retired(appset, tmp_path) -> None:
    """A file made before AUTOINCREMENT: `migrate` lists a non-destructive rebuild of each
    table, keeps every row and reference, and starts ids past every id seen before, also
    the ones deleted before the migration (their audit rows remember them)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(appset, url)
    for table in old.metadata.tables.values():
        table.dialect_options["sqlite"]["autoincrement"] = False  # as tables were made before
    old.migrate()
    repo = old.repository(Principal.system("tester"))
    kept = repo.create("receivables.customer", {"name": "Kept"})
    invoice = repo.create(
        "receivables.invoice",
        {"number": "INV-1", "customer": kept["id"], "issue_date": "2026-03-01", "amount": "10"},
    )
    gone = repo.create("receivables.customer", {"name": "Gone"})
    repo.delete("receivables.customer", gone["id"])
    old.dispose()

    db = Database(appset, url)
    try:
        plan = db.plan_migration()
        rebuilt = {s.table for s in plan.steps}
        assert {"receivables_customer", "receivables_invoice", "fw_audit"} <= rebuilt
        assert not plan.destructive
        assert "never reused" in plan.describe()
        db.migrate()
        assert db.plan_migration().empty
        with db.engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'receivables_customer'"
            ).scalar_one()
            assert "AUTOINCREMENT" in sql
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").first() is None
        repo = db.repository(Principal.system("tester"))
        assert repo.get("receivables.invoice", invoice["id"])["customer"] == kept["id"]
        assert repo.get("receivables.customer", kept["id"])["name"] == "Kept"
        again = repo.create("receivables.customer", {"name": "After"})
        assert again["id"] > gone["id"]
    finally:
        db.dispose()
