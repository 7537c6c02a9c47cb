"""How fast, and in how much memory, `formwork records import` takes a big invoice CSV.

The file is what a user brings from another system: one invoice a line, the customer
named (not by id), half the due dates left to the definition's default. Each import
runs as its own child process (the real `formwork` command) into a fresh copy of a
SQLite file that holds only the customers, so every figure includes start-up,
reading, ref resolution, validation and the writes, and the peak memory is that
child's alone. `pandas.read_csv(...).to_sql(...)` of the same file runs in the same
way beside it: no validation, no refs, no defaults, so it is a floor, not a rival.

    .venv/bin/python bench/record_import.py                  # 100,000 and 1,000,000 rows
    .venv/bin/python bench/record_import.py --rows 100000    # one size only
    .venv/bin/python bench/record_import.py --no-pandas
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from benchdata import Customer, apps, customer_values, describe_machine, iter_invoice_values

from engine.permissions import Principal
from engine.storage import Database

DATA = Path(__file__).resolve().parent / ".data"
TARGETS = {100_000: ("seconds", 5.0), 1_000_000: ("peak_mb", 300.0)}
COLUMNS = ["number", "customer", "issue_date", "due_date", "amount", "description", "disputed"]

# Runs one command and reports its wall time, CPU time (user + system: what a busy
# machine does not inflate) and the peak RSS of the command alone (RUSAGE_CHILDREN of
# this small parent is the one child it waited for).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
print(json.dumps({"rc": rc.returncode, "seconds": seconds, "peak_mb": peak, "cpu": cpu,
                  "stderr": rc.stderr.decode(errors="replace")[-2000:]}))
"""

PANDAS = """
import sqlite3, sys
import pandas as pd
con = sqlite3.connect(sys.argv[2])
pd.read_csv(sys.argv[1]).to_sql("pandas_invoice", con, index=False)
con.commit()
"""


def customers_db(n: int) -> tuple[Path, list[dict]]:
    """A cached SQLite file with `n` customers and nothing else, migrated to the definitions."""
    values = customer_values(n)
    path = DATA / f"import_customers_{n}.db"
    if path.exists():  # bring it in line with the definitions, which may have changed
        db = Database(apps(), f"sqlite:///{path}")
        db.migrate()
        db.dispose()
    else:
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        db = Database(apps(), f"sqlite:///{tmp}")
        db.migrate()
        db.repository(Principal.system("bench")).bulk_create("receivables.customer", values)
        db.dispose()
        tmp.replace(path)
    return path, values


def invoice_csv(rows: int, customers: list[dict]) -> Path:
    """A cached CSV of `rows` invoices with customers given by name."""
    path = DATA / f"import_invoices_{rows}.csv"
    if path.exists():
        return path
    refs = [
        Customer(i + 1, c["currency"], c["payment_terms_days"]) for i, c in enumerate(customers)
    ]
    names = {i + 1: c["name"] for i, c in enumerate(customers)}
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for inv in iter_invoice_values(rows, refs):
            writer.writerow(
                [
                    inv["number"],
                    names[inv["customer"]],
                    inv["issue_date"].isoformat(),
                    inv["due_date"].isoformat() if "due_date" in inv else "",
                    format(inv["amount"], "f"),
                    inv.get("description", ""),
                    "true" if inv.get("disputed") else "",
                ]
            )
    tmp.replace(path)
    return path


def measure(command: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{command[0]} failed ({result['rc']}):\n{result['stderr']}")
    return result


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def run_size(rows: int, template: Path, customers: list[dict], pandas: bool) -> list[dict]:
    source = invoice_csv(rows, customers)
    size_mb = source.stat().st_size / 1e6
    print(f"\n{rows:,} invoices: {source} ({size_mb:.0f} MB)")
    formwork = Path(sys.executable).with_name("formwork")
    results = []
    folder = Path(tempfile.mkdtemp(prefix="formwork-import-bench-"))
    try:
        db = folder / "bench.db"
        shutil.copyfile(template, db)
        command = [str(formwork), "--database", f"sqlite:///{db}"]
        command += ["records", "import", "receivables.invoice", str(source)]
        result = measure(command)
        assert count(db, "receivables_invoice") == rows, "not every invoice was imported"
        results.append({"rows": rows, "tool": "formwork records import", **result})
        print(
            f"  formwork  {result['seconds']:7.2f} s  {result['cpu']:7.2f} s CPU  "
            f"{result['peak_mb']:7.0f} MB"
        )
        if pandas:
            db.unlink()
            shutil.copyfile(template, db)
            result = measure([sys.executable, "-c", PANDAS, str(source), str(db)])
            assert count(db, "pandas_invoice") == rows
            results.append({"rows": rows, "tool": "pandas read_csv + to_sql", **result})
            print(
                f"  pandas    {result['seconds']:7.2f} s  {result['cpu']:7.2f} s CPU  "
                f"{result['peak_mb']:7.0f} MB"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def table(results: list[dict]) -> str:
    lines = [
        "| rows | tool | seconds | CPU s | rows/s | peak RSS (MB) | time / pandas | CPU / pandas"
        " | memory / pandas |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    floor = {r["rows"]: r for r in results if r["tool"].startswith("pandas")}
    for r in results:
        base = floor.get(r["rows"])
        t = f"{r['seconds'] / base['seconds']:.2f}" if base else "-"
        c = f"{r['cpu'] / base['cpu']:.2f}" if base else "-"
        m = f"{r['peak_mb'] / base['peak_mb']:.2f}" if base else "-"
        lines.append(
            f"| {r['rows']:,} | {r['tool']} | {r['seconds']:.2f} | {r['cpu']:.2f}"
            f" | {r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:.0f} | {t} | {c} | {m} |"
        )
    return "\n".join(lines)


def verdicts(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        if not r["tool"].startswith("formwork") or r["rows"] not in TARGETS:
            continue
        what, limit = TARGETS[r["rows"]]
        unit = "s" if what == "seconds" else "MB"
        ok = "met" if r[what] <= limit else "MISSED"
        line = f"target {r['rows']:,} rows: {what} {r[what]:.1f} {unit} <= {limit:g}: {ok}"
        if what == "seconds":
            line += f" (CPU {r['cpu']:.1f} s: on an idle machine the wall time is about that)"
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="[default: 100000 and 1000000]")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas floor")
    args = parser.parse_args()
    print(describe_machine())
    template, customers = customers_db(args.customers)
    results = []
    for rows in args.rows or [100_000, 1_000_000]:
        results += run_size(rows, template, customers, not args.no_pandas)
    print()
    print(table(results))
    print()
    print("\n".join(verdicts(results)))


if __name__ == "__main__":
    main()
