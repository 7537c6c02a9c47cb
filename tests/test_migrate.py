"""Migrations: the plan a change of definitions implies, additive steps applied, destructive
ones refused by name unless allowed; rows survive, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.appdef import AppSet, load_apps
from engine.permissions import Principal
from engine.storage import Database, DestructiveMigration

# The migration tests edit the text of a fixed pair of apps, not the shipped ones, which
# change as the product grows.
APPS = Path(__file__).resolve().parent / "apps_migrate"
CUSTOMER, BANK_LINE = "receivables.customer", "receivables.bank_line"
VAT = "      vat_number: {type: string, label: {en: VAT number, zh: 税号}, max: 30}\n"
IBAN = (
    "      counterparty_iban: {type: string, label: {en: Counterparty IBAN, zh: 对方 IBAN}, "
    "max: 34}\n"
)


def edited_apps(folder: Path, edit: Callable[[str], str]) -> AppSet:
    """A copy of the fixed apps with receivables.yaml changed by `edit`."""
    target = folder / "apps"
    shutil.copytree(APPS, target, dirs_exist_ok=True)
    path = target / "receivables.yaml"
    text = path.read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text, "the edit must change something"
    path.write_text(changed, encoding="utf-8")
    return load_apps([target])


def replace(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


def columns(db: Database, table: str) -> dict[str, sa.types.TypeEngine]:
    with db.engine.connect() as conn:
        return {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table)}


def table_names(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


@pytest.fixture
def filled(database_url: str) -> Iterator[Database]:
    """The fixed apps, migrated, with a few records in them."""
    db = Database(load_apps([APPS]), database_url)
    db.migrate()
    repo = db.repository(Principal.system("tester"))
    acme = repo.create(CUSTOMER, {"name": "Acme", "vat_number": "DE123456789"})
    beta = repo.create(CUSTOMER, {"name": "Beta", "currency": "JPY"})
    for i, owner in enumerate([acme, beta, acme]):
        repo.create(
            "receivables.invoice",
            {
                "number": f"INV-{i}",
                "customer": owner["id"],
                "issue_date": "2024-01-01",
                "amount": 10,
            },
        )
    repo.create(BANK_LINE, {"date": "2024-01-05", "amount": "99.95", "counterparty_iban": "DE89"})
    yield db
    db.dispose()


def snapshot(db: Database, qualname: str, skip: tuple[str, ...] = ()) -> list[dict]:
    rows = db.repository(Principal.system("tester")).query(qualname, sort="id", limit=1000).rows
    return [{k: v for k, v in row.items() if k not in skip} for row in rows]


def test_fresh_database_plan_creates_every_table(appset: AppSet, database_url: str) -> None:
    db = Database(appset, database_url)
    try:
        plan = db.plan_migration()
        wanted = {e.table_name for e in appset.entities()} | {"fw_user", "fw_audit", "fw_api_token"}
        created = {s.table for s in plan.steps if s.description.startswith("create table")}
        assert created == wanted
        assert not plan.destructive and plan.additive == plan.steps
        assert "create unique index ix_receivables_invoice_number" in plan.describe()
        applied = db.migrate()
        assert [s.description for s in applied.steps] == [s.description for s in plan.steps]
        assert wanted <= table_names(db)
        again = db.plan_migration()
        assert again.empty
        assert again.describe() == "The database matches the definitions: nothing to do."
        assert db.migrate().empty, "migrating twice is harmless"
    finally:
        db.dispose()


def test_adding_fields_keeps_every_row(filled: Database, tmp_path: Path) -> None:
    before = snapshot(filled, CUSTOMER)
    invoices = snapshot(filled, "receivables.invoice")
    apps = edited_apps(
        tmp_path,
        replace(
            VAT,
            VAT + "      segment: {type: string, max: 50, index: true}\n"
            "      rating: {type: integer, required: true}\n",
        ),
    )
    db = Database(apps, filled.url)
    try:
        plan = db.plan_migration()
        assert [s.description for s in plan.steps] == [
            "add column receivables_customer.segment (VARCHAR(50))",
            "add column receivables_customer.rating (BIGINT)",
            "create index ix_receivables_customer_segment on receivables_customer "
            "(receivables_customer.segment)",
        ]
        assert not plan.destructive
        db.migrate()
        assert {"segment", "rating"} <= set(columns(db, "receivables_customer"))
        assert db.plan_migration().empty
        after = snapshot(db, CUSTOMER)
        assert [{k: v for k, v in r.items() if k not in ("segment", "rating")} for r in after] == (
            before
        )
        assert all(r["segment"] is None and r["rating"] is None for r in after)
        assert snapshot(db, "receivables.invoice") == invoices
        repo = db.repository(Principal.system("tester"))
        acme = repo.update(CUSTOMER, before[0]["id"], {"segment": "retail", "rating": 3})
        assert (acme["segment"], acme["rating"], acme["name"]) == ("retail", 3, "Acme")
        assert repo.query(CUSTOMER, search="acme").rows[0]["segment"] == "retail"
    finally:
        db.dispose()


def test_removing_a_field_is_refused_by_name_then_applied_when_allowed(
    filled: Database, tmp_path: Path
) -> None:
    lines = snapshot(filled, BANK_LINE, skip=("counterparty_iban",))
    customers = snapshot(filled, CUSTOMER)

    def drop_iban(text: str) -> str:  # the field, and the import profiles' columns for it
        for column in ("IBAN", "Kontonummer"):
            text = text.replace(f"      counterparty_iban: {column}\n", "")
        return text.replace(IBAN, "")

    db = Database(edited_apps(tmp_path, drop_iban), filled.url)
    try:
        plan = db.plan_migration()
        assert [(s.description, s.destructive) for s in plan.steps] == [
            (
                "drop column receivables_bank_line.counterparty_iban and the values it holds",
                True,
            )
        ]
        with pytest.raises(DestructiveMigration) as raised:
            db.migrate()
        assert "receivables_bank_line.counterparty_iban" in str(raised.value)
        assert "--allow-destructive" in str(raised.value)
        assert "counterparty_iban" in columns(db, "receivables_bank_line"), "nothing was done"

        applied = db.migrate(allow_destructive=True)
        assert applied.destructive
        assert "counterparty_iban" not in columns(db, "receivables_bank_line")
        assert db.plan_migration().empty
        assert snapshot(db, BANK_LINE) == lines
        assert snapshot(db, CUSTOMER) == customers
        repo = db.repository(Principal.system("tester"))
        assert repo.create(BANK_LINE, {"date": "2024-02-01", "amount": "1.00"})["id"]
    finally:
        db.dispose()


def test_widening_a_string_is_additive_and_narrowing_is_not(
    filled: Database, tmp_path: Path
) -> None:
    customers = snapshot(filled, CUSTOMER)
    wider = edited_apps(tmp_path / "wider", replace("max: 30}", "max: 60}"))
    db = Database(wider, filled.url)
    try:
        plan = db.plan_migration()
        assert [(s.description, s.destructive) for s in plan.steps] == [
            (
                "change type of receivables_customer.vat_number from VARCHAR(30) to VARCHAR(60)",
                False,
            )
        ]
        db.migrate()
        assert columns(db, "receivables_customer")["vat_number"].length == 60
        assert db.plan_migration().empty
        assert snapshot(db, CUSTOMER) == customers
        long_vat = "X" * 60
        acme = db.repository(Principal.system("tester")).update(
            CUSTOMER, customers[0]["id"], {"vat_number": long_vat}
        )
        assert (
            db.repository(Principal.system("tester")).get(CUSTOMER, acme["id"])["vat_number"]
            == long_vat
        )
    finally:
        db.dispose()
    narrower = edited_apps(tmp_path / "narrower", replace(VAT, VAT.replace("30", "20")))
    db = Database(narrower, filled.url)
    try:
        (step,) = db.plan_migration().steps
        assert step.destructive
        assert step.description == (
            "change type of receivables_customer.vat_number from VARCHAR(60) to VARCHAR(20)"
        )
        with pytest.raises(DestructiveMigration, match=r"receivables_customer\.vat_number"):
            db.migrate()
    finally:
        db.dispose()


def test_new_entity_is_a_new_table_and_a_removed_one_is_destructive(
    filled: Database, tmp_path: Path
) -> None:
    note = (
        "  note:\n"
        "    fields:\n"
        "      customer: {type: ref, to: customer, required: true}\n"
        "      text: {type: text, required: true}\n\n"
    )
    with_note = edited_apps(
        tmp_path / "with", replace("\n  exchange_rate:\n", "\n" + note + "  exchange_rate:\n")
    )
    db = Database(with_note, filled.url)
    try:
        plan = db.plan_migration()
        assert plan.steps[0].description == "create table receivables_note"
        assert not plan.destructive
        db.migrate()
        acme_id = snapshot(filled, CUSTOMER)[0]["id"]
        assert db.repository(Principal.system("tester")).create(
            "receivables.note", {"customer": acme_id, "text": "hi"}
        )
    finally:
        db.dispose()

    def drop_exchange_rate(text: str) -> str:
        return text[: text.index("\n  exchange_rate:\n") + 1]  # the entity, not a field

    without = edited_apps(tmp_path / "without", drop_exchange_rate)
    db = Database(without, filled.url)
    try:
        descriptions = [(s.description, s.destructive) for s in db.plan_migration().steps]
        assert ("drop table receivables_exchange_rate and all its rows", True) in descriptions
        assert ("drop table receivables_note and all its rows", True) in descriptions
        with pytest.raises(DestructiveMigration, match="receivables_exchange_rate"):
            db.migrate()
        assert "receivables_exchange_rate" in table_names(db)
    finally:
        db.dispose()


def test_tables_formwork_does_not_own_are_left_alone(filled: Database, tmp_path: Path) -> None:
    with filled.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE legacy_ledger (id INTEGER PRIMARY KEY, memo TEXT)"))
    only_receivables = load_apps([APPS / "receivables.yaml"])
    db = Database(only_receivables, filled.url)
    try:
        plan = db.plan_migration()
        assert plan.empty, plan.describe()
        assert {"legacy_ledger", "collections_collection_task"} <= table_names(db)
    finally:
        db.dispose()
