"""Latency of one filtered, sorted 50-row list page on a million invoices: Formwork vs Datasette.

One run fills (or reuses) bench/.data/invoices_1000000.db, starts Formwork under
gunicorn and Datasette on the same file (read-only, immutable), both on 127.0.0.1,
and times N sequential requests per endpoint after a warm-up: the HTML list page and
the JSON API of each, for the first page of open invoices by descending due date;
then a deep page (offset 50,000) and the lazy count, without targets. Finally it
shows where Formwork's time goes: each SQL statement the page runs, its time and its
EXPLAIN QUERY PLAN, measured in-process with Flask's test client.

    .venv/bin/python bench/list_latency.py               # reuse the filled file
    .venv/bin/python bench/list_latency.py --refill      # fill it again
    .venv/bin/python bench/list_latency.py --requests 100 --warmup 10
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bigfill
from benchdata import describe_machine, summary_ms
from servers import Client, Response, basic_auth, running, session_login, start_datasette
from servers import start_formwork as _start_formwork

OUT = Path(__file__).resolve().parent / "out"
TABLE = "receivables_invoice"
TARGET_P99_MS = 100.0


@dataclass
class Endpoint:
    name: str
    server: str  # formwork | datasette
    path: str
    headers: dict[str, str]
    check: Callable[[Response], str | None]  # a problem with the answer, or None
    requests: int
    warmup: int


@dataclass
class Result:
    endpoint: Endpoint
    stats: dict[str, float] | None
    note: str = ""
    size: int = 0


# -- what a right answer looks like ----------------------------------------------------------


def expected_numbers(db_path: Path, offset: int, limit: int = 50) -> list[str]:
    """The invoice numbers of the page, straight from the table, in Formwork's order."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            f"select number from {TABLE} where status = 'open' "
            "order by due_date desc, id desc limit ? offset ?",
            (limit, offset),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def keyset_token(db_path: Path, offset: int) -> str:
    """Datasette's `_next` for the page starting at `offset` (it pages by key, not offset)."""
    from datasette.utils import tilde_encode

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        due, pk = conn.execute(
            f"select due_date, id from {TABLE} where status = 'open' "
            "order by due_date desc, id limit 1 offset ?",
            (offset - 1,),
        ).fetchone()
    finally:
        conn.close()
    return f"{tilde_encode(str(due))},{pk}"


def html_rows(first: str | None) -> Callable[[Response], str | None]:
    def check(resp: Response) -> str | None:
        if resp.status != 200:
            return f"HTTP {resp.status}"
        found = resp.body.count(b"INV-")
        if found < 50:
            return f"only {found} invoice numbers in the page (not a real list yet?)"
        if first and first.encode() not in resp.body:
            return f"{first} (the expected first row) is not in the page"
        return None

    return check


def json_rows(key: str, first: str | None) -> Callable[[Response], str | None]:
    def check(resp: Response) -> str | None:
        if resp.status != 200:
            return f"HTTP {resp.status}"
        try:
            rows = json.loads(resp.body)[key]
        except (ValueError, KeyError, TypeError):
            return f"not a JSON object with {key!r}"
        if len(rows) != 50:
            return f"{len(rows)} rows instead of 50"
        if first and rows[0].get("number") != first:
            return f"first row {rows[0].get('number')} instead of {first}"
        return None

    return check


def json_count(resp: Response) -> str | None:
    if resp.status != 200:
        return f"HTTP {resp.status}"
    try:
        json.loads(resp.body)
    except ValueError:
        return "not JSON"
    return None


# -- the run ---------------------------------------------------------------------------------


def endpoints(
    db_path: Path, args: argparse.Namespace, session: dict[str, str], basic: dict[str, str]
) -> list[Endpoint]:
    n, w = args.requests, args.warmup
    dn, dw = args.deep_requests, max(2, args.deep_requests // 10)
    deep = args.offset
    first = expected_numbers(db_path, 0)[0]
    deep_first = expected_numbers(db_path, deep)[0]
    db = db_path.stem
    filt = "status=open&sort=-due_date"
    ds_filt = "status__exact=open&_sort_desc=due_date"
    token = urllib.parse.quote(keyset_token(db_path, deep), safe="")
    page_no = deep // 50 + 1
    count_sql = urllib.parse.urlencode(
        {"sql": f"select count(*) from {TABLE} where status = 'open'", "_shape": "array"}
    )
    return [
        # the first page: targets apply
        Endpoint(
            "html", "formwork", f"/receivables/invoice/?{filt}", session, html_rows(first), n, w
        ),
        Endpoint(
            "json (Basic)",
            "formwork",
            f"/api/receivables/invoice?{filt}&limit=50",
            basic,
            json_rows("data", first),
            n,
            w,
        ),
        Endpoint(
            "json (session)",
            "formwork",
            f"/api/receivables/invoice?{filt}&limit=50",
            session,
            json_rows("data", first),
            n,
            w,
        ),
        Endpoint("html", "datasette", f"/{db}/{TABLE}?{ds_filt}", {}, html_rows(None), n, w),
        Endpoint(
            "json",
            "datasette",
            f"/{db}/{TABLE}.json?{ds_filt}&_shape=objects",
            {},
            json_rows("rows", None),
            n,
            w,
        ),
        Endpoint(
            "json, no count",
            "datasette",
            f"/{db}/{TABLE}.json?{ds_filt}&_shape=objects&_nocount=1",
            {},
            json_rows("rows", None),
            n,
            w,
        ),
        # a deep page and the count: no targets
        Endpoint(
            f"html page {page_no}",
            "formwork",
            f"/receivables/invoice/?{filt}&page={page_no}",
            session,
            html_rows(deep_first),
            dn,
            dw,
        ),
        Endpoint(
            f"json offset {deep}",
            "formwork",
            f"/api/receivables/invoice?{filt}&limit=50&offset={deep}",
            session,
            json_rows("data", deep_first),
            dn,
            dw,
        ),
        Endpoint(
            "count (cap 10,000)",
            "formwork",
            "/receivables/invoice/count?status=open",
            session,
            json_count,
            dn,
            dw,
        ),
        Endpoint(
            f"html keyset at {deep}",
            "datasette",
            f"/{db}/{TABLE}?{ds_filt}&_next={token}",
            {},
            html_rows(None),
            dn,
            dw,
        ),
        Endpoint(
            f"json keyset at {deep}",
            "datasette",
            f"/{db}/{TABLE}.json?{ds_filt}&_shape=objects&_next={token}",
            {},
            json_rows("rows", None),
            dn,
            dw,
        ),
        Endpoint(
            "count (SQL, exact)", "datasette", f"/{db}.json?{count_sql}", {}, json_count, dn, dw
        ),
    ]


def timed_out(resp: Response) -> bool:
    """Datasette's answer when a query runs past its time limit (1 s): measured all the same."""
    return resp.status == 400 and b"took too long" in resp.body


def measure(endpoint: Endpoint, port: int) -> Result:
    client = Client(port, endpoint.headers)
    try:
        first = client.get(endpoint.path)
        problem = endpoint.check(first)
        if problem and not timed_out(first):
            return Result(endpoint, None, f"not measured: {problem}")
        for _ in range(endpoint.warmup):
            client.get(endpoint.path)
        times, failed = [], {}
        for _ in range(endpoint.requests):
            resp = client.get(endpoint.path)
            if resp.status != 200:
                failed[resp.status] = failed.get(resp.status, 0) + 1
            times.append(resp.seconds)
        note = ", ".join(f"{n} answered HTTP {status}" for status, n in failed.items())
        if timed_out(first):
            note += " (Datasette: SQL time limit exceeded)"
        return Result(endpoint, summary_ms(times), note, len(first.body))
    finally:
        client.close()


def print_results(results: list[Result]) -> None:
    print(
        f"\n{'server':<10} {'endpoint':<22} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'bytes':>8}"
    )
    for r in results:
        e = r.endpoint
        if r.stats is None:
            print(f"{e.server:<10} {e.name:<22} {'':>4} {r.note}")
            continue
        s = r.stats
        print(
            f"{e.server:<10} {e.name:<22} {e.requests:>4} {s['p50']:8.1f} {s['p90']:8.1f} "
            f"{s['p99']:8.1f} {s['max']:8.1f} {r.size:>8}  {r.note}"
        )


def print_verdict(results: list[Result]) -> None:
    by = {(r.endpoint.server, r.endpoint.name): r.stats for r in results}
    pairs = [
        ("html", "html"),
        ("json (Basic)", "json"),
        ("json (session)", "json"),
        ("json (Basic)", "json, no count"),
        ("json (session)", "json, no count"),
    ]
    print("\nFormwork / Datasette, first page (below 1.00 = Formwork faster):")
    for fw_name, ds_name in pairs:
        fw, ds = by.get(("formwork", fw_name)), by.get(("datasette", ds_name))
        if not fw or not ds:
            print(f"  {fw_name:<16} vs {ds_name:<16} n/a")
            continue
        ratios = "  ".join(f"{p} {fw[p] / ds[p]:5.2f}" for p in ("p50", "p90", "p99"))
        target = "MEETS" if fw["p99"] < TARGET_P99_MS and fw["p99"] <= ds["p99"] else "MISSES"
        print(f"  {fw_name:<16} vs {ds_name:<16} {ratios}   target: {target}")
    print(f"  (target: Formwork p99 < {TARGET_P99_MS:.0f} ms and no slower than Datasette)")


def run(args: argparse.Namespace) -> int:
    if args.data:
        db_path = Path(args.data).resolve()  # as it is: no fill, no schema check
    else:
        db_path = bigfill.ensure(args.rows, args.customers, args.refill)
    bigfill.add_bench_user(db_path)
    OUT.mkdir(parents=True, exist_ok=True)

    def formwork():
        return _start_formwork(
            db_path, OUT / "formwork-server.log", args.threads, args.formwork_pythonpath
        )

    def datasette():
        return start_datasette(db_path, OUT / "datasette-server.log")

    results: list[Result] = []
    started = time.perf_counter()
    print(describe_machine())
    with running(formwork, datasette) as (fw, ds):
        print(f"formwork (gunicorn, 1 worker, {args.threads} threads) on 127.0.0.1:{fw.port}")
        print(f"datasette (immutable) on 127.0.0.1:{ds.port}")
        session = session_login(fw.port, bigfill.USER, bigfill.PASSWORD)
        basic = basic_auth(bigfill.USER, bigfill.PASSWORD)
        ports = {"formwork": fw.port, "datasette": ds.port}
        for endpoint in endpoints(db_path, args, session, basic):
            result = measure(endpoint, ports[endpoint.server])
            results.append(result)
            status = f"p50 {result.stats['p50']:.1f} ms" if result.stats else result.note
            print(f"  {endpoint.server:<10} {endpoint.name:<22} {status}", flush=True)
    print_results(results)
    print_verdict(results)
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s; {describe_machine()}")
    (OUT / "list_latency.json").write_text(
        json.dumps(
            [
                {
                    "server": r.endpoint.server,
                    "endpoint": r.endpoint.name,
                    "path": r.endpoint.path,
                    "requests": r.endpoint.requests,
                    "stats_ms": r.stats,
                    "note": r.note,
                }
                for r in results
            ],
            indent=2,
        )
    )
    if args.diagnose:
        import diagnose

        diagnose.report(db_path, args.offset)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--refill", action="store_true", help="fill the data file again")
    parser.add_argument(
        "--data", help="measure this SQLite file instead (a filled copy with an extra index, say)"
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--deep-requests", type=int, default=50, help="timed requests of the deep page and count"
    )
    parser.add_argument("--offset", type=int, default=50_000, help="offset of the deep page")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads")
    parser.add_argument(
        "--formwork-pythonpath",
        help="serve Formwork from this checkout instead (to measure a prototype of a fix)",
    )
    parser.add_argument(
        "--no-diagnose",
        dest="diagnose",
        action="store_false",
        help="skip the per-statement SQL timing and query plans",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
