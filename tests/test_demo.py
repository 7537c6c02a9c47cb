"""The demo data: deterministic, relative to today, consistent, and loaded once."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from decimal import Decimal

import pytest

from engine import clock, demo
from engine.appdef import AppSet
from engine.auth import authenticate
from engine.errors import FormworkError
from engine.permissions import Principal
from engine.storage import Filter

TODAY = dt.date(2026, 5, 20)


@pytest.fixture(scope="module")
def plan() -> demo.Plan:
    return demo.build_plan(TODAY)


def test_the_plan_is_the_same_for_the_same_day_and_seed(plan):
    assert demo.build_plan(TODAY) == plan
    assert demo.build_plan(TODAY, seed=7) != plan
    moved = demo.build_plan(TODAY + dt.timedelta(days=30))
    assert moved.invoices[0]["issue_date"] > plan.invoices[0]["issue_date"]


def test_customers_are_plausible_and_mostly_in_euro(plan):
    assert len(plan.customers) == 40
    assert len({c["name"] for c in plan.customers}) == 40
    currencies = Counter(c["currency"] for c in plan.customers)
    assert currencies.most_common(1)[0][0] == "EUR"
    assert {"USD", "GBP", "CHF", "JPY"} <= set(currencies)
    assert all(c["email"].endswith(".example") for c in plan.customers)  # never a real inbox
    assert "ACME GmbH" in {c["name"] for c in plan.customers}


def test_invoices_span_eight_months_with_every_state(plan):
    assert len(plan.invoices) == 400
    numbers = [i["number"] for i in plan.invoices]
    assert len(set(numbers)) == 400
    assert all(re.fullmatch(r"INV-\d{4}-\d{4}", n) for n in numbers)
    issued = [i["issue_date"] for i in plan.invoices]
    assert TODAY - dt.timedelta(days=demo.DAYS + 3) <= min(issued)
    assert max(issued) < TODAY
    assert all(i["due_date"] >= i["issue_date"] for i in plan.invoices)
    paid: Counter[int] = Counter()
    for a in plan.allocations:
        paid[a["invoice"]] += a["amount"]
    states = Counter(
        "paid" if paid[n] == i["amount"] else "partial" if paid[n] else "open"
        for n, i in enumerate(plan.invoices)
    )
    overdue_open = sum(
        1 for n, i in enumerate(plan.invoices) if not paid[n] and i["due_date"] < TODAY
    )
    assert states["paid"] > 150 and states["partial"] > 10 and overdue_open > 60


def test_money_is_decimal_and_allocations_never_take_too_much(plan):
    for inv in plan.invoices:
        assert isinstance(inv["amount"], Decimal) and inv["amount"] > 0
        if inv["currency"] == "JPY":
            assert inv["amount"] == inv["amount"].to_integral_value()
    per_invoice: Counter[int] = Counter()
    per_line: dict[int, Decimal] = {}
    for a in plan.allocations:
        per_invoice[a["invoice"]] += a["amount"]
        key = id(a["bank_line"])
        per_line[key] = per_line.get(key, Decimal(0)) + a["amount"]
        assert (
            a["currency"] == a["bank_line"]["currency"] == plan.invoices[a["invoice"]]["currency"]
        )
        assert a["bank_line"]["date"] < TODAY
    assert all(per_invoice[n] <= plan.invoices[n]["amount"] for n in per_invoice)
    lines = {id(b): b for b in plan.bank_lines}
    assert all(total <= lines[key]["amount"] for key, total in per_line.items())


def test_bank_lines_read_like_a_statement(plan):
    assert 250 <= len(plan.bank_lines) + len(plan.statement) <= 350
    memos = [b["memo"] for b in [*plan.bank_lines, *plan.statement]]
    assert any(re.fullmatch(r"INV-\d{4}-\d{4} ACME GmbH", m) for m in memos)
    assert "payment" in memos
    allocated = {id(a["bank_line"]) for a in plan.allocations}
    history = [b for b in plan.bank_lines if b["amount"] > 0]
    assert all(id(b) in allocated for b in history)  # earlier statements: matched
    assert len(plan.statement) >= 40  # the latest: work for the rules and the clerk
    assert [b["date"] for b in plan.bank_lines] == sorted(b["date"] for b in plan.bank_lines)
    assert [b["date"] for b in plan.statement] == sorted(b["date"] for b in plan.statement)
    assert all(TODAY - dt.timedelta(days=14) <= b["date"] < TODAY for b in plan.statement)
    for b in [*plan.bank_lines, *plan.statement]:
        iban = b.get("counterparty_iban")
        if iban:  # a valid IBAN check digit
            digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
            assert int(digits) % 97 == 1, iban


def test_collections_chase_overdue_invoices(plan):
    assert plan.tasks and plan.contacts and plan.promises
    for task in plan.tasks:
        invoice = plan.invoices[task["invoice"]]
        assert invoice["due_date"] < TODAY
        assert task["customer"] == invoice["customer"]
    assert "collector" in {t["assigned_to"] for t in plan.tasks}
    assert {"open", "in_progress", "done"} <= {t["status"] for t in plan.tasks}
    for promise in plan.promises:
        assert promise["customer"] == plan.invoices[promise["invoice"]]["customer"]
    for contact in plan.contacts:
        assert contact["contacted_at"].tzinfo is not None
        assert contact["contacted_at"].date() < TODAY
    assert {"open", "broken", "kept"} <= {p["status"] for p in plan.promises}


def test_load_fills_an_empty_database_once(db):
    moment = dt.datetime(2026, 5, 20, 9, 0, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        assert demo.load(db) is True
        counts = demo.counts(db)
        assert demo.load(db) is False
    assert demo.counts(db) == counts
    assert counts["receivables.customer"] == 40
    assert counts["receivables.invoice"] == 400
    assert 250 <= counts["receivables.bank_line"] <= 350
    repo = db.repository(Principal.system("tester"))
    states = {
        s: repo.count("receivables.invoice", [Filter("status", "eq", s)])
        for s in ("paid", "partial", "open", "disputed", "overdue", "written_off")
    }
    assert all(states.values()) and sum(states.values()) == 400, states
    overdue = repo.count(
        "receivables.invoice",
        [Filter("open_amount", "gt", 0), Filter("due_date", "lt", "2026-05-10")],
    )
    assert overdue > 60
    acme = repo.query("receivables.customer", [Filter("name", "eq", "ACME GmbH")]).rows[0]
    assert acme["balance"] > 0 and acme["created_by"] == "demo"


def test_demo_users_log_in_with_the_printed_passwords(db):
    for username, password, role in demo.add_users(db):
        user = authenticate(db, username, password)
        assert user is not None and user.role == role
        assert len(password) >= 8


def test_the_demo_refuses_apps_without_its_entities(appset):
    demo.check_apps(appset)
    with pytest.raises(FormworkError, match=r"missing: receivables\.customer"):
        demo.check_apps(AppSet({}))


def test_the_demo_has_schedules_credit_notes_and_write_offs(db):
    with clock.frozen_at(dt.datetime(2026, 5, 20, 9, 0, tzinfo=dt.UTC)):
        demo.load(db)
    repo = db.repository(Principal.system("tester"))
    R = "receivables."
    assert repo.count(R + "payment_terms") == 2
    instalments = repo.query(R + "instalment", sort="due_date").rows
    assert len(instalments) == 6
    by_invoice: dict[int, list] = {}
    for row in instalments:
        by_invoice.setdefault(row["invoice"], []).append(row)
    statuses = set()
    for invoice_id, rows in by_invoice.items():
        invoice = repo.get(R + "invoice", invoice_id)
        assert sum(r["amount"] for r in rows) == invoice["amount"]
        statuses.add(invoice["status"])
    assert statuses == {"partial", "overdue"}  # one paid its first instalment, one did not
    notes = repo.query(R + "credit_note", sort="number").rows
    assert [n["reason"] for n in notes] == ["returned_goods", "cancellation", "price_correction"]
    assert notes[1]["unallocated_amount"] == 0
    assert repo.get(R + "invoice", notes[1]["invoice"])["status"] == "paid"  # cancelled by credit
    assert notes[2]["unallocated_amount"] == Decimal("150.00")  # lowers the balance only
    offs = repo.query(R + "write_off", sort="id").rows[:3]  # the history's; then the rules'
    assert [w["reason"] for w in offs] == ["bank_fee", "small_difference", "bad_debt"]
    assert [repo.get(R + "invoice", w["invoice"])["status"] for w in offs] == [
        "paid", "paid", "written_off",
    ]  # fmt: skip
    assert offs[1]["rule"] and not offs[0]["rule"]


def test_the_latest_statement_is_imported_and_matched_leaving_work_for_the_clerk(db, tmp_path):
    """Most lines settled by the rules, some suggestions to confirm, a few left with the
    reasons why; imported through the bank_csv profile, so importing it again adds nothing."""
    with clock.frozen_at(dt.datetime(2026, 5, 20, 9, 0, tzinfo=dt.UTC)):
        story = demo.build(db)
    assert story is not None
    plan = demo.build_plan(TODAY)
    repo = db.repository(Principal.system("tester"))
    R = "receivables."
    (statement,) = repo.query(R + "bank_statement").rows
    assert statement["profile"] == "bank_csv" and statement["entries"] == len(plan.statement)
    assert story.imported.created == len(plan.statement)
    run = story.run
    assert run.lines == len(plan.statement)
    assert run.auto >= 0.7 * run.lines  # most lines matched
    assert 3 <= run.suggested <= 0.2 * run.lines and 3 <= run.unmatched <= 0.15 * run.lines
    (recorded,) = repo.query(R + "reconcile_run").rows
    assert recorded["status"] == "done" and recorded["auto"] == run.auto
    lines = repo.query(R + "bank_line", [Filter("statement", "eq", statement["id"])], limit=500)
    settled = [b for b in lines.rows if b["unallocated_amount"] == 0]
    assert len(settled) == run.auto
    open_ = [s for s in repo.query(R + "match_suggestion", limit=500).rows if s["status"] == "open"]
    matches = [s for s in open_ if s["kind"] == "match"]
    assert len(matches) == run.suggested and all(s["reasons"] and s["rule"] for s in matches)
    exceptions = [s for s in open_ if s["kind"] == "exception"]
    assert len(exceptions) == run.unmatched
    for s in exceptions:  # each rule tried, with why it did not fire
        tried = json.loads(s["reasons"])
        assert len(tried) == len(demo_rules(db)) and all(t["rule"] and t["msgid"] for t in tried)
    assert "The invoice was already paid" in {s["difference_reason"] for s in exceptions}
    payers = {repo.get(R + "bank_line", s["bank_line"])["counterparty"] for s in exceptions}
    assert "Stripe Technology Europe Ltd" in payers

    from engine.demo_statement import PROFILE, statement_csv
    from engine.imports import import_file

    path = tmp_path / "again.csv"
    statement_csv(plan.statement, path)
    profile = db.appset.apps[PROFILE[0]].imports[PROFILE[1]]
    again = import_file(repo, profile, path)
    assert again.created == 0 and again.skipped == len(plan.statement)


def demo_rules(db) -> list:
    from engine.rules.run import matching_of

    return list(matching_of(db.appset).rules)
