"""What a run works on, read with a few set-based queries and indexed in memory.

One query each for the open invoices, the lines to match, the customers, the exchange
rates and the decisions people already took; then dictionaries by normal reference, by
customer (oldest invoice first) and by customer and amount. A line's candidates are a
few dictionary probes, never a scan of every open invoice. As the run allocates, the
open amounts here go down, so a second line paying the same invoice sees what is left.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine import money
from engine.appdef.matching import CustomerFinding, Matching, Reference
from engine.rules import references as refs
from engine.rules.customers import CustomerIndex
from engine.storage.records import CHUNK

ZERO = Decimal(0)
FAR_FUTURE = dt.date(9999, 12, 31)


@dataclass(slots=True)
class OpenItem:
    """An open invoice as the run sees it."""

    id: int
    customer: int | None
    currency: str | None
    open: Decimal
    age: tuple[dt.date, dt.date, int]  # due date, issue date, id: oldest first
    row: dict[str, Any]


@dataclass
class Rates:
    """Exchange rates by currency: (dates ascending, rates), units per one base unit."""

    by_currency: dict[str, tuple[list[dt.date], list[Decimal]]] = field(default_factory=dict)

    def rate(self, currency: str, on: dt.date) -> Decimal | None:
        """The rate of `currency` on `on`, else the latest before it; None when none."""
        known = self.by_currency.get(currency)
        if known is None:
            return None
        dates, rates = known
        i = bisect.bisect_right(dates, on)
        return rates[i - 1] if i else None

    def convert(self, amount: Decimal, source: str, target: str, on: dt.date) -> Decimal | None:
        """`amount` of `source` in `target`, rounded to it; None without both rates."""
        if source == target:
            return amount
        base_source = Decimal(1) if self._is_base(source) else self.rate(source, on)
        base_target = Decimal(1) if self._is_base(target) else self.rate(target, on)
        if not base_source or not base_target:
            return None
        return money.round_money(amount / base_source * base_target, target)

    def _is_base(self, currency: str) -> bool:
        return currency == "EUR" and currency not in self.by_currency


class OpenInvoices:
    """The open invoices of one run and their indexes.

    Per customer and currency: the invoices oldest first (settled ones are skipped, and
    dropped from time to time), and (open amount, age, id) sorted, so that invoices of an
    amount or within a tolerance of it are found by bisection, not by looking at each.
    """

    def __init__(self, items: Iterable[OpenItem], references: Iterable[Reference]):
        self.items: dict[int, OpenItem] = {}
        self.by_customer: dict[int, list[OpenItem]] = {}
        self.by_amount: dict[tuple[int, str | None], list[tuple[Decimal, Any, int]]] = {}
        self.by_reference: dict[str, dict[str, list[int]]] = {}
        self.references = {r.name: r for r in references}
        for item in items:
            self.items[item.id] = item
            if item.customer is not None:
                self.by_customer.setdefault(item.customer, []).append(item)
                self.by_amount.setdefault((item.customer, item.currency), []).append(
                    (item.open, item.age, item.id)
                )
        for group in self.by_customer.values():
            group.sort(key=lambda i: i.age)
        self._currencies: dict[int, list[str | None]] = {}
        for (cid, currency), entries in self.by_amount.items():
            entries.sort()
            self._currencies.setdefault(cid, []).append(currency)
        shared: dict[tuple[bool, str], dict[str, list[int]]] = {}
        for ref in self.references.values():
            # RF and whole references index a target alike: one index serves them all.
            key_of = (ref.extractor.kind != "pattern", ref.target_field)
            if ref.extractor.kind != "pattern" and key_of in shared:
                self.by_reference[ref.name] = shared[key_of]
                continue
            index = self.by_reference.setdefault(ref.name, {})
            shared[key_of] = index
            for item in self.items.values():
                for key in ref.extractor.target_keys(_text(item.row.get(ref.target_field))):
                    index.setdefault(key, []).append(item.id)

    def currencies(self, customer: int) -> list[str | None]:
        return self._currencies.get(customer, [])

    def oldest(self, customer: int, currency: str | None, limit: int) -> list[OpenItem]:
        """Up to `limit` open invoices of the customer in `currency`, oldest first."""
        group = self.by_customer.get(customer, [])
        found: list[OpenItem] = []
        skipped = 0
        for item in group:
            if item.open <= ZERO:
                skipped += 1
                continue
            if item.currency == currency:
                found.append(item)
                if len(found) >= limit:
                    break
        if skipped > 32:  # settled ones go: a big customer's would be walked on every line
            self.by_customer[customer] = [i for i in group if i.open > ZERO]
        return found

    def total_exceeds(self, customer: int, currency: str | None, amount: Decimal) -> bool:
        """Whether the customer has more than `amount` open in `currency`."""
        total = ZERO
        for item in self.by_customer.get(customer, ()):
            if item.open > ZERO and item.currency == currency:
                total += item.open
                if total > amount:
                    return True
        return False

    def amount_between(
        self, customer: int, currency: str | None, low: Decimal, high: Decimal
    ) -> list[OpenItem]:
        """Open invoices of the customer whose open amount is in [low, high], oldest first."""
        entries = self.by_amount.get((customer, currency), [])
        start = bisect.bisect_left(entries, (low,))
        found = []
        for open_, _age, item_id in entries[start:]:
            if open_ > high:
                break
            found.append(self.items[item_id])
        return sorted(found, key=lambda i: i.age)

    def nearest(self, customer: int, amount: Decimal) -> OpenItem | None:
        """The open invoice of the customer whose open amount is closest to `amount`."""
        best: OpenItem | None = None
        for currency in self.currencies(customer):
            entries = self.by_amount[(customer, currency)]
            i = bisect.bisect_left(entries, (amount,))
            for j in (i - 1, i):
                if 0 <= j < len(entries):
                    item = self.items[entries[j][2]]
                    if best is None or abs(item.open - amount) < abs(best.open - amount):
                        best = item
        return best

    def referenced(self, ref: Reference, key: str, typos: int) -> list[tuple[OpenItem, bool]]:
        """Open invoices named by `key` through `ref` (exactly, else within one typo)."""
        index = self.by_reference.get(ref.name, {})
        exact = [self.items[i] for i in index.get(key, ()) if self.items[i].open > ZERO]
        if exact or not typos:
            return [(i, False) for i in exact]
        near = sorted(k for k in refs.one_typo_away(key) if k in index)
        return [(self.items[i], True) for k in near for i in index[k] if self.items[i].open > ZERO]

    def settled(self, keys: Iterable[tuple[str, Reference]]) -> OpenItem | None:
        """An invoice the keys name that this run (or a person) has settled already."""
        for key, ref in keys:
            for i in self.by_reference.get(ref.name, {}).get(key, ()):
                if self.items[i].open <= ZERO:
                    return self.items[i]
        return None

    def settle(self, item: OpenItem, amount: Decimal) -> None:
        """Take `amount` off what is open (an allocation or a write-off the run made)."""
        if item.customer is not None:
            entries = self.by_amount.get((item.customer, item.currency), [])
            i = bisect.bisect_left(entries, (item.open, item.age, item.id))
            if i < len(entries) and entries[i][2] == item.id:
                del entries[i]
        item.open -= amount
        if item.customer is not None and item.open > ZERO:
            bisect.insort(entries, (item.open, item.age, item.id))


def rounded(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The row with these money fields at their currency's places (100.0000 -> 100.00):
    the few a run compares and prints, not every money field as `normalise` does."""
    currency = row.get("currency")
    for name in fields:
        value = row.get(name)
        if value is not None:
            row[name] = money.round_money(value, currency)
    return row


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass
class RunState:
    lines: list[dict[str, Any]]
    invoices: OpenInvoices
    customers: CustomerIndex | None
    rates: Rates
    rejected: dict[int, set[frozenset[int]]]  # line -> invoice sets people rejected
    pending: set[int]  # lines with a suggestion waiting for a person
    reserved: set[int] = field(default_factory=set)  # invoices this run already suggested
    credit_shares: list[Any] = field(default_factory=list)  # credit notes settled (credits.py)


def target_columns(matching: Matching, target: sa.Table) -> list[sa.Column[Any]]:
    """The invoice columns a run reads: amounts, customer, dates, references, `accept`'s."""
    wanted = {"id", "open_amount", "amount", "currency", "due_date", "issue_date", "disputed"}
    if matching.customers:
        wanted.add(matching.customers.target_field)
    for ref in matching.references.values():
        wanted.add(ref.target_field)
    for rule in matching.rules:
        wanted.update(r.target_field for r in rule.references)
        if rule.accept is not None:
            wanted.update(p[1] for p in rule.accept.paths if p[0] == "target" and len(p) > 1)
    for diff in matching.differences:
        wanted.update(p[1] for p in diff.when.paths if p[0] == "target" and len(p) > 1)
    return [target.c[name] for name in sorted(wanted) if name in target.c]


def source_columns(matching: Matching, source: sa.Table) -> list[sa.Column[Any]]:
    """The bank-line columns a run reads: amounts, date, the fields references, customers
    and mappings look in, and those the conditions name (all of them for a bare `source`)."""
    wanted = {"id", "date", "amount", "currency", "unallocated_amount", "allocated_amount"}
    finding = matching.customers
    if finding is not None:
        wanted.update(f for f in (finding.counterparty, finding.counterparty_iban) if f)
        for mapping in finding.mappings:
            wanted.update(mapping.in_fields)
    for ref in matching.references.values():
        wanted.update(ref.in_fields)
    conditions = [d.when for d in matching.differences]
    for rule in matching.rules:
        for ref in rule.references:
            wanted.update(ref.in_fields)
        conditions += [e for e in (rule.when, rule.accept) if e is not None]
    for expr in conditions:
        for path in expr.paths:
            if path[0] != "source":
                continue
            if len(path) == 1:
                return list(source.columns)
            wanted.add(path[1])
    return [c for c in source.columns if c.name in wanted]


def open_column(table: sa.Table) -> sa.Column[Any]:
    return table.c["open_amount"] if "open_amount" in table.c else table.c["amount"]


def open_item(matching: Matching, row: dict[str, Any]) -> OpenItem:
    customer = row.get(matching.customers.target_field) if matching.customers else None
    due = row.get("due_date") or row.get("issue_date") or FAR_FUTURE
    issued = row.get("issue_date") or due
    open_ = row.get("open_amount", row.get("amount")) or ZERO
    return OpenItem(row["id"], customer, row.get("currency"), open_, (due, issued, row["id"]), row)


def load_open_invoices(
    conn: sa.Connection,
    matching: Matching,
    target: sa.Table,
    entity: Any,
    locked: Callable[[sa.Select[Any]], sa.Select[Any]] = lambda s: s,
) -> OpenInvoices:
    columns = target_columns(matching, target)
    stmt = locked(sa.select(*columns).where(open_column(target) > 0))
    keys = [c.name for c in columns]
    items = (
        open_item(
            matching, rounded(dict(zip(keys, values, strict=True)), ("open_amount", "amount"))
        )
        for values in conn.execute(stmt)
    )
    used = {r.name: r for rule in matching.rules for r in rule.references}
    return OpenInvoices(items, used.values())


def load_rates(conn: sa.Connection, table: sa.Table | None) -> Rates:
    rates = Rates()
    if table is None:
        return rates
    stmt = sa.select(table.c.currency, table.c.date, table.c.rate).order_by(
        table.c.currency, table.c.date
    )
    for currency, date, rate in conn.execute(stmt):
        dates, values = rates.by_currency.setdefault(currency, ([], []))
        if dates and dates[-1] == date:
            values[-1] = Decimal(rate)
        else:
            dates.append(date)
            values.append(Decimal(rate))
    return rates


def load_decisions(
    conn: sa.Connection, suggestions: sa.Table | None, line_ids: list[int] | None = None
) -> tuple[dict[int, set[frozenset[int]]], set[int]]:
    """What people rejected (never proposed again) and the lines awaiting a decision."""
    rejected: dict[int, set[frozenset[int]]] = {}
    pending: set[int] = set()
    if suggestions is None:
        return rejected, pending
    s = suggestions.c
    stmt = sa.select(s.bank_line, s.status, s.proposal).where(
        s.kind == "match", s.status.in_(["open", "rejected"]), s.bank_line.is_not(None)
    )
    chunks = (
        [None]
        if line_ids is None
        else [line_ids[i : i + CHUNK] for i in range(0, len(line_ids), CHUNK)]
    )
    for chunk in chunks:
        query = stmt if chunk is None else stmt.where(s.bank_line.in_(chunk))
        for line, status, proposal in conn.execute(query):
            if status == "open":
                pending.add(line)
                continue
            for alternative in proposals_of(proposal):
                rejected.setdefault(line, set()).add(frozenset(a["invoice"] for a in alternative))
    return rejected, pending


def proposals_of(text: str | None) -> list[list[dict[str, Any]]]:
    """A suggestion's alternatives: [[{invoice, amount, source_amount}, ...], ...]."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    return [[dict(a) for a in alt] for alt in data if isinstance(alt, list)]


def customer_rows(
    conn: sa.Connection, table: sa.Table, finding: CustomerFinding
) -> list[Mapping[str, Any]]:
    wanted = [c for c in ("id", finding.name, finding.aliases, finding.iban) if c]
    return [dict(r) for r in conn.execute(sa.select(*(table.c[c] for c in wanted))).mappings()]
