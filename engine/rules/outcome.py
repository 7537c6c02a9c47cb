"""What evaluating the rules for one line comes to: plain values, no database.

A `Decision` is what to write (allocations and write-offs), or a suggestion with its
alternatives, or nothing, together with the explanation: for each rule tried, whether
it fired and why (not). Reasons are translatable messages (engine.i18n), stored with
their msgid and parameters so the workbench can show them in the reader's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.i18n import Message, localize


class Reason:
    """A reason as a run keeps it: the msgid and its parameters, formatted only when
    someone reads it (`message`). A run makes tens of thousands and stores a few of
    them, as JSON; a `Message` formats its English text when made."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, params: dict[str, Any]):
        self.msgid, self.params = msgid, params

    def message(self) -> Message:
        return Message(self.msgid, self.params)

    def __str__(self) -> str:
        return str(self.message())

    def __repr__(self) -> str:
        return f"Reason({self.msgid!r}, {self.params!r})"


def reason(msgid: str, /, **params: Any) -> Reason:
    """`_` for the rules' reasons: marked for translation, formatted when read."""
    return Reason(msgid, params)


@dataclass(frozen=True, slots=True)
class Share:
    """One invoice's part of a match."""

    invoice: int
    amount: Decimal  # allocated, in the invoice's currency
    source_amount: Decimal  # taken from the line, in its currency
    write_off: Decimal = Decimal(0)  # written off on the invoice, in its currency
    exchange_rate: Decimal | None = None  # invoice currency per line currency unit
    exchange_difference: Decimal | None = None
    difference: Decimal = Decimal(0)  # payment minus what was open, in the invoice's currency


@dataclass(frozen=True, slots=True)
class Alternative:
    shares: tuple[Share, ...]
    score: Decimal
    reasons: tuple[Reason | Message, ...]
    customer: int | None = None

    @property
    def invoices(self) -> frozenset[int]:
        return frozenset(s.invoice for s in self.shares)

    @property
    def allocated(self) -> Decimal:
        return sum((s.source_amount for s in self.shares), Decimal(0))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One rule tried on one line."""

    rule: str
    fired: bool
    reason: Reason | Message


@dataclass(slots=True)
class Decision:
    line: int
    kind: str = "unmatched"  # auto | suggest | unmatched | skipped
    rule: str | None = None
    alternatives: list[Alternative] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    write_off_reason: str = "small_difference"
    difference_class: str | None = None
    difference_reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # what classification reads
    stored_reasons: str | None = None  # the reasons as written, once `compact` dropped them

    @property
    def best(self) -> Alternative | None:
        return self.alternatives[0] if self.alternatives else None

    def compact(self) -> None:
        """Keep what a run writes and classifies, no more: the reasons (the best match's,
        or the rules tried for a line left unmatched) in their stored form, the other
        alternatives' shares. A 100,000-line run otherwise holds a million messages."""
        self.stored_reasons = reasons_text_of(self)
        self.attempts = []
        self.alternatives = [
            Alternative(a.shares, a.score, (), a.customer) for a in self.alternatives
        ]
        self.facts.pop("references", None)


def reasons_text_of(decision: Decision) -> str:
    """The reasons a decision is stored with: its best match's, else its rules' attempts."""
    if decision.stored_reasons is not None:
        return decision.stored_reasons
    best = decision.best
    return reasons_json(best.reasons) if best is not None else attempts_json(decision.attempts)


def reasons_json(
    reasons: tuple[Reason | Message, ...] | list[Reason] | list[Message],
) -> str:
    """Reasons as stored: [{"msgid": ..., "params": {...}}, ...] (English is the msgid's)."""
    return json.dumps(
        [{"msgid": m.msgid, "params": {k: str(v) for k, v in m.params.items()}} for m in reasons],
        ensure_ascii=False,
    )


def attempts_json(attempts: list[Attempt]) -> str:
    """Why each rule tried did not fire, as stored on an unmatched line's exception."""
    return json.dumps(
        [
            {
                "rule": a.rule,
                "msgid": a.reason.msgid,
                "params": {k: str(v) for k, v in a.reason.params.items()},
            }
            for a in attempts
        ],
        ensure_ascii=False,
    )


def reasons_text(stored: str | None, locale: str | None = None) -> list[str]:
    """Stored reasons in the reader's language (an attempt's with its rule first)."""
    if not stored:
        return []
    try:
        data = json.loads(stored)
    except ValueError:
        return [stored]
    out = []
    for r in data:
        text = str(localize(Message(r["msgid"], r.get("params") or {}), locale))
        out.append(f"{r['rule']}: {text}" if r.get("rule") else text)
    return out


def proposal_json(alternatives: list[Alternative]) -> str:
    """The alternatives as stored on a suggestion: compact, zero parts left out."""

    def share(s: Share) -> dict[str, Any]:
        out: dict[str, Any] = {"invoice": s.invoice, "amount": str(s.amount)}
        if s.source_amount != s.amount:
            out["source_amount"] = str(s.source_amount)
        if s.write_off:
            out["write_off"] = str(s.write_off)
        if s.exchange_rate is not None:
            out["exchange_rate"] = str(s.exchange_rate)
        if s.difference:
            out["difference"] = str(s.difference)
        return out

    return json.dumps(
        [[share(s) for s in alt.shares] for alt in alternatives], separators=(",", ":")
    )


def write_off_note(line_id: int) -> str:
    """How a write-off names the bank line whose allocation it belongs to (undo finds it)."""
    return f"bank line #{line_id}"
