"""Invoice status follows the money and the date: overdue comes with the daily refresh and
is then a stored value that filters and the status index read, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from click.testing import CliRunner

from engine import clock
from engine.cli import cli
from engine.storage import Database, Filter, RecordEvent, Repository
from engine.storage.daily import refresh_daily

D = Decimal
R = "receivables."


@contextmanager
def on(day: str) -> Iterator[None]:
    with clock.frozen_at(dt.datetime.fromisoformat(f"{day}T09:00:00+00:00")):
        yield


def make(repo: Repository, entity: str, **values: Any) -> dict[str, Any]:
    return repo.create(R + entity, values)


def status(repo: Repository, row: dict[str, Any], entity: str = "invoice") -> str:
    got = repo.get(R + entity, row["id"])
    assert got is not None
    return got["status"]


def overdue(repo: Repository) -> list[str]:
    page = repo.query(R + "invoice", [Filter("status", "eq", "overdue")], sort="number")
    return [r["number"] for r in page.rows]


def setup(repo: Repository) -> tuple[dict[str, Any], dict[str, Any]]:
    cust = make(repo, "customer", name="Acme", payment_terms_days=30)
    inv = make(repo, "invoice", number="INV-1", customer=cust["id"], issue_date="2026-01-01",
               amount="100.00")  # fmt: skip
    return cust, inv


def test_an_invoice_becomes_overdue_the_day_after_its_due_date(db: Database, repo):
    with on("2026-01-20"):
        _, inv = setup(repo)
        assert inv["due_date"] == dt.date(2026, 1, 31)
        assert status(repo, inv) == "open"
    with on("2026-01-31"):
        assert refresh_daily(db)["receivables.invoice"] == 0
        assert status(repo, inv) == "open"
    heard: list[RecordEvent] = []
    db.listeners.append(lambda event, conn: heard.append(event))
    with on("2026-02-01"):
        assert overdue(repo) == []  # a day behind until the refresh runs
        assert refresh_daily(db)["receivables.invoice"] == 1
        assert overdue(repo) == ["INV-1"]
        assert [(e.kind, e.entity, e.changed) for e in heard] == [
            ("updated", R + "invoice", {"status"})
        ]
        assert refresh_daily(db)["receivables.invoice"] == 0  # nothing more to change
        line = make(repo, "bank_line", date="2026-02-01", amount="40.00")
        make(repo, "allocation", bank_line=line["id"], invoice=inv["id"], amount="40.00")
        assert status(repo, inv) == "overdue"  # partly paid, still late
        repo.update(R + "invoice", inv["id"], {"disputed": True})
        assert status(repo, inv) == "disputed"
        repo.update(R + "invoice", inv["id"], {"disputed": False})
        make(repo, "write_off", invoice=inv["id"], amount="60.00", reason="bad_debt")
        assert status(repo, inv) == "written_off"
        assert overdue(repo) == []


def test_a_write_on_a_late_invoice_makes_it_overdue_at_once(repo):
    with on("2026-01-20"):
        _, inv = setup(repo)
    with on("2026-03-01"):
        repo.update(R + "invoice", inv["id"], {"description": "called them"})
        assert status(repo, inv) == "overdue"


def test_a_missed_instalment_makes_the_invoice_overdue(db: Database, repo):
    with on("2026-01-02"):
        cust, _ = setup(repo)
        sched = make(repo, "payment_terms", name="30/50/20")
        for percent, days in (("30", 30), ("50", 60), ("20", 90)):
            make(repo, "payment_terms_line", payment_terms=sched["id"], percent=percent,
                 days=days)  # fmt: skip
        inv = make(repo, "invoice", number="INV-2", customer=cust["id"], issue_date="2026-01-01",
                   amount="1000.00", payment_terms=sched["id"])  # fmt: skip
        assert inv["due_date"] == dt.date(2026, 4, 1)  # the last instalment's
        assert status(repo, inv) == "open"
    with on("2026-02-05"):  # the first instalment (due 31 January) is late
        counts = refresh_daily(db)
        assert counts == {R + "invoice": 1, R + "instalment": 1}
        got = repo.get(R + "invoice", inv["id"])
        assert got is not None
        assert (got["status"], got["overdue_amount"]) == ("overdue", D("300.00"))
        assert overdue(repo) == ["INV-1", "INV-2"]
        line = make(repo, "bank_line", date="2026-02-05", amount="300.00")
        make(repo, "allocation", bank_line=line["id"], invoice=inv["id"], amount="300.00")
        got = repo.get(R + "invoice", inv["id"])
        assert got is not None
        assert (got["status"], got["overdue_amount"]) == ("partial", D("0.00"))
        statuses = [r["status"] for r in repo.query(R + "instalment", sort="number").rows]
        assert statuses == ["paid", "open", "open"]


def test_formwork_refresh_prints_what_changed(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    monkeypatch.setenv("FORMWORK_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    from engine.appdef import load_apps
    from engine.permissions import Principal

    db = Database(load_apps(["apps"]), url)
    with on("2026-01-20"):
        setup(db.repository(Principal.system("t")))
    db.dispose()
    with on("2026-02-02"):
        result = runner.invoke(cli, ["refresh"])
    assert result.exit_code == 0, result.output
    assert "receivables.invoice: 1 changed" in result.output.splitlines()
