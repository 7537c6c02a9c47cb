"""One matching run: read the state, decide every line, write the outcome in one transaction.

The run holds the database's write lock from its first read to its commit (SQLite: the
transaction begins with BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock,
and the lines and open invoices read FOR UPDATE), so two runs never allocate the same
money twice and nothing it read changes under it. Everything it writes (allocations,
write-offs, suggestions, the run's record) goes through the Repository in bulk, in that
one transaction: a crash leaves every line as it was, never half matched.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine import clock
from engine.appdef import AppSet, Entity
from engine.appdef.matching import Matching
from engine.errors import Conflict, FormworkError
from engine.gcpause import collecting_between_chunks
from engine.i18n import _
from engine.permissions import Principal
from engine.rules import classify as cls
from engine.rules.credits import allocation_of, load_credit_notes, settle_credit_notes
from engine.rules.customers import CustomerIndex
from engine.rules.evaluate import Evaluator, line_open
from engine.rules.outcome import (
    Decision,
    proposal_json,
    reasons_text_of,
    write_off_note,
)
from engine.rules.state import (
    ZERO,
    RunState,
    customer_rows,
    load_decisions,
    load_open_invoices,
    load_rates,
    rounded,
    source_columns,
    target_columns,
)
from engine.storage.database import Database
from engine.storage.records import CHUNK
from engine.storage.repository import Repository

Progress = Callable[[int, int], None]
LOCK_KEY = 0x666F726D776F726B  # "formwork" as a number: the advisory lock of matching runs
# Records per bulk_create: bounded memory, few statements (the parents are refreshed once).
WRITE_CHUNK = 10_000
LINE_MONEY = ("amount", "unallocated_amount", "allocated_amount")  # compared at their places


class NoMatchingRules(FormworkError):
    """The app definitions have no `matching:` section."""


def matching_of(appset: AppSet) -> Matching:
    for app in appset.apps.values():
        if app.matching is not None:
            return app.matching
    raise NoMatchingRules(_("no app has a `matching:` section: there are no rules to run"))


def sibling(appset: AppSet, matching: Matching, name: str) -> Entity | None:
    """An entity of the matching's app by name (allocation, write_off...), if it has one."""
    app = matching.source.split(".")[0]
    return appset.apps[app].entities.get(name)


@dataclass
class RunResult:
    """What a run did (or, dry, would do). `as_json` is the CLI's --json output."""

    definitions_version: str
    dry_run: bool
    run_id: int | None = None
    lines: int = 0
    auto: int = 0
    suggested: int = 0
    unmatched: int = 0
    pending: int = 0
    auto_amount: Decimal = ZERO
    suggested_amount: Decimal = ZERO
    unmatched_amount: Decimal = ZERO
    allocations: int = 0
    write_offs: int = 0
    credit_notes: int = 0
    seconds: float = 0.0
    by_rule: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "dry_run": self.dry_run,
            "definitions_version": self.definitions_version,
            "lines": self.lines,
            "auto": self.auto,
            "suggested": self.suggested,
            "unmatched": self.unmatched,
            "pending": self.pending,
            "amounts": {
                "auto": str(self.auto_amount),
                "suggested": str(self.suggested_amount),
                "unmatched": str(self.unmatched_amount),
            },
            "allocations": self.allocations,
            "write_offs": self.write_offs,
            "credit_notes": self.credit_notes,
            "by_rule": dict(sorted(self.by_rule.items())),
            "by_class": dict(sorted(self.by_class.items())),
            "seconds": round(self.seconds, 3),
        }


class Run:
    """One run of the rules, on one open transaction of `repo`."""

    def __init__(
        self, db: Database, repo: Repository, matching: Matching, conn: sa.Connection | None = None
    ):
        self.db, self.repo, self.matching = db, repo, matching
        self.conn = conn if conn is not None else repo.conn
        self.source = db.appset.entity(matching.source)
        self.target = db.appset.entity(matching.target)
        self.lines_table = db.table(matching.source)
        self.targets_table = db.table(matching.target)

    def _locked(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        return stmt.with_for_update() if self.db.dialect == "postgresql" else stmt

    def lock(self) -> None:
        if self.db.dialect != "postgresql":
            return  # SQLite: the write transaction, begun IMMEDIATE, is the lock
        got = self.conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(LOCK_KEY)))
        if not got.scalar_one():
            raise Conflict(_("another matching run is in progress; try again when it ends"))

    def load(self, line_ids: Iterable[int] | None = None) -> RunState:
        conn, table = self.conn, self.lines_table
        columns = source_columns(self.matching, table)
        keys = [c.name for c in columns]
        money_fields = [k for k in LINE_MONEY if k in keys]
        stmt = sa.select(*columns).where(table.c.amount > 0).order_by(table.c.date, table.c.id)
        if "unallocated_amount" in table.c:
            stmt = stmt.where(table.c.unallocated_amount > 0)

        def read(query: sa.Select[Any]) -> list[dict[str, Any]]:
            return [
                rounded(dict(zip(keys, values, strict=True)), money_fields)
                for values in conn.execute(self._locked(query))
            ]

        lines: list[dict[str, Any]] = []
        if line_ids is None:
            lines = read(stmt)
        else:
            wanted = sorted(set(line_ids))
            for start in range(0, len(wanted), CHUNK):
                lines += read(stmt.where(table.c.id.in_(wanted[start : start + CHUNK])))
            lines.sort(key=lambda r: (r["date"], r["id"]))
        invoices = load_open_invoices(
            conn, self.matching, self.targets_table, self.target, self._locked
        )
        customers = None
        if self.matching.customers is not None:
            ctable = self.db.table(self.matching.customers.entity)
            customers = CustomerIndex(
                self.matching.customers, customer_rows(conn, ctable, self.matching.customers)
            )
        rates_entity = sibling(self.db.appset, self.matching, "exchange_rate")
        rates = load_rates(conn, self.db.table(rates_entity.qualname) if rates_entity else None)
        suggestions = sibling(self.db.appset, self.matching, "match_suggestion")
        stable = self.db.table(suggestions.qualname) if suggestions else None
        ids = None if line_ids is None else [r["id"] for r in lines]
        rejected, pending = load_decisions(conn, stable, ids)
        return RunState(lines, invoices, customers, rates, rejected, pending)

    def decide(
        self, state: RunState, progress: Progress | None = None, explaining: bool = False
    ) -> list[Decision]:
        if self.matching.credit_notes is not None and not explaining:
            notes_table = self.db.table(self.matching.credit_notes)
            suggestions = sibling(self.db.appset, self.matching, "match_suggestion")
            stable = self.db.table(suggestions.qualname) if suggestions else None
            notes = load_credit_notes(self.conn, notes_table, self._locked, stable)
            state.credit_shares = settle_credit_notes(notes, state.invoices)
        evaluator = Evaluator(self.matching, state, self.source.fields, explaining)
        decisions = []
        total = len(state.lines)
        for n, line in enumerate(state.lines, 1):
            if line["id"] in state.pending:
                decisions.append(Decision(line["id"], kind="pending"))
            else:
                decision = evaluator.decide(line)
                evaluator.apply(decision)
                if not explaining:
                    decision.compact()
                decisions.append(decision)
            if progress is not None and (n % 1000 == 0 or n == total):
                progress(n, total)
        self.classify(state, decisions)
        return decisions

    # -- differences --------------------------------------------------------------------------

    def classify(self, state: RunState, decisions: list[Decision]) -> None:
        if not self.matching.differences:
            return
        lines = {r["id"]: r for r in state.lines}
        paid_before = self._paid_invoices(state, decisions)
        for decision in decisions:
            if decision.kind in ("pending", "skipped"):
                continue
            line = lines[decision.line]
            facts = self._facts(state, decision, line, paid_before)
            if facts is None:
                continue
            found = cls.classify(self.matching, facts)
            if found is not None:
                decision.difference_class, _name, decision.difference_reason = found

    def _facts(
        self,
        state: RunState,
        decision: Decision,
        line: dict[str, Any],
        paid_before: dict[int, list[dict[str, Any]]],
    ) -> dict[str, Any] | None:
        paid = line_open(line)
        flags = {k: bool(decision.facts.get(k)) for k in ("other_customer", "customer_found")}
        best = decision.best
        if best is not None:
            difference = sum((s.difference for s in best.shares), ZERO)
            if not difference and best.allocated >= paid:
                return None
            first = state.invoices.items[best.shares[0].invoice]
            allocated = sum((s.amount for s in best.shares), ZERO)
            owed = allocated - min(difference, ZERO)
            return cls.facts_for(line, first.row, owed + difference, owed, **flags)
        settled = decision.facts.get("already_paid")
        if settled is not None:
            return cls.facts_for(line, settled.row, paid, ZERO, already_paid=True, **flags)
        customer = decision.facts.get("customer")
        target: dict[str, Any] | None = None
        expected: Decimal | None = None
        if customer is not None:
            for row in paid_before.get(customer, ()):
                if row["amount"] == paid:
                    return cls.facts_for(line, row, paid, ZERO, already_paid=True, **flags)
            nearest = state.invoices.nearest(customer, paid)
            if nearest is not None:
                target, expected = nearest.row, nearest.open
        return cls.facts_for(line, target, paid, expected, **flags)

    def _paid_invoices(
        self, state: RunState, decisions: list[Decision]
    ) -> dict[int, list[dict[str, Any]]]:
        """Settled invoices of the customers of unmatched lines whose references name
        nothing open, for `already_paid` (paid before this run: one query per chunk)."""
        customers = sorted(
            {
                d.facts["customer"]
                for d in decisions
                if d.kind == "unmatched"
                and d.facts.get("dangling")
                and not d.facts.get("already_paid")
                and d.facts.get("customer") is not None
            }
        )
        finding = self.matching.customers
        table = self.targets_table
        if not customers or finding is None or "open_amount" not in table.c:
            return {}
        ref = table.c[finding.target_field]
        columns = target_columns(self.matching, table)
        keys = [c.name for c in columns]
        found: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(customers), CHUNK):
            stmt = sa.select(*columns).where(
                ref.in_(customers[start : start + CHUNK]), table.c.open_amount <= 0
            )
            for values in self.conn.execute(stmt):
                row = rounded(dict(zip(keys, values, strict=True)), ("amount", "open_amount"))
                found.setdefault(row[finding.target_field], []).append(row)
        return found

    # -- writing ------------------------------------------------------------------------------

    def write(
        self,
        run_id: int | None,
        state: RunState,
        decisions: list[Decision],
        collect: Callable[[], None] = lambda: None,
    ) -> RunResult:
        """Write what the decisions say, WRITE_CHUNK records per `bulk_create` (built as
        they go, so memory holds one chunk), the parents over them refreshed once at the
        end; `collect` runs between chunks (the cyclic collector is paused for the run)."""
        lines = {r["id"]: r for r in state.lines}
        result = summarise(self.matching, decisions, lines, dry_run=run_id is None)
        result.run_id = run_id
        result.credit_notes = len({c.credit_note for c in state.credit_shares})
        if run_id is None:
            return result
        writes_off = sibling(self.db.appset, self.matching, "write_off") is not None
        with self.repo.deferred_refresh():
            self._supersede([d.line for d in decisions if d.kind != "pending"])
            autos = [d for d in decisions if d.kind == "auto" and d.best is not None]
            result.allocations = self._bulk(
                "allocation",
                (
                    self._allocation(run_id, d, lines[d.line], share)
                    for d in autos
                    for share in d.best.shares  # type: ignore[union-attr]
                ),
                collect,
            )
            if writes_off:
                result.write_offs = self._bulk(
                    "write_off",
                    (
                        self._write_off(d, lines[d.line], share)
                        for d in autos
                        for share in d.best.shares  # type: ignore[union-attr]
                        if share.write_off > ZERO
                    ),
                    collect,
                )
            self._bulk(
                "match_suggestion",
                (
                    self._suggestion(run_id, d, lines[d.line])
                    for d in decisions
                    if d.kind in ("suggest", "unmatched")
                ),
                collect,
            )
            credit = (allocation_of(c, run_id, self.matching.version) for c in state.credit_shares)
            result.allocations += self._bulk("allocation", credit, collect)
        collect()
        return result

    def _bulk(
        self, name: str, records: Iterable[dict[str, Any]], collect: Callable[[], None]
    ) -> int:
        """Create the records in chunks; how many."""
        entity = sibling(self.db.appset, self.matching, name)
        if entity is None:
            return 0
        known = set(entity.fields)
        count = 0
        records = iter(records)
        while chunk := [
            {k: v for k, v in r.items() if k in known}
            for r in itertools.islice(records, WRITE_CHUNK)
        ]:
            self.repo.bulk_create(entity, chunk)
            count += len(chunk)
            self._forget_refs(entity, chunk)
            collect()
        return count

    def _forget_refs(self, entity: Entity, chunk: list[dict[str, Any]]) -> None:
        """The lines and invoices a chunk's validation read stay cached for the whole
        transaction: forgotten after the chunk (360 MB of a 100k run), as a later chunk
        hardly names them again."""
        for f in entity.fields.values():
            if f.ref:
                ids = {r[f.name] for r in chunk if r.get(f.name) is not None}
                self.repo.loader.forget(f.ref, ids)

    def _supersede(self, line_ids: list[int]) -> None:
        """Exceptions of an earlier run for the lines decided again: the new run's stand."""
        entity = sibling(self.db.appset, self.matching, "match_suggestion")
        if entity is None or not line_ids:
            return
        table = self.db.table(entity.qualname)
        stale: list[int] = []
        for start in range(0, len(line_ids), CHUNK):
            stmt = sa.select(table.c.id).where(
                table.c.bank_line.in_(line_ids[start : start + CHUNK]),
                table.c.kind == "exception",
                table.c.status == "open",
            )
            stale += list(self.conn.execute(stmt).scalars())
        bulk_delete = getattr(self.repo, "bulk_delete", None)
        if bulk_delete is not None and stale:
            bulk_delete(entity, stale)
            return
        for record_id in stale:
            self.repo.delete(entity, record_id)

    def _allocation(
        self, run_id: int, d: Decision, line: dict[str, Any], share: Any
    ) -> dict[str, Any]:
        best = d.best
        assert best is not None
        return {
            "bank_line": d.line,
            "invoice": share.invoice,
            "amount": share.amount,
            "foreign_amount": share.source_amount if share.exchange_rate is not None else None,
            "source_currency": line.get("currency"),
            "exchange_rate": share.exchange_rate,
            "exchange_difference": share.exchange_difference,
            "matched_by": "rule",
            "rule": d.rule,
            "definitions_version": self.matching.version,
            "score": best.score,
            "reasons": reasons_text_of(d),
            "run": run_id,
            "difference": share.difference or None,
            "difference_class": d.difference_class if share.difference else "none",
            "difference_reason": d.difference_reason if share.difference else None,
        }

    def _write_off(self, d: Decision, line: dict[str, Any], share: Any) -> dict[str, Any]:
        reason = "exchange_difference" if share.exchange_rate is not None else d.write_off_reason
        return {
            "invoice": share.invoice,
            "amount": share.write_off,
            "date": line.get("date"),
            "reason": reason,
            "note": write_off_note(d.line),
            "rule": d.rule,
        }

    def _suggestion(self, run_id: int, d: Decision, line: dict[str, Any]) -> dict[str, Any]:
        best = d.best
        record: dict[str, Any] = {
            "kind": "match" if d.kind == "suggest" else "exception",
            "status": "open",
            "bank_line": d.line,
            "rule": d.rule,
            "definitions_version": self.matching.version,
            "run": run_id,
            "currency": line.get("currency"),
            "difference_class": d.difference_class or "none",
            "difference_reason": d.difference_reason,
        }
        if best is not None:
            record.update(
                invoice=best.shares[0].invoice,
                customer=best.customer,
                proposal=proposal_json(d.alternatives),
                score=best.score,
                reasons=reasons_text_of(d),
            )
        else:
            record.update(customer=d.facts.get("customer"), reasons=reasons_text_of(d))
        return record


def summarise(
    matching: Matching, decisions: list[Decision], lines: dict[int, dict[str, Any]], dry_run: bool
) -> RunResult:
    result = RunResult(matching.version, dry_run)
    for d in decisions:
        amount = line_open(lines[d.line])
        result.lines += 1
        if d.kind == "auto":
            result.auto += 1
            result.auto_amount += d.best.allocated if d.best else ZERO
        elif d.kind == "suggest":
            result.suggested += 1
            result.suggested_amount += amount
        elif d.kind == "pending":
            result.pending += 1
        elif d.kind == "unmatched":
            result.unmatched += 1
            result.unmatched_amount += amount
        if d.rule:
            result.by_rule[d.rule] = result.by_rule.get(d.rule, 0) + 1
        if d.difference_class:
            result.by_class[d.difference_class] = result.by_class.get(d.difference_class, 0) + 1
    result.decisions = decisions
    return result


def reconcile(
    db: Database,
    principal: Principal,
    *,
    dry_run: bool = False,
    line_ids: Iterable[int] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the matching rules over the unmatched lines (or `line_ids`); see the module."""
    matching = matching_of(db.appset)
    repo = db.repository(principal)
    started, began = clock.now(), time.perf_counter()
    run_entity = sibling(db.appset, matching, "reconcile_run")
    try:
        with repo.transaction(), collecting_between_chunks() as collect:
            run = Run(db, repo, matching)
            run.lock()
            state = run.load(line_ids)
            decisions = run.decide(state, progress)
            run_id = None
            if not dry_run and run_entity is not None:
                run_id = repo.create(
                    run_entity,
                    {
                        "started_at": started,
                        "started_by": principal.user,
                        "definitions_version": matching.version,
                        "status": "running",
                    },
                )["id"]
            result = run.write(None if dry_run else run_id or 0, state, decisions, collect)
            result.seconds = time.perf_counter() - began
            if run_id is not None:
                repo.update(run_entity, run_id, record_of(result, "done"))  # type: ignore[arg-type]
    except Exception as exc:
        if not dry_run and run_entity is not None:
            _record_failure(db, principal, matching, run_entity, started, began, exc)
        raise
    return result


def record_of(result: RunResult, status: str) -> dict[str, Any]:
    return {
        "finished_at": clock.now(),
        "status": status,
        "lines": result.lines,
        "auto": result.auto,
        "suggested": result.suggested,
        "unmatched": result.unmatched,
        "auto_amount": result.auto_amount,
        "suggested_amount": result.suggested_amount,
        "unmatched_amount": result.unmatched_amount,
        "seconds": Decimal(str(round(result.seconds, 3))),
    }


def _record_failure(
    db: Database,
    principal: Principal,
    matching: Matching,
    entity: Entity,
    started: Any,
    began: float,
    exc: Exception,
) -> None:
    """A failed run is recorded too (its writes were rolled back); never hides the error."""
    try:
        db.repository(principal).create(
            entity,
            {
                "started_at": started,
                "finished_at": clock.now(),
                "started_by": principal.user,
                "definitions_version": matching.version,
                "status": "failed",
                "seconds": Decimal(str(round(time.perf_counter() - began, 3))),
                "error": str(exc)[:2000],
            },
        )
    except Exception:  # the original error is the one to report
        return
