"""Matching conserves money, whatever the data and the rules (hypothesis).

Random customers, invoices, credit notes already allocated, and bank lines whose memos
name invoices (rightly, with a typo, or not at all) and whose amounts pay them exactly,
partly, too much or nothing; a random subset of the shipped rules, in random order. After
a run, and after confirming every suggestion: for each line, what it gave is at most its
amount; for each invoice, open = amount - allocations - credits - write-offs, never
below zero. Undoing every allocation restores the start.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.appdef import AppSet, load_apps
from engine.errors import ValidationError
from engine.permissions import Principal
from engine.rules.service import Reconciliation
from engine.storage import Database
from tests.test_scenarios import with_matching

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
R = "receivables."
CENT = Decimal("0.01")
SYSTEM = Principal.system("property")


def shipped_matching() -> dict[str, Any]:
    text = (APPS / "receivables.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["matching"]


RULES = shipped_matching()["rules"]


@cache
def appset_with(rule_names: tuple[str, ...], folder: str) -> AppSet:
    """The shipped apps with only these rules, in this order (one folder per rule set)."""
    target = Path(folder) / "-".join(str(RULES.index(r)) for r in rules_named(rule_names))
    if not target.exists():
        section = {**shipped_matching(), "rules": rules_named(rule_names)}
        text = yaml.safe_dump({"matching": section}, allow_unicode=True, sort_keys=False)
        with_matching(target, text)
    return load_apps([target])


def rules_named(names: tuple[str, ...]) -> list[dict[str, Any]]:
    by_name = {r["name"]: r for r in RULES}
    return [by_name[n] for n in names]


amounts = st.integers(min_value=1, max_value=50_000).map(lambda c: Decimal(c) * CENT)
names = ["Müller Bau GmbH", "Acme Trading Ltd", "Nordwind AG"]
noisy = {
    "Müller Bau GmbH": "MUELLER BAU",
    "Acme Trading Ltd": "ACME TRADING LIMITED",
    "Nordwind AG": "NORDWIND",
}


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    invoices = [
        {
            "number": f"INV-{1000 + n:06d}",
            "customer": draw(st.sampled_from(names)),
            "amount": draw(amounts),
            "day": draw(st.integers(1, 28)),
        }
        for n in range(draw(st.integers(1, 7)))
    ]
    credits = []
    for inv in invoices:
        if draw(st.integers(0, 4)) == 0:
            credits.append({"invoice": inv["number"], "part": draw(st.integers(1, 100))})
    lines = []
    for _ in range(draw(st.integers(1, 7))):
        inv = draw(st.sampled_from(invoices))
        how = draw(st.sampled_from(["exact", "part", "more", "other", "double"]))
        amount = {
            "exact": inv["amount"],
            "part": max(
                CENT, (inv["amount"] * Decimal(draw(st.integers(1, 99))) / 100).quantize(CENT)
            ),
            "more": inv["amount"] + draw(amounts),
            "other": draw(amounts),
            "double": inv["amount"] * 2,
        }[how]
        memo = draw(
            st.sampled_from(
                [
                    inv["number"],
                    inv["number"].replace("-", ""),
                    f"inv {int(inv['number'][4:])}",
                    inv["number"][:-1] + "9",
                    "thanks",
                    "",
                ]
            )
        )
        counterparty = draw(st.sampled_from([inv["customer"], noisy[inv["customer"]], "Nobody"]))
        lines.append(
            {
                "amount": amount,
                "memo": memo,
                "counterparty": counterparty,
                "day": draw(st.integers(1, 28)),
            }
        )
    rules = draw(
        st.lists(
            st.sampled_from([r["name"] for r in RULES]),
            min_size=1,
            max_size=len(RULES),
            unique=True,
        )
    )
    return {
        "invoices": invoices,
        "credits": credits,
        "lines": lines,
        "rules": tuple(rules),
        "confirm": draw(st.booleans()),
    }


def sums(db: Database, table: str, key: str, value: str) -> dict[int, Decimal]:
    t = db.table(R + table)
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c[key], sa.func.sum(t.c[value]))
            .where(t.c[key].is_not(None))
            .group_by(t.c[key])
        ).all()
    return {k: Decimal(v) for k, v in rows}


def check_money(db: Database, repo: Any) -> None:
    taken = sums(db, "allocation", "bank_line", "source_amount")
    for line in repo.query(R + "bank_line", limit=100).rows:
        assert taken.get(line["id"], 0) <= line["amount"], line
        assert line["unallocated_amount"] == line["amount"] - taken.get(line["id"], 0)
    paid = sums(db, "allocation", "invoice", "amount")
    written = sums(db, "write_off", "invoice", "amount")
    for inv in repo.query(R + "invoice", limit=100).rows:
        expected = inv["amount"] - paid.get(inv["id"], 0) - written.get(inv["id"], 0)
        assert inv["open_amount"] == expected >= 0, inv


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("rule-sets"))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(world=worlds())
def test_matching_conserves_money_and_undo_restores_the_start(
    world: dict[str, Any], folder: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    appset = appset_with(world["rules"], folder)
    db = Database(appset, f"sqlite:///{tmp_path_factory.mktemp('db') / 'p.db'}")
    db.migrate()
    try:
        repo = db.repository(SYSTEM)
        customers = {n: repo.create(R + "customer", {"name": n})["id"] for n in names}
        invoices = {}
        for inv in world["invoices"]:
            invoices[inv["number"]] = repo.create(
                R + "invoice",
                {
                    "number": inv["number"],
                    "customer": customers[inv["customer"]],
                    "issue_date": f"2026-01-{inv['day']:02d}",
                    "amount": inv["amount"],
                },
            )
        for credit in world["credits"]:
            inv = invoices[credit["invoice"]]
            amount = max(CENT, (inv["amount"] * credit["part"] / 100).quantize(CENT))
            note = repo.create(
                R + "credit_note",
                {
                    "number": f"CN-{inv['id']}",
                    "customer": inv["customer"],
                    "date": "2026-01-28",
                    "reason": "discount",
                    "amount": amount,
                },
            )
            repo.create(
                R + "allocation",
                {"credit_note": note["id"], "invoice": inv["id"], "amount": amount},
            )
        repo.bulk_create(
            R + "bank_line",
            [
                {
                    "date": f"2026-02-{line['day']:02d}",
                    "amount": line["amount"],
                    "currency": "EUR",
                    "memo": line["memo"],
                    "counterparty": line["counterparty"],
                }
                for line in world["lines"]
            ],
        )
        start_invoices = {r["id"]: r["open_amount"] for r in repo.query(R + "invoice").rows}
        start_lines = {r["id"]: r["unallocated_amount"] for r in repo.query(R + "bank_line").rows}
        service = Reconciliation(db, SYSTEM)
        service.run()
        check_money(db, repo)
        if world["confirm"]:
            for suggestion in service.suggestions(limit=100):
                # An earlier confirmation may have taken the money: refused, nothing written.
                with contextlib.suppress(ValidationError):
                    service.confirm(suggestion["id"])
            check_money(db, repo)
        service.run()
        check_money(db, repo)
        by_line = [
            a["id"]
            for a in repo.query(R + "allocation", limit=1000).rows
            if a["bank_line"] is not None
        ]
        service.undo_many(by_line)
        assert {r["id"]: r["open_amount"] for r in repo.query(R + "invoice").rows} == start_invoices
        assert {
            r["id"]: r["unallocated_amount"] for r in repo.query(R + "bank_line").rows
        } == start_lines
        assert repo.count(R + "write_off") == 0
    finally:
        db.dispose()
