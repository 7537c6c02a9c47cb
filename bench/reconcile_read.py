"""What a matching run left in the database, as (bank line, invoice) pairs, and whether it
kept the money invariants."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from reconcile_score import Pair

from engine.storage import Database


def allocations(db: Database) -> set[Pair]:
    """Every allocation from a bank line (the seeded database has none): what the run applied."""
    table = db.table("receivables.allocation")
    stmt = sa.select(table.c.bank_line, table.c.invoice).where(table.c.bank_line.is_not(None))
    with db.engine.connect() as conn:
        return {(b, i) for b, i in conn.execute(stmt)}


SUGGESTION = "receivables.match_suggestion"


def top_suggestions(db: Database) -> set[Pair] | None:
    """The pairs of each line's best suggestion; None when the definitions keep none.

    A suggestion names its best candidate invoice and, in `proposal` (JSON), the
    alternatives best first, each the invoices it would allocate: the first alternative's
    invoices are the top suggestion (several for a multi-invoice payment). Of several
    suggestions for one line, the one with the highest score counts.
    """
    if SUGGESTION not in db.tables:
        return None
    t = db.table(SUGGESTION)
    stmt = sa.select(t.c.bank_line, t.c.invoice, t.c.proposal, t.c.score).where(
        t.c.kind == "match", t.c.bank_line.is_not(None)
    )
    best: dict[int, tuple[Any, set[int]]] = {}
    with db.engine.connect() as conn:
        for line, invoice, proposal, rank in conn.execute(stmt):
            invoices = _first_alternative(proposal) or ({invoice} if invoice else set())
            held = best.get(line)
            if invoices and (held is None or (rank or 0) > (held[0] or 0)):
                best[line] = (rank, invoices)
    return {(line, inv) for line, (_, invoices) in best.items() for inv in invoices}


def _first_alternative(proposal: str | None) -> set[int]:
    try:
        alternatives = json.loads(proposal or "[]")
        return {int(share["invoice"]) for share in alternatives[0]}
    except (ValueError, TypeError, KeyError, IndexError):
        return set()


def over_allocated(db: Database) -> list[str]:
    """Invariant check: no line or invoice gives or takes more than it has (a line in its
    currency: `source_amount` where the definitions have it; an invoice in its own)."""
    alloc = db.table("receivables.allocation")
    from_line = alloc.c.source_amount if "source_amount" in alloc.c else alloc.c.amount
    problems = []
    for parent, col, money in (
        ("receivables.bank_line", "bank_line", from_line),
        ("receivables.invoice", "invoice", alloc.c.amount),
    ):
        table = db.table(parent)
        taken = (
            sa.select(alloc.c[col].label("id"), sa.func.sum(money).label("taken"))
            .where(alloc.c[col].is_not(None))
            .group_by(alloc.c[col])
            .subquery()
        )
        over = (
            sa.select(sa.func.count())
            .select_from(taken.join(table, table.c.id == taken.c.id))
            .where(taken.c.taken > sa.func.abs(table.c.amount))
        )
        with db.engine.connect() as conn:
            count = conn.execute(over).scalar_one()
        if count:
            problems.append(f"{count} {parent.split('.')[1]}s over-allocated")
    return problems
