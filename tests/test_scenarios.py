"""Matching scenarios as data: each tests/scenarios/*.yaml gives customers, invoices, bank
lines (and, optionally, its own `matching:` section) and what a run must leave behind.

    description: what the case shows
    matching: |            # optional: replaces the shipped apps' matching section
      ...
    given: {customers: [...], invoices: [...], bank_lines: [...], exchange_rates: [...]}
    steps: [{confirm: 1}, {reject: 1}, {undo: 1}, {run: true}]  # optional, after the run
    expect:
      allocations: [{line: 1, invoice: INV-1, amount: "100.00", rule: ...}]  # exactly these
      suggestions: [{line: 2, alternatives: [[INV-1], [INV-2]]}]             # open ones
      unmatched: [{line: 3, class: process_gap, reason: ...}]                # exceptions
      write_offs: [{invoice: INV-1, amount: "0.50", reason: small_difference}]
      invoices: {INV-1: {open_amount: "0.00", status: paid}}
      lines: {1: {unallocated_amount: "0.00"}}

Lines are named by their 1-based position in `bank_lines`, invoices by number, customers
by name. Each case runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.appdef import load_apps
from engine.permissions import Principal
from engine.rules.service import Reconciliation
from engine.rules.state import proposals_of

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
CASES = sorted((HERE / "scenarios").glob("*.yaml"))
R = "receivables."


def with_matching(folder: Path, matching: str | None) -> Path:
    """A copy of the shipped apps, its `matching:` section replaced when one is given."""
    shutil.copytree(APPS, folder)
    if matching is None:
        return folder
    path = folder / "receivables.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("matching:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "#", "\n")),
        len(lines),
    )
    path.write_text("".join([*lines[:start], matching, *lines[end:]]), encoding="utf-8")
    return folder


class World:
    """The records of one case and the names that point at them."""

    def __init__(self, repo: Any, given: dict[str, Any]):
        self.repo = repo
        self.customers: dict[str, int] = {}
        self.invoices: dict[str, int] = {}
        for c in given.get("customers", []):
            self.customers[c["name"]] = repo.create(R + "customer", c)["id"]
        for inv in given.get("invoices", []):
            values = {**inv, "customer": self.customers[inv["customer"]]}
            self.invoices[inv["number"]] = repo.create(R + "invoice", values)["id"]
        self.credit_notes: dict[str, int] = {}
        for note in given.get("credit_notes", []):
            values = {**note, "customer": self.customers[note["customer"]]}
            if "invoice" in note:
                values["invoice"] = self.invoices[note["invoice"]]
            self.credit_notes[note["number"]] = repo.create(R + "credit_note", values)["id"]
        for rate in given.get("exchange_rates", []):
            repo.create(R + "exchange_rate", rate)
        self.lines = repo.bulk_create(
            R + "bank_line", [{"currency": "EUR", **b} for b in given.get("bank_lines", [])]
        )
        self.line_no = {line_id: n for n, line_id in enumerate(self.lines, 1)}
        self.number = {i: n for n, i in self.invoices.items()}

    def rows(self, entity: str) -> list[dict[str, Any]]:
        return self.repo.query(R + entity, sort="id", limit=1000).rows


def money(value: Any) -> Decimal:
    return Decimal(str(value))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_scenario(case: Path, tmp_path: Path, repository_for: Any) -> None:
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    appset = load_apps([with_matching(tmp_path / "apps", spec.get("matching"))])
    repo = repository_for(appset)
    world = World(repo, spec["given"])
    service = Reconciliation(repo.db, Principal.system("scenario"))
    service.run()
    for step in spec.get("steps", []):
        do_step(service, world, step)
    check(world, spec["expect"])


def do_step(service: Reconciliation, world: World, step: dict[str, Any]) -> None:
    ((action, arg),) = step.items()
    if action == "run":
        service.run()
    elif action in ("confirm", "reject"):
        open_ = [
            s
            for s in world.rows("match_suggestion")
            if s["kind"] == "match" and s["status"] == "open"
        ]
        chosen = next(s for s in open_ if world.line_no[s["bank_line"]] == arg)
        getattr(service, action)(chosen["id"])
    elif action == "undo":
        allocations = [
            a for a in world.rows("allocation") if world.line_no.get(a["bank_line"]) == arg
        ]
        service.undo_many([a["id"] for a in allocations])
    elif action == "match":
        service.match(
            [world.lines[n - 1] for n in arg["lines"]],
            [world.invoices[i] for i in arg["invoices"]],
            [money(a) for a in arg["amounts"]] if "amounts" in arg else None,
        )
    elif action == "accept_alias":
        alias = next(
            s for s in world.rows("match_suggestion") if s["kind"] == "alias" and s["alias"] == arg
        )
        service.accept_alias(alias["id"])
    else:
        raise AssertionError(f"unknown step {action}")


def check(world: World, expect: dict[str, Any]) -> None:
    if "allocations" in expect:
        got = [
            {
                "line": world.line_no[a["bank_line"]],
                "invoice": world.number[a["invoice"]],
                "amount": a["amount"],
                "rule": a["rule"],
            }
            for a in world.rows("allocation")
            if a["bank_line"] is not None
        ]
        wanted = [
            {
                "line": a["line"],
                "invoice": a["invoice"],
                "amount": money(a["amount"]),
                "rule": a.get("rule"),
            }
            for a in expect["allocations"]
        ]
        if any(w["rule"] is None for w in wanted):  # rules not named: not compared
            for a in [*got, *wanted]:
                a.pop("rule")
        assert sorted(got, key=str) == sorted(wanted, key=str)
    if "credit_allocations" in expect:
        notes = {i: n for n, i in world.credit_notes.items()}
        got_c = [
            {
                "credit_note": notes[a["credit_note"]],
                "invoice": world.number[a["invoice"]],
                "amount": a["amount"],
            }
            for a in world.rows("allocation")
            if a["credit_note"] is not None
        ]
        assert got_c == [{**c, "amount": money(c["amount"])} for c in expect["credit_allocations"]]
    suggestions = world.rows("match_suggestion")
    if "suggestions" in expect:
        got_s = [
            {
                "line": world.line_no[s["bank_line"]],
                "alternatives": [
                    [world.number[x["invoice"]] for x in alt] for alt in proposals_of(s["proposal"])
                ],
            }
            for s in suggestions
            if s["kind"] == "match" and s["status"] == "open"
        ]
        assert got_s == expect["suggestions"]
    if "unmatched" in expect:
        got_u = [
            {
                "line": world.line_no[s["bank_line"]],
                "class": s["difference_class"],
                **({"reason": s["difference_reason"]} if s["difference_reason"] else {}),
            }
            for s in suggestions
            if s["kind"] == "exception" and s["status"] == "open"
        ]
        wanted_u = [{"class": "none", **u} for u in expect["unmatched"]]
        assert got_u == wanted_u
    if "aliases" in expect:
        got_a = sorted(s["alias"] for s in suggestions if s["kind"] == "alias")
        assert got_a == sorted(expect["aliases"])
    if "write_offs" in expect:
        got_w = [
            {"invoice": world.number[w["invoice"]], "amount": w["amount"], "reason": w["reason"]}
            for w in world.rows("write_off")
        ]
        assert got_w == [{**w, "amount": money(w["amount"])} for w in expect["write_offs"]]
    for number, fields in (expect.get("invoices") or {}).items():
        row = world.repo.get(R + "invoice", world.invoices[number])
        for name, value in fields.items():
            assert str(row[name]) == str(value), (number, name, row[name])
    for n, fields in (expect.get("lines") or {}).items():
        row = world.repo.get(R + "bank_line", world.lines[n - 1])
        for name, value in fields.items():
            assert str(row[name]) == str(value), (n, name, row[name])
    for name, fields in (expect.get("customers") or {}).items():
        row = world.repo.get(R + "customer", world.customers[name])
        for field_name, value in fields.items():
            assert str(row[field_name]) == str(value), (name, field_name, row[field_name])
