"""How well and how fast `formwork reconcile` matches a bank statement, against the truth.

Seeded synthetic receivables (reconcile_data: bank-style name noise, references in many
spellings and with typos, partial, split and multi-invoice payments, bank fees, foreign
currency, duplicates, lines that pay nothing, subscription customers billed the same
amount every month) are written into a database (reconcile_seed; cached per size under
bench/.data/reconcile/ for SQLite), then `formwork reconcile --json` runs as a child
process, timed, with its peak RSS. The allocations it made and its best suggestion per
line are scored against the truth over (bank line, invoice) pairs. Beside it, on the
same data, the plain pandas script of reconcile_pandas.py (reference + exact amount).

    .venv/bin/python bench/reconcile.py                 # 10k and 100k lines, SQLite
    .venv/bin/python bench/reconcile.py --quick         # 2,000 lines: a smoke run
    .venv/bin/python bench/reconcile.py --lines 100000 --open-invoices 160000 --invoices 1000000
    .venv/bin/python bench/reconcile.py --database postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import reconcile_data
import reconcile_seed
import sqlalchemy as sa
from benchdata import APPS, apps, describe_machine
from reconcile_read import allocations, over_allocated, top_suggestions
from reconcile_report import Run, kinds_table, table, verdicts
from reconcile_score import by_kind, pct, score

from engine.storage import Database

DATA = Path(__file__).resolve().parent / ".data" / "reconcile"
PANDAS = Path(__file__).resolve().parent / "reconcile_pandas.py"
DEFAULT_SIZES = ((10_000, 16_000, 100_000), (100_000, 160_000, 1_000_000))
QUICK = (2_000, 3_200, 20_000)


# -- running a child process -------------------------------------------------------------------


def measure(command: list[str], stdout: Path) -> tuple[int, float, float, float, str]:
    """Exit status, wall seconds, CPU seconds and peak RSS (MB) of `command` alone, and its
    error output. os.wait4 gives the resource use of that one child."""
    start = time.perf_counter()
    with stdout.open("wb") as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        errors = err.read().decode(errors="replace")
    return (
        child.returncode,
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        errors,
    )


def formwork() -> list[str]:
    return [str(Path(sys.executable).with_name("formwork")), "--apps", str(APPS)]


def has_reconcile() -> bool:
    """Whether this engine's CLI has `formwork reconcile` (the matching work may not be in)."""
    probe = subprocess.run([*formwork(), "reconcile", "--help"], capture_output=True, text=True)
    return probe.returncode == 0


# -- databases -------------------------------------------------------------------------------


def cached_sqlite(sizes: reconcile_data.Sizes, seed: int, refill: bool) -> Path:
    """The folder of a seeded SQLite file for these sizes, seeded now when missing or stale."""
    folder = DATA / f"L{sizes.lines}_O{sizes.open_invoices}_I{sizes.invoices}_s{seed}"
    meta = folder / "meta.json"
    wanted = {"version": reconcile_data.VERSION, "sizes": sizes.__dict__, "seed": seed}
    if not refill and meta.exists() and json.loads(meta.read_text()) == wanted:
        db = Database(apps(), f"sqlite:///{folder / 'bench.db'}")
        try:
            stale = not db.plan_migration().empty
        finally:
            db.dispose()
        if not stale:
            print(f"  reusing {folder}")
            return folder
        print("  the app definitions changed the schema: seeding again")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = Database(apps(), f"sqlite:///{folder / 'bench.db'}")
    try:
        fill(db, sizes, seed, folder)
    finally:
        db.dispose()
    meta.write_text(json.dumps(wanted))
    return folder


def fill(db: Database, sizes: reconcile_data.Sizes, seed: int, folder: Path) -> None:
    started = time.perf_counter()
    print(f"  seeding {db.dialect} (not timed)")
    db.migrate()
    data = reconcile_data.generate(sizes, seed)
    reconcile_seed.seed(db, data, folder / "truth.json", say=print)
    print(f"  seeded in {time.perf_counter() - started:.0f} s")


@contextmanager
def sqlite_copy(folder: Path) -> Iterator[str]:
    """A scratch copy of the seeded file: the run changes it, the cache stays clean."""
    scratch = Path(tempfile.mkdtemp(prefix="formwork-reconcile-"))
    try:
        shutil.copyfile(folder / "bench.db", scratch / "bench.db")
        yield f"sqlite:///{scratch / 'bench.db'}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def postgres_seeded(url: str, sizes: reconcile_data.Sizes, seed: int) -> Iterator[tuple[str, Path]]:
    """A fresh schema in the given database, seeded, dropped afterwards."""
    schema = f"formwork_reconcile_{os.getpid()}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="formwork-reconcile-pg-"))
    db = Database(apps(), scoped_url)
    try:
        fill(db, sizes, seed, folder)
        db.dispose()
        yield scoped_url, folder
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the two tools ---------------------------------------------------------------------------


def run_formwork(url: str, sizes: reconcile_data.Sizes, truth_file: Path, out: Path) -> Run:
    truth, kinds = reconcile_seed.read_truth(truth_file)
    stdout = out / "reconcile.json"
    rc, seconds, cpu, peak, errors = measure(
        [*formwork(), "--database", url, "reconcile", "--json"], stdout
    )
    if rc != 0:
        print(f"  formwork reconcile FAILED (exit {rc}) after {seconds:.1f} s:\n{errors[-2000:]}")
        failed = score(set(), truth)
        return Run("formwork reconcile", sizes, seconds, cpu, peak, failed, None, error=errors)
    output = _last_json(stdout.read_text(errors="replace"))
    db = Database(apps(), url)
    try:
        auto = allocations(db)
        top = top_suggestions(db)
        problems = over_allocated(db)
    finally:
        db.dispose()
    if problems:
        print("  INVARIANT BROKEN: " + "; ".join(problems))
    combined = auto | top if top is not None else None
    run = Run(
        "formwork reconcile",
        sizes,
        seconds,
        cpu,
        peak,
        score(auto, truth),
        score(combined, truth) if combined is not None else None,
        output=output,
    )
    auto_kinds = by_kind(auto, truth, kinds)
    both_kinds = by_kind(combined, truth, kinds) if combined is not None else {}
    run.kinds = {k: (s, both_kinds.get(k)) for k, s in auto_kinds.items()}
    return run


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {}
    except json.JSONDecodeError:
        return {}


def run_pandas(sizes: reconcile_data.Sizes, folder: Path, out: Path) -> Run:
    truth, kinds = reconcile_seed.read_truth(folder / "truth.json")
    pairs_csv = out / "pandas_pairs.csv"
    command = [
        sys.executable,
        str(PANDAS),
        str(folder / reconcile_seed.LINES_CSV),
        str(folder / reconcile_seed.INVOICES_CSV),
        str(pairs_csv),
    ]
    rc, seconds, cpu, peak, errors = measure(command, out / "pandas.out")
    if rc != 0:
        raise SystemExit(f"the pandas baseline failed ({rc}):\n{errors[-3000:]}")
    found = {
        (int(a), int(b))
        for a, b in (row.split(",") for row in pairs_csv.read_text().splitlines()[1:] if row)
    }
    run = Run(
        "pandas: reference + exact amount", sizes, seconds, cpu, peak, score(found, truth), None
    )
    run.kinds = {k: (s, None) for k, s in by_kind(found, truth, kinds).items()}
    return run


# -- main ------------------------------------------------------------------------------------


def sizes_from(args: argparse.Namespace) -> list[reconcile_data.Sizes]:
    if args.lines:
        open_invoices = args.open_invoices or int(args.lines * 1.6)
        return [reconcile_data.Sizes(args.lines, open_invoices, args.invoices or open_invoices * 6)]
    chosen = [QUICK] if args.quick else DEFAULT_SIZES
    return [reconcile_data.Sizes(*s) for s in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, help="bank lines to reconcile (one size only)")
    parser.add_argument("--open-invoices", type=int, help="[default: 1.6 x lines]")
    parser.add_argument("--invoices", type=int, help="invoices in all, history included [6 x open]")
    parser.add_argument("--quick", action="store_true", help=f"one small size: {QUICK}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", help="run on this PostgreSQL URL instead (own schema)")
    parser.add_argument("--refill", action="store_true", help="seed the cached SQLite files again")
    parser.add_argument("--no-pandas", action="store_true")
    args = parser.parse_args(argv)
    print(describe_machine())
    available = has_reconcile()
    if not available:
        print(
            "\n`formwork reconcile` is not a command of this engine yet (the matching rules of"
            " issue 6 have not landed): only the data, its truth and the pandas baseline run.\n"
        )
    runs: list[Run] = []
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    for sizes in sizes_from(args):
        print(
            f"\n{sizes.lines:,} lines, {sizes.open_invoices:,} open of {sizes.invoices:,} invoices"
        )
        if args.database:
            with postgres_seeded(args.database, sizes, args.seed) as (url, folder):
                runs += run_size(url, sizes, folder, out, available, not args.no_pandas)
        else:
            folder = cached_sqlite(sizes, args.seed, args.refill)
            with sqlite_copy(folder) as url:
                runs += run_size(url, sizes, folder, out, available, not args.no_pandas)
    where = "PostgreSQL" if args.database else "SQLite"
    print(f"\n{where}, seed {args.seed}\n")
    print(table(runs))
    print()
    print(kinds_table(runs))
    print()
    print("\n".join(verdicts(runs)) or "(no formwork figures)")
    print(f"\n{describe_machine()}")
    saved = out / ("reconcile-postgresql.json" if args.database else "reconcile.json")
    saved.write_text(json.dumps([dataclasses.asdict(r) for r in runs], indent=1, default=str))
    print(f"figures saved to {saved}")
    if not available:
        return 2
    return 1 if any(r.error for r in runs) else 0


def run_size(
    url: str,
    sizes: reconcile_data.Sizes,
    folder: Path,
    out: Path,
    available: bool,
    pandas: bool,
) -> list[Run]:
    runs = []
    if pandas:
        runs.append(run_pandas(sizes, folder, out))
        _say(runs[-1])
    if available:
        runs.append(run_formwork(url, sizes, folder / "truth.json", out))
        if not runs[-1].error:
            _say(runs[-1])
        if runs[-1].output:
            print(f"  formwork says: {json.dumps(runs[-1].output)[:400]}")
    return runs


def _say(r: Run) -> None:
    both = f", auto + top suggestion recall {pct(r.combined.recall)}" if r.combined else ""
    print(
        f"  {r.tool}: {r.seconds:.2f} s ({r.cpu:.2f} s CPU, {r.peak_mb:.0f} MB);"
        f" auto precision {pct(r.auto.precision)}, recall {pct(r.auto.recall)}{both}"
    )


if __name__ == "__main__":
    sys.exit(main())
