"""How fast the one write path takes records in bulk: invoices, bank lines and allocations.

Imports and matching runs write a hundred thousand records at a time through
`Repository.bulk_create`, with validation, defaults, computed fields, checks, audit
rows and (for allocations) the recomputation of every touched invoice, bank line and
customer. This script times exactly that on a fresh SQLite file and, with
`--database`, on PostgreSQL (in a throw-away schema, so nothing else is touched).
Beside each step it times the floor, a plain executemany of the same rows into a
scratch copy of the table, and it says whether the issue's targets are met.

    .venv/bin/python bench/bulk_write.py
    .venv/bin/python bench/bulk_write.py --database postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/bulk_write.py --invoices 20000 --allocations 20000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchdata import (
    Customer,
    apps,
    customer_values,
    describe_machine,
    invoice_values,
    profile_report,
)

from engine.permissions import Principal
from engine.storage import Database

OUT = Path(__file__).resolve().parent / "out"
# step, records, seconds, floor seconds, CPU seconds, floor CPU seconds (this process:
# SQLite works inside it, so on a machine others load, CPU time is the steadier figure)
Results = list[tuple[str, int, float, float, float, float]]
BATCH = 2000


# -- databases -------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[Database]:
    folder = tempfile.mkdtemp(prefix="formwork-bench-")
    db = Database(apps(), f"sqlite:///{folder}/bench.db")
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def filled_sqlite_database(rows: int) -> Iterator[Database]:
    """A temporary copy of list_latency's filled file: writes onto a million invoices."""
    import bigfill

    source = bigfill.ensure(rows, customers=10_000)
    folder = tempfile.mkdtemp(prefix="formwork-bench-")
    shutil.copyfile(source, f"{folder}/bench.db")
    db = Database(apps(), f"sqlite:///{folder}/bench.db")
    try:
        yield db
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_database(url: str, keep: bool) -> Iterator[Database]:
    """A fresh schema in the given database, dropped afterwards: the public one stays as it is."""
    schema = f"formwork_bench_{os.getpid()}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = Database(apps(), url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        if keep:
            print(f"  kept schema {schema}")
        else:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the records -----------------------------------------------------------------------------


def bank_line_values(invoices: Sequence[dict[str, Any]], seed: int = 3) -> list[dict[str, Any]]:
    """One incoming payment per invoice: most pay it in full, some pay part of it."""
    rng = random.Random(seed)
    out = []
    for i, inv in enumerate(invoices):
        full = rng.random() < 0.8
        amount = inv["amount"] if full else max(inv["amount"] / 2, Decimal(1)).quantize(Decimal(1))
        out.append(
            {
                "date": inv["issue_date"] + dt.timedelta(days=rng.randrange(5, 60)),
                "amount": amount,
                "currency": inv["currency"],
                "counterparty": f"Customer {inv['customer']}",
                "counterparty_iban": f"DE{rng.randrange(10**19, 10**20)}",
                "memo": f"Payment {inv['number']} thank you",
                "reference": f"RF{i + 1:09d}",
                "end_to_end_id": f"E2E-{i + 1:09d}",
                "account": "DE89370400440532013000",
            }
        )
    return out


def allocation_values(
    invoice_ids: Sequence[int],
    line_ids: Sequence[int],
    lines: Sequence[dict[str, Any]],
    n: int,
) -> list[dict[str, Any]]:
    """What a matching run writes: bank line i settles invoice i (currency left to default)."""
    return [
        {
            "bank_line": line_ids[i],
            "invoice": invoice_ids[i],
            "amount": lines[i]["amount"],
            "matched_by": "rule",
            "rule": "invoice number in the memo, same amount",
        }
        for i in range(n)
    ]


# -- running ---------------------------------------------------------------------------------


def floor(db: Database, entity: str, ids: Sequence[int]) -> tuple[float, float]:
    """Seconds (wall, CPU) a plain executemany of the same rows takes: the floor under bulk_create.

    The rows just written (every column, as stored) are read back, untimed, and inserted
    into a scratch copy of the table (same columns and types, no indexes or keys) in the
    same database, in batches of the Repository's size, in one transaction; then the
    scratch table is dropped. No validation, computed values, audit rows or events.
    """
    table = db.table(entity)
    scratch = sa.Table(
        f"floor_{table.name}",
        sa.MetaData(),
        *(sa.Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns),
    )
    wanted = set(ids)
    with db.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(table)).mappings() if r["id"] in wanted]
    scratch.create(db.engine)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        with db.engine.begin() as conn:
            for i in range(0, len(rows), BATCH):
                conn.execute(scratch.insert(), rows[i : i + BATCH])
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        scratch.drop(db.engine)


def timed(
    db: Database,
    label: str,
    entity: str,
    write: Callable[[], list[int]],
    count: int,
    results: Results,
    profile: Path | None,
) -> list[int]:
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    ids = write()
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    plain, plain_cpu = floor(db, entity, ids)
    results.append((label, count, seconds, plain, cpu, plain_cpu))
    print(
        f"  {label:<12} {count:>8} records  {seconds:8.2f} s  {count / seconds:9.0f} records/s"
        f"  CPU {cpu:.2f} s  (plain executemany {plain:.2f} s, CPU {plain_cpu:.2f} s)"
    )
    if profiler and profile:
        path = profile.with_name(f"{profile.stem}-{label}.prof")
        print(profile_report(profiler, path))
        print(f"  profile saved to {path}")
    return ids


def run(db: Database, args: argparse.Namespace, profile: Path | None) -> Results:
    repo = db.repository(Principal.system("bench"))
    results: Results = []

    def in_batches(entity: str, records: list[dict[str, Any]]) -> Callable[[], list[int]]:
        size = args.batch or len(records)

        def write() -> list[int]:
            ids: list[int] = []
            for start in range(0, len(records), size):
                ids.extend(repo.bulk_create(entity, records[start : start + size]))
            return ids

        return write

    refs = existing_customers(db)
    if refs:
        print(f"  onto {len(refs)} customers and their {count_invoices(db)} invoices")
    else:
        customers = customer_values(args.customers)
        cids = timed(
            db,
            "customers",
            "receivables.customer",
            in_batches("receivables.customer", customers),
            len(customers),
            results,
            None,
        )
        refs = [
            Customer(i, c["currency"], c["payment_terms_days"])
            for i, c in zip(cids, customers, strict=True)
        ]
    invoices = invoice_values(args.invoices, refs, seed=11, prefix="BULK")
    invoice_ids = timed(
        db,
        "invoices",
        "receivables.invoice",
        in_batches("receivables.invoice", invoices),
        len(invoices),
        results,
        profile,
    )
    n = min(args.allocations, len(invoices))
    if n:
        lines = bank_line_values(invoices[:n])
        line_ids = timed(
            db,
            "bank_lines",
            "receivables.bank_line",
            in_batches("receivables.bank_line", lines),
            n,
            results,
            None,
        )
        allocations = allocation_values(invoice_ids, line_ids, lines, n)
        timed(
            db,
            "allocations",
            "receivables.allocation",
            in_batches("receivables.allocation", allocations),
            n,
            results,
            profile,
        )
    check(db, fresh=not args.onto_filled)
    return results


def existing_customers(db: Database) -> list[Customer]:
    table = db.table("receivables.customer")
    stmt = sa.select(table.c.id, table.c.currency, table.c.payment_terms_days)
    with db.engine.connect() as conn:
        return [Customer(i, currency, terms or 30) for i, currency, terms in conn.execute(stmt)]


def count_invoices(db: Database) -> int:
    table = db.table("receivables.invoice")
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def check(db: Database, fresh: bool = True) -> None:
    """The derived values add up: the bench measured the whole write, recomputation included.

    (A filled file has paid amounts without allocations behind them: only balances are checked.)
    """
    invoice = db.table("receivables.invoice")
    alloc = db.table("receivables.allocation")
    line = db.table("receivables.bank_line")
    customer = db.table("receivables.customer")
    with db.engine.connect() as conn:
        paid, open_, amount = conn.execute(
            sa.select(
                sa.func.sum(invoice.c.paid_amount),
                sa.func.sum(invoice.c.open_amount),
                sa.func.sum(invoice.c.amount),
            )
        ).one()
        allocated = conn.execute(sa.select(sa.func.sum(alloc.c.amount))).scalar() or 0
        lines_allocated = conn.execute(sa.select(sa.func.sum(line.c.allocated_amount))).scalar()
        balance = conn.execute(sa.select(sa.func.sum(customer.c.balance))).scalar()
        statuses = {
            status: count
            for status, count in conn.execute(
                sa.select(invoice.c.status, sa.func.count()).group_by(invoice.c.status)
            )
        }
    problems = []
    if fresh and abs(Decimal(str(paid or 0)) - Decimal(str(allocated))) > 1:
        problems.append(f"invoices' paid_amount {paid} != allocations {allocated}")
    if fresh and abs(Decimal(str(lines_allocated or 0)) - Decimal(str(allocated))) > 1:
        problems.append(f"bank lines' allocated_amount {lines_allocated} != {allocated}")
    if abs(Decimal(str(open_)) - Decimal(str(balance))) > 1:
        problems.append(f"customers' balance {balance} != invoices' open_amount {open_}")
    if abs(Decimal(str(amount)) - Decimal(str(paid or 0)) - Decimal(str(open_))) > 1:
        problems.append("amount != paid_amount + open_amount")
    print(f"  check: invoice statuses {statuses}")
    if problems:
        print("  CHECK FAILED: " + "; ".join(problems))
        raise SystemExit(1)


TARGETS = {"invoices": "≥ 30,000/s", "bank_lines": "≥ 30,000/s", "allocations": "≤ 4 s per 100k"}


def meets(label: str, count: int, seconds: float) -> str:
    if label == "allocations":
        return "yes" if seconds / count * 100_000 <= 4 else "NO"
    if label in TARGETS:
        return "yes" if count / seconds >= 30_000 else "NO"
    return ""


def report(name: str, results: Results) -> None:
    print(f"\n{name}")
    print(
        f"  {'step':<12} {'records':>8} {'seconds':>8} {'records/s':>10} {'s per 100k':>11}"
        f" {'floor s':>8} {'x floor':>8} {'CPU s':>7} {'x floor CPU':>12}  target"
    )
    for label, count, seconds, plain, cpu, plain_cpu in results:
        per = seconds / count * 100_000
        target = f"{TARGETS[label]}: {meets(label, count, seconds)}" if label in TARGETS else ""
        print(
            f"  {label:<12} {count:>8} {seconds:8.2f} {count / seconds:10.0f} {per:11.1f}"
            f" {plain:8.2f} {seconds / plain:8.1f} {cpu:7.2f} {cpu / plain_cpu:12.1f}  {target}"
        )
    print("  (floor: a plain executemany of the same rows into a scratch copy of the table)")
    print(
        "  (target met or not is judged by the wall time: on a loaded machine, compare the"
        " x floor columns, measured in the same run, and the CPU time)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--allocations", type=int, default=100_000, help="0 to skip")
    parser.add_argument(
        "--batch", type=int, default=0, help="records per bulk_create call (default: all)"
    )
    parser.add_argument("--database", help="also run on this PostgreSQL URL (own schema)")
    parser.add_argument("--no-sqlite", action="store_true", help="only run on --database")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--onto-filled",
        type=int,
        metavar="ROWS",
        help="write onto a copy of list_latency's file of ROWS invoices (SQLite) instead",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the invoice and allocation writes (slower; saves bench/out/*.prof)",
    )
    args = parser.parse_args(argv)
    all_results = []
    print(describe_machine())
    if args.onto_filled:
        print(f"SQLite (a copy of the file of {args.onto_filled} invoices)")
        with filled_sqlite_database(args.onto_filled) as db:
            profile = OUT / "bulk_write-filled.prof" if args.profile else None
            all_results.append(
                (f"SQLite, onto {args.onto_filled} invoices", run(db, args, profile))
            )
    elif not args.no_sqlite:
        print("SQLite (temporary file)")
        with sqlite_database() as db:
            profile = OUT / "bulk_write-sqlite.prof" if args.profile else None
            all_results.append(("SQLite", run(db, args, profile)))
    if args.database:
        print(f"PostgreSQL ({sa.make_url(args.database).render_as_string(hide_password=True)})")
        with postgres_database(args.database, args.keep) as db:
            profile = OUT / "bulk_write-postgresql.prof" if args.profile else None
            all_results.append(("PostgreSQL", run(db, args, profile)))
    for name, results in all_results:
        report(name, results)
    print(f"\n{describe_machine()}")
    if args.profile:
        print("\n(times above were taken under cProfile: expect them 1.5-2x the real figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
