"""Matching runs as a whole: recorded, locked against each other, all or nothing, and the
`formwork reconcile` commands over them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.errors import Conflict, ValidationError
from engine.permissions import Principal
from engine.rules import run as run_module
from engine.rules.service import Reconciliation
from engine.storage import Database
from tests.test_concurrency import all_at_once

R = "receivables."
CLERK = Principal.system("clerk-run")
LINES = 12


def seed(db: Database, lines: int = LINES) -> list[int]:
    repo = db.repository(Principal.system("setup"))
    customer = repo.create(R + "customer", {"name": "Run GmbH"})
    repo.bulk_create(
        R + "invoice",
        [
            {
                "number": f"INV-{n:06d}",
                "customer": customer["id"],
                "issue_date": "2026-01-05",
                "amount": 100 + n,
            }
            for n in range(1, lines + 1)
        ],
    )
    return repo.bulk_create(
        R + "bank_line",
        [
            {"date": "2026-02-01", "amount": 100 + n, "currency": "EUR", "memo": f"INV{n:06d}"}
            for n in range(1, lines + 1)
        ],
    )


def allocations(db: Database) -> list[dict[str, Any]]:
    return db.repository(CLERK).query(R + "allocation", sort="id", limit=1000).rows


def test_a_run_is_recorded_and_explains_its_allocations(db: Database) -> None:
    seed(db)
    result = Reconciliation(db, CLERK).run()
    assert (result.lines, result.auto, result.allocations) == (LINES, LINES, LINES)
    (record,) = db.repository(CLERK).query(R + "reconcile_run").rows
    assert record["status"] == "done" and record["started_by"] == "clerk-run"
    assert record["auto"] == LINES and record["definitions_version"] == result.definitions_version
    assert record["seconds"] >= 0 and record["finished_at"] >= record["started_at"]
    first = allocations(db)[0]
    assert first["rule"] == "reference and amount" and first["run"] == record["id"]
    assert first["score"] == Decimal("100.0") and "INV-000001" in first["reasons"]
    again = Reconciliation(db, CLERK).run()  # nothing is left to match
    assert (again.lines, again.allocations) == (0, 0)


def test_two_runs_at_once_never_allocate_the_same_money_twice(db: Database) -> None:
    seed(db)
    results = all_at_once(lambda i: Reconciliation(db, Principal.system(f"r{i}")).run(), n=2)
    assert all(not isinstance(r, Exception) or isinstance(r, Conflict) for r in results), results
    assert sum(r.allocations for r in results if not isinstance(r, Exception)) == LINES
    per_line: dict[int, Decimal] = {}
    for a in allocations(db):
        per_line[a["bank_line"]] = per_line.get(a["bank_line"], Decimal(0)) + a["amount"]
    assert len(per_line) == LINES and len(allocations(db)) == LINES


def test_a_crash_mid_run_leaves_every_line_untouched(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_ids = seed(db)
    written = run_module.Run._bulk

    def crash(self: Any, name: str, records: Any, *rest: Any) -> int:
        count = written(self, name, records, *rest)
        if name == "allocation" and count:
            raise RuntimeError("power cut")
        return count

    monkeypatch.setattr(run_module.Run, "_bulk", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        Reconciliation(db, CLERK).run()
    assert allocations(db) == []
    repo = db.repository(CLERK)
    for line_id in line_ids:
        assert repo.get(R + "bank_line", line_id)["unallocated_amount"] > 0
    (failed,) = repo.query(R + "reconcile_run").rows
    assert failed["status"] == "failed" and "power cut" in failed["error"]


def test_the_cli_runs_dry_then_for_real_and_explains(db: Database) -> None:
    lines = seed(db, 3)
    repo = db.repository(CLERK)
    repo.create(
        R + "bank_line",
        {
            "date": "2026-02-02",
            "amount": 7,
            "currency": "EUR",
            "memo": "no idea",
            "counterparty": "Nobody",
        },
    )
    runner = CliRunner()
    base = ["--database", db.url]
    dry = runner.invoke(cli, [*base, "reconcile", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert {k: data[k] for k in ("run", "dry_run", "lines", "auto", "unmatched")} == {
        "run": None,
        "dry_run": True,
        "lines": 4,
        "auto": 3,
        "unmatched": 1,
    }
    assert set(data) >= {
        "suggested",
        "pending",
        "amounts",
        "allocations",
        "write_offs",
        "by_rule",
        "by_class",
        "seconds",
        "definitions_version",
    }
    assert allocations(db) == []
    real = runner.invoke(cli, [*base, "reconcile"])
    assert real.exit_code == 0 and "3 matched" in real.stdout, real.output
    explained = runner.invoke(cli, [*base, "reconcile", "explain", str(lines[0] + 3), "--json"])
    assert explained.exit_code == 0, explained.output
    why = json.loads(explained.stdout)
    assert why["outcome"] == "unmatched"
    assert why["attempts"][0] == {
        "rule": "reference and amount",
        "fired": False,
        "reason": "no reference found in memo, reference, end_to_end_id",
        "msgid": "no reference found in %(fields)s",
    }
    assert any("Nobody" in a["reason"] for a in why["attempts"])
    text = runner.invoke(cli, [*base, "reconcile", "explain", str(lines[0])])
    assert "allocated 101.00 to invoice" in text.stdout, text.output
    missing = runner.invoke(cli, [*base, "reconcile", "explain", "999999"])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_people_cannot_match_what_is_settled_or_decide_twice(db: Database) -> None:
    lines = seed(db, 2)
    service = Reconciliation(db, CLERK)
    repo = db.repository(CLERK)
    invoice = repo.query(R + "invoice", sort="id").rows[0]
    service.match([lines[0]], [invoice["id"]])
    with pytest.raises(ValidationError, match="nothing is left open to match"):
        service.match([lines[0]], [invoice["id"]])
    with pytest.raises(ValidationError, match="one bank line"):
        service.match(lines, [invoice["id"]], [Decimal(1)])
    extra = repo.create(R + "bank_line", {"date": "2026-02-03", "amount": 102, "currency": "EUR"})
    service.run()  # nobody is recognised and there is no reference: an exception, no proposal
    assert [s["bank_line"] for s in service.suggestions()] == []
    (exception,) = service.suggestions(kind="exception")
    assert exception["bank_line"] == extra["id"]
    with pytest.raises(ValidationError, match="not open to decide"):
        service.confirm(exception["id"])
    service.reject(exception["id"])
    with pytest.raises(ValidationError, match="not open to decide"):
        service.reject(exception["id"])
