"""Where a Formwork list request spends its time: each SQL statement, its plan, and Python.

Runs the web app in-process (Flask's test client, no HTTP) on the filled file,
records every statement the request sends with its duration, shows SQLite's
EXPLAIN QUERY PLAN for each, and profiles a few requests of the HTML page. Used by
list_latency.py after the HTTP figures; runnable alone:

    .venv/bin/python bench/diagnose.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import bigfill
import sqlalchemy as sa
from benchdata import summary_ms
from servers import basic_auth

OUT = Path(__file__).resolve().parent / "out"


class Recorder:
    """Every statement sent on an engine, with its parameters and time."""

    def __init__(self, engine: sa.Engine):
        self.statements: list[tuple[str, Any, float]] = []
        self.on = False
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on:
            took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
            self.statements.append((statement, parameters, took))


def plan(db_path: Path, statement: str, parameters: Any) -> list[str]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
    finally:
        conn.close()
    return [row[-1] for row in rows]


def report(db_path: Path, offset: int = 50_000) -> None:
    from web import create_app

    app = create_app(
        {
            "DATABASE_URL": bigfill.url(db_path),
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
        }
    )
    recorder = Recorder(app.extensions["formwork"].db.engine)
    session = app.test_client()
    login = session.post("/login", data={"username": bigfill.USER, "password": bigfill.PASSWORD})
    if login.status_code not in (302, 303):
        print(f"diagnose: log-in failed (HTTP {login.status_code})")
        return
    basic = app.test_client()  # no session cookie: every request authenticates by HTTP Basic
    page_no = offset // 50 + 1
    paths = [
        ("html, first page", "/receivables/invoice/?status=open&sort=-due_date", {}),
        ("json, first page", "/api/receivables/invoice?status=open&sort=-due_date&limit=50", {}),
        (
            "json, first page, HTTP Basic (no session)",
            "/api/receivables/invoice?status=open&sort=-due_date&limit=50",
            basic_auth(bigfill.USER, bigfill.PASSWORD),
        ),
        (
            f"html, page {page_no}",
            f"/receivables/invoice/?status=open&sort=-due_date&page={page_no}",
            {},
        ),
        ("count", "/receivables/invoice/count?status=open", {}),
    ]
    print("\n=== in-process (Flask test client, no HTTP): statements per request ===")
    for title, path, headers in paths:
        client = basic if "Authorization" in headers else session
        for _ in range(3):
            client.get(path, headers=headers)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            resp = client.get(path, headers=headers)
            times.append(time.perf_counter() - start)
        recorder.statements.clear()
        recorder.on = True
        client.get(path, headers=headers)
        recorder.on = False
        sql_ms = sum(t for _, _, t in recorder.statements) * 1000
        stats = summary_ms(times)
        print(
            f"\n--- {title}: {path}\n    HTTP {resp.status_code}, p50 {stats['p50']:.1f} ms over 10"
            f" requests; {len(recorder.statements)} statements, {sql_ms:.1f} ms in SQL"
        )
        for statement, parameters, took in recorder.statements:
            flat = " ".join(statement.split())
            print(f"    {took * 1000:7.2f} ms  {flat[:160]}{'...' if len(flat) > 160 else ''}")
            print(f"               params {str(parameters)[:120]}")
            if flat.lower().startswith("select"):
                for line in plan(db_path, statement, parameters):
                    print(f"               plan: {line}")
    profile_html(session, paths[0][1])


def profile_html(client: Any, path: str, n: int = 30) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        client.get(path)
    profiler.disable()
    OUT.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(OUT / "list_html.prof"))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(web|engine)/", 25)
    print(f"\n=== cProfile of {n} requests of {path} (saved to bench/out/list_html.prof) ===")
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--offset", type=int, default=50_000)
    args = parser.parse_args(argv)
    path = bigfill.ensure(args.rows, args.customers)
    bigfill.add_bench_user(path)
    report(path, args.offset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
