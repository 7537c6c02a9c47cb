"""A SQLite file with a million invoices, filled fast and kept under bench/.data/ for reuse.

The rows go straight into the engine's own tables (built by `Database.migrate()`)
with SQLAlchemy Core executemany, bypassing the Repository: writing them through the
one write path is what bulk_write.py measures, and a million would take minutes.
The stored computed columns are worked out the way the definitions say
(`open_amount = amount - paid_amount`, the status rule, the customers' balance), with
a realistic mix: old invoices are mostly paid, recent ones mostly open. The
allocations and bank lines behind the paid amounts are not written (list pages of
invoices do not read them), nor are audit rows.

    .venv/bin/python bench/bigfill.py [--rows 1000000] [--refill]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchdata import (
    FIRST_ISSUE,
    ISSUE_DAYS,
    Customer,
    apps,
    customer_values,
    iter_invoice_values,
)

from engine import money
from engine.auth import add_user
from engine.storage import Database

DATA = Path(__file__).resolve().parent / ".data"
FILL_VERSION = 1  # bump when the shape of the filled data changes
TODAY = FIRST_ISSUE + dt.timedelta(days=ISSUE_DAYS)  # the data's "today"
BATCH = 20_000
USER, PASSWORD = "bench", "bench-password"


def data_path(rows: int) -> Path:
    """bench/.data/invoices_1000000.db: Datasette serves it as database `invoices_1000000`."""
    return DATA / f"invoices_{rows}.db"


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def ensure(rows: int, customers: int, refill: bool = False) -> Path:
    """The filled file: reused when its parameters and schema still match, else filled anew."""
    path = data_path(rows)
    meta = path.with_suffix(".json")
    wanted = {"fill_version": FILL_VERSION, "rows": rows, "customers": customers}
    reason = None
    if refill:
        reason = "--refill"
    elif not path.exists() or not meta.exists():
        reason = "no cached file"
    elif json.loads(meta.read_text()) != wanted:
        reason = "fill parameters changed"
    else:
        reason = _catch_up(path)
    if reason is None:
        print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB)")
    else:
        print(f"filling {path} with {rows} invoices ({reason})")
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.db")
        for leftover in DATA.glob(tmp.name + "*"):
            leftover.unlink()
        started = time.perf_counter()
        fill(tmp, rows, customers)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        tmp.replace(path)
        meta.write_text(json.dumps(wanted))
        took = time.perf_counter() - started
        print(f"filled in {took:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return path


def _catch_up(path: Path) -> str | None:
    """Bring a filled file in line with changed definitions: indexes are added or dropped
    in place (seconds); any other change needs a new fill (its reason is returned)."""
    from alembic.operations import ops

    db = Database(apps(), url(path))
    try:
        migration = db.plan_migration()
        if migration.empty:
            return None
        if all(isinstance(s.op, ops.CreateIndexOp | ops.DropIndexOp) for s in migration.steps):
            print(f"updating the indexes of {path}:\n{migration.describe()}")
            db.migrate()
            return None
        return "the app definitions changed the schema"
    finally:
        db.dispose()
        checkpoint(path)


def add_bench_user(path: Path) -> None:
    """The user the benchmark logs in as (before Datasette opens the file immutable)."""
    db = Database(apps(), url(path))
    try:
        add_user(db, USER, PASSWORD, "viewer")
    finally:
        db.dispose()
    checkpoint(path)


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file, so an immutable reader sees every row."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _system(at: dt.datetime) -> dict[str, Any]:
    return {
        "version": 1,
        "created_at": at,
        "updated_at": at,
        "created_by": "import",
        "updated_by": "import",
    }


def settle(rng: random.Random, values: dict[str, Any], due: dt.date) -> Decimal:
    """How much of an invoice has been paid by the data's today: older ones mostly in full."""
    amount = values["amount"]
    overdue_days = (TODAY - due).days
    paid_share = 0.97 if overdue_days > 90 else (0.6 if overdue_days > 0 else 0.25)
    roll = rng.random()
    if roll < paid_share:
        return amount
    if roll < paid_share + 0.05:
        part = money.round_money(amount * Decimal(rng.randrange(10, 90)) / 100, values["currency"])
        return part if Decimal(0) < part < amount else Decimal(0)
    return Decimal(0)


def fill(path: Path, rows: int, ncustomers: int) -> None:
    db = Database(apps(), url(path))
    try:
        db.migrate()
        _fill(db, rows, ncustomers)
    finally:
        db.dispose()
    checkpoint(path)
    add_bench_user(path)


def _fill(db: Database, rows: int, ncustomers: int) -> None:
    customer_t = db.table("receivables.customer")
    invoice_t = db.table("receivables.invoice")
    invoice_columns = [c.name for c in invoice_t.columns]
    rng = random.Random(7)
    customers = customer_values(ncustomers)
    refs = [
        Customer(i + 1, c["currency"], c["payment_terms_days"]) for i, c in enumerate(customers)
    ]
    opened = dt.datetime(2022, 12, 1, tzinfo=dt.UTC)
    customer_rows = [
        {
            **{c.name: None for c in customer_t.columns},
            **_system(opened),
            **values,
            "id": i + 1,
            "balance": Decimal(0),
        }
        for i, values in enumerate(customers)
    ]
    balances = [Decimal(0)] * (ncustomers + 1)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size=-500000")  # 500 MB: index builds stay in memory
        conn.execute(customer_t.insert(), customer_rows)
        batch: list[dict[str, Any]] = []
        for i, values in enumerate(iter_invoice_values(rows, refs)):
            customer = refs[values["customer"] - 1]
            due = values.get("due_date") or values["issue_date"] + dt.timedelta(days=customer.terms)
            paid = settle(rng, values, due)
            open_amount = values["amount"] - paid
            status = "paid" if open_amount <= 0 else ("partial" if paid > 0 else "open")
            at = dt.datetime.combine(values["issue_date"], dt.time(9, 0), dt.UTC)
            row = dict.fromkeys(invoice_columns)
            row.update(_system(at))
            row.update(values)
            row.update(
                id=i + 1,
                due_date=due,
                disputed=values.get("disputed", False),
                paid_amount=paid,
                open_amount=open_amount,
                status=status,
            )
            balances[customer.id] += open_amount
            batch.append(row)
            if len(batch) == BATCH:
                conn.execute(invoice_t.insert(), batch)
                batch = []
        if batch:
            conn.execute(invoice_t.insert(), batch)
        conn.execute(
            customer_t.update()
            .where(customer_t.c.id == sa.bindparam("_id"))
            .values(balance=sa.bindparam("_balance")),
            [
                {"_id": c.id, "_balance": money.round_money(balances[c.id], c.currency)}
                for c in refs
            ],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args(argv)
    ensure(args.rows, args.customers, args.refill)
    return 0


if __name__ == "__main__":
    sys.exit(main())
