"""What the reconciliation workbench shows: the reads behind its page, as the principal.

Decisions are engine.rules.service's; this module only gathers what a person needs to
make them: the open suggestions with their lines, invoices and reasons, the lines not
settled yet, the open invoices of a customer, the latest allocations (to undo) and the
alias proposals. Stored reasons become Messages whose field names are the fields'
labels (`memo` reads "Memo", 附言), so the page shows them in the reader's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.lists import format_list

from engine.appdef import Entity
from engine.i18n import Message, localize
from engine.rules.service import Reconciliation
from engine.rules.state import proposals_of
from engine.storage.query import Filter


@dataclass
class Choice:
    """One alternative of a suggestion: the invoices and what each would receive."""

    shares: list[dict[str, Any]]
    total: Decimal


@dataclass
class Proposal:
    """An open suggestion as the page shows it."""

    id: int
    line: dict[str, Any]
    rule: str | None
    score: Decimal | None
    customer: str | None
    customer_id: int | None
    reasons: list[Message]
    choices: list[Choice]
    difference_class: str | None = None
    difference_reason: str | None = None


@dataclass
class Attempt:
    rule: str
    fired: bool
    reason: Message


@dataclass
class Why:
    """Why a line stands as it does: the explanation in readable messages."""

    line: dict[str, Any]
    outcome: str
    rule: str | None
    attempts: list[Attempt]
    choices: list[tuple[Decimal, list[Message], list[dict[str, Any]]]] = field(default_factory=list)
    difference_class: str | None = None
    difference_reason: str | None = None
    allocations: list[dict[str, Any]] = field(default_factory=list)


class Listed(str):
    """Labels read as one alternative list in each language: "Memo, Reference or End-to-end
    id", 附言、参考号或端到端编号."""

    items: list[Any]

    def __new__(cls, items: list[Any]) -> Listed:
        self = super().__new__(cls, ", ".join(str(i) for i in items))
        self.items = items
        return self

    def localize(self, locale: str | Locale | None) -> str:
        texts = [str(localize(i, locale)) for i in self.items]
        return format_list(texts, style="or", locale=locale or "en_US")


class Workbench:
    """The reads of the workbench page for the service's principal."""

    def __init__(self, service: Reconciliation):
        self.service = service
        self.repo = service.repo
        self.matching = service.matching
        self.lines: Entity = self.repo.entity(self.matching.source)
        self.invoices: Entity = self.repo.entity(self.matching.target)
        finding = self.matching.customers
        self.customer_entity: Entity | None = (
            self.repo.entity(finding.entity) if finding is not None else None
        )
        self.customer_field = finding.target_field if finding is not None else "customer"

    # -- permissions ----------------------------------------------------------------------------

    def can_decide(self) -> bool:
        """Whether the principal may write allocations (confirm, match, undo, run)."""
        allocation = self.service.entities["allocation"]
        return allocation is not None and self.repo.can(allocation, "create")

    # -- reads ----------------------------------------------------------------------------------

    def proposals(self, limit: int = 50) -> list[Proposal]:
        rows = self.service.suggestions(limit=limit)
        lines = self._by_id(self.lines, [r["bank_line"] for r in rows if r.get("bank_line")])
        alternatives = {r["id"]: proposals_of(r.get("proposal")) for r in rows}
        invoice_ids = {int(s["invoice"]) for alts in alternatives.values() for a in alts for s in a}
        invoices = self._by_id(self.invoices, invoice_ids)
        customers = self._customer_labels([r.get("customer") for r in rows])
        out = []
        for r in rows:
            choices = [self._choice(alt, invoices) for alt in alternatives[r["id"]]]
            out.append(
                Proposal(
                    r["id"],
                    lines.get(r.get("bank_line") or 0, {}),
                    r.get("rule"),
                    r.get("score"),
                    customers.get(r.get("customer") or 0),
                    r.get("customer"),
                    self.reasons(r.get("reasons")),
                    choices,
                    r.get("difference_class"),
                    r.get("difference_reason"),
                )
            )
        return out

    def _choice(self, alternative: list[dict[str, Any]], invoices: dict[int, dict]) -> Choice:
        shares: list[dict[str, Any]] = []
        total = Decimal(0)
        for s in alternative:
            invoice = invoices.get(int(s["invoice"]), {"id": int(s["invoice"])})
            shares.append(
                {
                    "invoice": invoice,
                    "amount": Decimal(s["amount"]),
                    "write_off": Decimal(s.get("write_off") or 0),
                }
            )
            total += Decimal(s["amount"])
        return Choice(shares, total)

    def open_lines(self, limit: int = 50) -> list[dict[str, Any]]:
        """Incoming lines with money not allocated yet, oldest first, each with the customer
        a rule recognised for it (from its open suggestion or exception), if any."""
        filters = [Filter("amount", "gt", 0)]
        if "unallocated_amount" in self.lines.fields:
            filters.append(Filter("unallocated_amount", "gt", 0))
        rows = self.repo.query(self.lines, filters, sort="date", limit=limit).rows
        known = self._line_customers([r["id"] for r in rows])
        labels = self._customer_labels(list(known.values()))
        for row in rows:
            row["customer_id"] = known.get(row["id"])
            row["customer_label"] = labels.get(known.get(row["id"]) or 0)
        return rows

    def customer_of_line(self, line_id: int) -> int | None:
        return self._line_customers([line_id]).get(line_id)

    def _line_customers(self, line_ids: list[int]) -> dict[int, int]:
        entity = self.service.entities["match_suggestion"]
        if entity is None or not line_ids:
            return {}
        filters = [Filter("bank_line", "in", line_ids), Filter("status", "eq", "open")]
        rows = self.repo.query(entity, filters, sort="id", limit=len(line_ids) * 4).rows
        return {r["bank_line"]: r["customer"] for r in rows if r.get("customer")}

    def candidates(self, customer_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The customer's invoices with money still open, oldest first."""
        filters = [Filter(self.customer_field, "eq", customer_id)]
        if "open_amount" in self.invoices.fields:
            filters.append(Filter("open_amount", "gt", 0))
        return self.repo.query(self.invoices, filters, sort="issue_date", limit=limit).rows

    def customer_label(self, customer_id: int | None) -> str | None:
        return self._customer_labels([customer_id]).get(customer_id or 0)

    def recent_allocations(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest allocations from bank lines, newest first, with what they join."""
        entity = self.service.entities["allocation"]
        if entity is None:
            return []
        filters = [Filter("bank_line", "isnull", False)]
        rows = self.repo.query(entity, filters, sort="-id", limit=limit).rows
        lines = self._by_id(self.lines, [r["bank_line"] for r in rows])
        invoices = self.repo.labels(self.invoices, [r["invoice"] for r in rows])
        for row in rows:
            row["line_row"] = lines.get(row["bank_line"], {})
            row["invoice_label"] = invoices.get(row["invoice"], f"#{row['invoice']}")
            row["reason_list"] = self.reasons(row.get("reasons"))
        return rows

    def alias_proposals(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.service.suggestions(kind="alias", limit=limit)
        labels = self._customer_labels([r.get("customer") for r in rows])
        for row in rows:
            row["customer_label"] = labels.get(row.get("customer") or 0)
        return rows

    def why(self, line_id: int) -> Why:
        found = self.service.explain(line_id)
        line = self.repo.require(self.lines, line_id)
        invoices = self.repo.labels(
            self.invoices,
            [a["invoice"] for a in found.allocations]
            + [int(s["invoice"]) for alt in found.alternatives for s in alt["shares"]],
        )
        return Why(
            line,
            found.outcome,
            found.rule,
            [Attempt(a["rule"], a["fired"], self.readable(a["reason"])) for a in found.attempts],
            [
                (
                    Decimal(alt["score"]),
                    [self.readable(r) for r in alt["reasons"]],
                    [{**s, "label": invoices.get(int(s["invoice"]))} for s in alt["shares"]],
                )
                for alt in found.alternatives
            ],
            found.difference_class,
            found.difference_reason,
            [{**a, "label": invoices.get(a["invoice"])} for a in found.allocations],
        )

    # -- reasons --------------------------------------------------------------------------------

    def reasons(self, stored: str | None) -> list[Message]:
        """Stored reasons ([{msgid, params, rule?}]) as readable Messages."""
        if not stored:
            return []
        try:
            data = json.loads(stored)
        except ValueError:
            return [Message(stored.replace("%", "%%"))]
        return [self.readable(Message(r["msgid"], r.get("params") or {})) for r in data]

    def readable(self, message: Any) -> Message:
        """A reason with field names as their labels and reason codes as their options."""
        if not isinstance(message, Message):
            return Message(str(message).replace("%", "%%"))
        return Message(message.msgid, {k: self._param(k, v) for k, v in message.params.items()})

    def _param(self, key: str, value: Any) -> Any:
        fields = self.lines.fields
        text = str(value)
        if key == "field" and text in fields:
            return fields[text].label
        if key == "fields":
            names = [n.strip() for n in text.split(",")]
            if names and all(n in fields for n in names):
                return Listed([fields[n].label for n in names])
        write_off = self.service.entities["write_off"]
        codes = write_off.fields.get("reason") if write_off is not None else None
        if key == "reason" and codes is not None and text in (codes.options or ()):
            return codes.option_label(text)
        return value

    # -- helpers --------------------------------------------------------------------------------

    def _by_id(self, entity: Entity, ids: Any) -> dict[int, dict[str, Any]]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        page = self.repo.query(entity, [Filter("id", "in", wanted)], limit=len(wanted))
        return {r["id"]: r for r in page.rows}

    def _customer_labels(self, ids: list[int | None]) -> dict[int, str]:
        if self.customer_entity is None:
            return {}
        return self.repo.labels(self.customer_entity, [i for i in ids if i])
