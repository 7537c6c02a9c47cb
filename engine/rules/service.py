"""The reconciliation API: what the CLI and the web workbench call.

Run the rules (`run`), say why a line was left (`explain`), decide suggestions one by
one or in bulk (`confirm`, `reject`), match by hand (`match`: one line to many
invoices, many lines to one, or given amounts for a partial payment), undo any
allocation (`undo`), and learn aliases: when a person settles a line whose counterparty
name or IBAN the customer did not have, an alias proposal is recorded, and applied to
the customer only when someone accepts it (`accept_alias`). Every change goes through
the Repository as the person who made it, so permissions, validation and the audit
trail apply; an undone allocation stays in the audit trail, and the undone match is
remembered as rejected so the next run does not make it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.errors import NotFound, ValidationError
from engine.i18n import Message, _
from engine.permissions import Principal
from engine.rules import names
from engine.rules.outcome import (
    Alternative,
    Reason,
    Share,
    proposal_json,
    reasons_json,
    write_off_note,
)
from engine.rules.run import Progress, Run, RunResult, matching_of, reconcile, sibling
from engine.rules.state import load_rates, proposals_of
from engine.storage.database import Database
from engine.storage.query import Filter
from engine.storage.records import normalise


@dataclass
class Explanation:
    """Why a line is matched, proposed or left: each rule tried and what it found."""

    line: int
    outcome: str  # auto | suggest | unmatched | skipped
    rule: str | None
    attempts: list[dict[str, Any]]
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    difference_class: str | None = None
    difference_reason: str | None = None
    allocations: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "outcome": self.outcome,
            "rule": self.rule,
            "attempts": self.attempts,
            "alternatives": self.alternatives,
            "difference_class": self.difference_class,
            "difference_reason": self.difference_reason,
            "allocations": self.allocations,
        }


@dataclass
class Settled:
    """What a confirmation or a manual match wrote, and the aliases it proposes."""

    allocations: list[int]
    write_offs: list[int] = field(default_factory=list)
    alias_proposals: list[dict[str, Any]] = field(default_factory=list)


class Reconciliation:
    """Reconciliation for one principal on one database."""

    def __init__(self, db: Database, principal: Principal):
        self.db, self.principal = db, principal
        self.matching = matching_of(db.appset)
        self.repo = db.repository(principal)
        self.entities = {
            name: sibling(db.appset, self.matching, name)
            for name in ("allocation", "match_suggestion", "write_off", "exchange_rate")
        }

    def _entity(self, name: str) -> Any:
        entity = self.entities[name]
        if entity is None:
            raise NotFound(_("the app has no %(entity)s entity", entity=name))
        return entity

    # -- runs ---------------------------------------------------------------------------------

    def run(
        self,
        dry_run: bool = False,
        line_ids: Iterable[int] | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        return reconcile(
            self.db, self.principal, dry_run=dry_run, line_ids=line_ids, progress=progress
        )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        entity = sibling(self.db.appset, self.matching, "reconcile_run")
        if entity is None:
            return []
        return self.repo.query(entity, sort="-started_at", limit=limit).rows

    def explain(self, line_id: int) -> Explanation:
        """The rules tried on the line as it stands now, and why each did (not) fire."""
        line = self.repo.require(self.matching.source, line_id)
        with self.db.engine.connect() as conn:
            run = Run(self.db, self.repo, self.matching, conn)
            state = run.load([line_id]) if self._open(line) else None
            allocations = self._allocations_of(conn, line_id)
            if state is None or not state.lines:
                return Explanation(line_id, "skipped", None, [], allocations=allocations)
            state.pending.clear()
            (decision,) = run.decide(state, explaining=True)
        return Explanation(
            line_id,
            decision.kind,
            decision.rule,
            [
                {
                    "rule": a.rule,
                    "fired": a.fired,
                    "reason": _message(a.reason),
                    "msgid": a.reason.msgid,
                }
                for a in decision.attempts
            ],
            [_alternative_json(a) for a in decision.alternatives],
            decision.difference_class,
            decision.difference_reason,
            allocations,
        )

    def _open(self, line: dict[str, Any]) -> bool:
        left = line.get("unallocated_amount", line.get("amount"))
        return left is not None and left > 0 and line.get("amount", 0) > 0

    def _allocations_of(self, conn: sa.Connection, line_id: int) -> list[dict[str, Any]]:
        entity = self.entities["allocation"]
        if entity is None:
            return []
        table = self.db.table(entity.qualname)
        query = sa.select(table).where(table.c.bank_line == line_id).order_by(table.c.id)
        rows = [normalise(entity, r) for r in conn.execute(query).mappings()]
        return [
            {
                "id": r["id"],
                "invoice": r["invoice"],
                "amount": str(r["amount"]),
                "rule": r.get("rule"),
                "matched_by": r.get("matched_by"),
            }
            for r in rows
        ]

    # -- suggestions --------------------------------------------------------------------------

    def suggestions(
        self, status: str = "open", kind: str = "match", limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        entity = self._entity("match_suggestion")
        filters = [Filter("status", "eq", status), Filter("kind", "eq", kind)]
        return self.repo.query(entity, filters, sort="id", limit=limit, offset=offset).rows

    def _suggestion(self, suggestion_id: int, kind: str) -> dict[str, Any]:
        found = self.repo.require(self._entity("match_suggestion"), suggestion_id)
        if found["kind"] != kind or found["status"] != "open":
            raise ValidationError(
                {"": _("suggestion #%(id)s is not open to decide", id=suggestion_id)}
            )
        return found

    def confirm(self, suggestion_id: int, alternative: int = 0) -> Settled:
        """Apply a proposed match (its best alternative, or the one chosen)."""
        with self.repo.transaction():
            suggestion = self._suggestion(suggestion_id, "match")
            alternatives = proposals_of(suggestion.get("proposal"))
            if not 0 <= alternative < len(alternatives):
                raise ValidationError({"": _("that suggestion has no such alternative")})
            shares = [_share(s) for s in alternatives[alternative]]
            line = self.repo.require(self.matching.source, suggestion["bank_line"])
            settled = self._allocate(line, shares, "suggestion", suggestion)
            self.repo.update(
                self._entity("match_suggestion"), suggestion_id, {"status": "confirmed"}
            )
            settled.alias_proposals = self._propose_aliases(line, suggestion.get("customer"))
        return settled

    def confirm_many(self, suggestion_ids: Sequence[int]) -> list[Settled]:
        """Confirm several suggestions, all or none."""
        with self.repo.transaction():
            return [self.confirm(i) for i in suggestion_ids]

    def reject(self, suggestion_id: int) -> None:
        """A person says no: the run will not propose the same invoices for the line again."""
        with self.repo.transaction():
            found = self.repo.require(self._entity("match_suggestion"), suggestion_id)
            if found["status"] != "open":
                raise ValidationError(
                    {"": _("suggestion #%(id)s is not open to decide", id=suggestion_id)}
                )
            self.repo.update(
                self._entity("match_suggestion"), suggestion_id, {"status": "rejected"}
            )

    def reject_many(self, suggestion_ids: Sequence[int]) -> None:
        with self.repo.transaction():
            for i in suggestion_ids:
                self.reject(i)

    # -- manual matching and undo -------------------------------------------------------------

    def match(
        self,
        line_ids: Sequence[int],
        invoice_ids: Sequence[int],
        amounts: Sequence[Decimal] | None = None,
        note: str | None = None,
    ) -> Settled:
        """Match by hand: one line to several invoices, several lines to one, or (with
        `amounts`, one per invoice) a partial payment. Lines are spread over the invoices in
        the order given, each allocation taking what both still have open."""
        if not line_ids or not invoice_ids:
            raise ValidationError({"": _("choose at least one bank line and one invoice")})
        if amounts is not None and (len(line_ids) != 1 or len(amounts) != len(invoice_ids)):
            raise ValidationError({"": _("amounts are given for one bank line, one per invoice")})
        with self.repo.transaction() as conn:
            lines = [self.repo.require(self.matching.source, i) for i in line_ids]
            invoices = [self.repo.require(self.matching.target, i) for i in invoice_ids]
            rates = load_rates(conn, self._rates_table())
            settled = Settled([])
            wanted = list(amounts) if amounts is not None else None
            left = {inv["id"]: inv.get("open_amount", inv["amount"]) for inv in invoices}
            for line in lines:
                line_left = line.get("unallocated_amount", line["amount"])
                shares = []
                for n, inv in enumerate(invoices):
                    if line_left <= 0:
                        break
                    share = self._manual_share(
                        line, inv, line_left, left[inv["id"]], rates, wanted[n] if wanted else None
                    )
                    if share is None:
                        continue
                    shares.append(share)
                    left[inv["id"]] -= share.amount
                    line_left -= share.source_amount
                if not shares:
                    continue
                done = self._allocate(line, shares, "manual", {"note": note})
                settled.allocations += done.allocations
                customer = invoices[0].get(self._customer_field())
                settled.alias_proposals += self._propose_aliases(line, customer)
            if not settled.allocations:
                raise ValidationError({"": _("nothing is left open to match")})
        return settled

    def _manual_share(
        self,
        line: dict[str, Any],
        invoice: dict[str, Any],
        line_left: Decimal,
        invoice_left: Decimal,
        rates: Any,
        wanted: Decimal | None,
    ) -> Share | None:
        source, target = line.get("currency"), invoice.get("currency")
        if source == target or not source or not target:
            amount = min(line_left, invoice_left) if wanted is None else Decimal(wanted)
            return Share(invoice["id"], amount, amount) if amount > 0 else None
        converted = rates.convert(line_left, source, target, line["date"])
        if converted is None:
            raise ValidationError(
                {
                    "": _(
                        "no exchange rate from %(source)s to %(target)s on %(date)s",
                        source=source,
                        target=target,
                        date=line["date"],
                    )
                }
            )
        amount = min(converted, invoice_left) if wanted is None else Decimal(wanted)
        if amount <= 0:
            return None
        rate = converted / line_left
        taken = line_left if amount == converted else min(line_left, round(amount / rate, 2))
        return Share(invoice["id"], amount, taken, exchange_rate=rate.quantize(Decimal("0.000001")))

    def undo(self, allocation_id: int) -> None:
        """Take an allocation back: open amounts return, the audit trail keeps it, and the
        next run will not make the same match again (it is remembered as rejected)."""
        allocation_entity = self._entity("allocation")
        with self.repo.transaction() as conn:
            allocation = self.repo.require(allocation_entity, allocation_id)
            self._undo_write_offs(conn, allocation)
            self.repo.delete(allocation_entity, allocation_id)
            suggestions = self.entities["match_suggestion"]
            # What the money came from: a bank line, or a credit note when the suggestions
            # can remember one (the next run gives neither to that invoice again).
            source = {
                k: allocation[k]
                for k in ("bank_line", "credit_note")
                if allocation.get(k) is not None and suggestions and k in suggestions.fields
            }
            if suggestions is not None and source:
                share = [{"invoice": allocation["invoice"], "amount": str(allocation["amount"])}]
                self.repo.create(
                    suggestions,
                    {
                        "kind": "match",
                        "status": "rejected",
                        **source,
                        "invoice": allocation["invoice"],
                        "rule": allocation.get("rule"),
                        "proposal": json.dumps([share]),
                        "reasons": reasons_json(
                            [_("allocation #%(id)s was undone", id=allocation_id)]
                        ),
                    },
                )
            if allocation.get("bank_line") is not None and suggestions is not None:
                self._withdraw_aliases(allocation["bank_line"])

    def _withdraw_aliases(self, line_id: int) -> None:
        """The open alias proposals a line's match made go when its last allocation does:
        nobody says any more that the payer is that customer (the audit keeps them)."""
        suggestions = self._entity("match_suggestion")
        if self.repo.count(self._entity("allocation"), [Filter("bank_line", "eq", line_id)]):
            return
        filters = [
            Filter("kind", "eq", "alias"),
            Filter("status", "eq", "open"),
            Filter("bank_line", "eq", line_id),
        ]
        for row in self.repo.query(suggestions, filters, limit=100).rows:
            self.repo.delete(suggestions, row["id"])

    def undo_many(self, allocation_ids: Sequence[int]) -> None:
        with self.repo.transaction():
            for i in allocation_ids:
                self.undo(i)

    def _undo_write_offs(self, conn: sa.Connection, allocation: dict[str, Any]) -> None:
        """The write-off a rule made with the allocation goes with it."""
        entity = self.entities["write_off"]
        if entity is None or not allocation.get("bank_line"):
            return
        table = self.db.table(entity.qualname)
        if not {"invoice", "note"} <= set(table.c.keys()):
            return
        stmt = sa.select(table.c.id).where(
            table.c.invoice == allocation["invoice"],
            table.c.note == write_off_note(allocation["bank_line"]),
        )
        for record_id in conn.execute(stmt).scalars().all():
            self.repo.delete(entity, record_id)

    # -- writing ------------------------------------------------------------------------------

    def _rates_table(self) -> sa.Table | None:
        entity = self.entities["exchange_rate"]
        return self.db.table(entity.qualname) if entity is not None else None

    def _customer_field(self) -> str:
        finding = self.matching.customers
        return finding.target_field if finding else "customer"

    def _allocate(
        self, line: dict[str, Any], shares: list[Share], how: str, source: dict[str, Any]
    ) -> Settled:
        records = []
        write_offs = []
        for share in shares:
            records.append(
                {
                    "bank_line": line["id"],
                    "invoice": share.invoice,
                    "amount": share.amount,
                    "foreign_amount": share.source_amount if share.exchange_rate else None,
                    "source_currency": line.get("currency"),
                    "exchange_rate": share.exchange_rate,
                    "matched_by": how,
                    "rule": source.get("rule"),
                    "definitions_version": source.get("definitions_version"),
                    "score": source.get("score"),
                    "reasons": source.get("reasons"),
                    "run": source.get("run"),
                    "note": source.get("note"),
                    "difference": share.difference or None,
                }
            )
            if share.write_off > 0:
                write_offs.append(
                    {
                        "invoice": share.invoice,
                        "amount": share.write_off,
                        "date": line.get("date"),
                        "reason": "exchange_difference"
                        if share.exchange_rate
                        else "small_difference",
                        "note": write_off_note(line["id"]),
                        "rule": source.get("rule"),
                    }
                )
        entity = self._entity("allocation")
        known = set(entity.fields)
        ids = self.repo.bulk_create(
            entity, [{k: v for k, v in r.items() if k in known} for r in records]
        )
        done = Settled(list(ids))
        wo_entity = self.entities["write_off"]
        if write_offs and wo_entity is not None:
            wo_known = set(wo_entity.fields)
            done.write_offs = list(
                self.repo.bulk_create(
                    wo_entity, [{k: v for k, v in r.items() if k in wo_known} for r in write_offs]
                )
            )
        return done

    # -- aliases ------------------------------------------------------------------------------

    def _propose_aliases(self, line: dict[str, Any], customer: int | None) -> list[dict[str, Any]]:
        """Proposals to remember the counterparty's name or IBAN for the customer."""
        finding = self.matching.customers
        suggestions = self.entities["match_suggestion"]
        if finding is None or customer is None or suggestions is None:
            return []
        row = self.repo.get(finding.entity, customer)
        if row is None:
            return []
        known_names = {names.normal_name(row.get(finding.name))}
        known_names |= {
            names.normal_name(a) for a in names.aliases_of(row.get(finding.aliases or ""))
        }
        known_ibans = {
            names.normal_iban(a) for a in names.aliases_of(row.get(finding.aliases or ""))
        }
        if finding.iban and row.get(finding.iban):
            known_ibans.add(names.normal_iban(row[finding.iban]))
        proposals = []
        counterparty = line.get(finding.counterparty or "") or ""
        iban = line.get(finding.counterparty_iban or "") or ""
        if counterparty.strip() and names.normal_name(counterparty) not in known_names:
            proposals.append(counterparty.strip())
        if iban.strip() and names.normal_iban(iban) not in known_ibans:
            proposals.append(names.normal_iban(iban))
        made = []
        for alias in proposals:
            if self._alias_known(customer, alias):
                continue
            record = self.repo.create(
                suggestions,
                {
                    "kind": "alias",
                    "status": "open",
                    "customer": customer,
                    "alias": alias,
                    "bank_line": line["id"],
                    "reasons": reasons_json(
                        [
                            _(
                                "a person matched a payment from %(alias)s to this customer",
                                alias=alias,
                            )
                        ]
                    ),
                },
            )
            made.append({"suggestion": record["id"], "customer": customer, "alias": alias})
        return made

    def _alias_known(self, customer: int, alias: str) -> bool:
        """Whether that alias was proposed before (open, accepted or rejected)."""
        entity = self._entity("match_suggestion")
        filters = [
            Filter("kind", "eq", "alias"),
            Filter("customer", "eq", customer),
            Filter("alias", "eq", alias),
        ]
        return self.repo.count(entity, filters) > 0

    def accept_alias(self, suggestion_id: int) -> dict[str, Any]:
        """Add the proposed name or IBAN to the customer; the next run matches on it."""
        finding = self.matching.customers
        with self.repo.transaction():
            proposal = self._suggestion(suggestion_id, "alias")
            assert finding is not None
            customer = self.repo.require(finding.entity, proposal["customer"])
            alias = str(proposal["alias"])
            changes: dict[str, Any] = {}
            if names.looks_like_iban(alias) and finding.iban and not customer.get(finding.iban):
                changes[finding.iban] = alias
            elif finding.aliases:
                current = names.aliases_of(customer.get(finding.aliases))
                changes[finding.aliases] = "\n".join([*current, alias])
            else:
                raise ValidationError({"": _("the customer has no field for aliases")})
            updated = self.repo.update(finding.entity, customer["id"], changes)
            self.repo.update(
                self._entity("match_suggestion"), suggestion_id, {"status": "confirmed"}
            )
        return updated

    def reject_alias(self, suggestion_id: int) -> None:
        with self.repo.transaction():
            self._suggestion(suggestion_id, "alias")
            self.repo.update(
                self._entity("match_suggestion"), suggestion_id, {"status": "rejected"}
            )


def _share(raw: dict[str, Any]) -> Share:
    rate = raw.get("exchange_rate")
    return Share(
        int(raw["invoice"]),
        Decimal(raw["amount"]),
        Decimal(raw.get("source_amount") or raw["amount"]),
        Decimal(raw.get("write_off") or 0),
        Decimal(rate) if rate else None,
        None,
        Decimal(raw.get("difference") or 0),
    )


def _alternative_json(alt: Alternative) -> dict[str, Any]:
    return {
        "score": str(alt.score),
        "customer": alt.customer,
        "reasons": [_message(r) for r in alt.reasons],  # English as JSON, translatable
        "shares": json.loads(proposal_json([alt]))[0],
    }


def _message(reason: Reason | Message) -> Message:
    """A run's reason as a Message: English when printed, translatable on a page."""
    return reason.message() if isinstance(reason, Reason) else reason
