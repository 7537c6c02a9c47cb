"""Making the children a `generate:` section declares (an invoice's instalments), on a write.

Called by the Repository after a parent is created or updated, in the same transaction:
the children are written through the Repository itself (validated, audited, announced),
all the parents of one write in one bulk write. On an update they are made again only when
a parent field they read changed (the old ones are deleted, through the Repository too).
Amounts are exact: the remainder field is rounded to each child's currency and the last
child takes what is left of the total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import money
from engine.appdef import Entity
from engine.appdef.generate import Generator, generators_for
from engine.errors import ValidationError
from engine.expr import ExpressionError
from engine.storage import fastexpr
from engine.storage.derived import plain
from engine.storage.records import RefView, currency_of, normalise

if TYPE_CHECKING:
    from engine.storage.repository import Repository


def after_write(
    repo: Repository,
    ent: Entity,
    after: Sequence[Mapping[str, Any]],
    before: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Make (or make again) the children of the parents just written."""
    for gen in generators_for(repo.db.appset, ent.qualname):
        parents = list(after)
        if before is not None:
            parents = [
                a for a, b in zip(after, before, strict=True)
                if any(a.get(f) != b.get(f) for f in gen.reads)
            ]  # fmt: skip
            _delete_children(repo, gen, [p["id"] for p in parents])
        ids = [p["id"] for p in parents]
        if gen.refs:  # a parent whose first ref is blank has no lines: no need to read it
            parents = [p for p in parents if p.get(gen.refs[0]) is not None]
        records: list[dict[str, Any]] = []
        repo.loader.fetch(gen.parent_entity, [p["id"] for p in parents])  # one query, not one each
        for parent in parents:
            try:
                records += children_of(repo, gen, parent["id"])
            except (ExpressionError, ValueError) as exc:
                raise ValidationError({gen.parent: f"{gen.name}: {exc}"}) from None
        if records:
            try:
                repo.bulk_create(gen.entity, records)
            except ValidationError as exc:  # name the generator beside the parent's fields
                raise ValidationError({"": f"{gen.name}: {exc}"}) from None
        # The loader lives as long as the transaction: an import of a million invoices in
        # one would otherwise keep every one of them in memory.
        repo.loader.forget(gen.parent_entity, ids)


def children_of(repo: Repository, gen: Generator, parent_id: int) -> list[dict[str, Any]]:
    """The values of the children one parent gets, in order, adding up exactly."""
    appset, loader = repo.db.appset, repo.loader
    child = appset.entity(gen.entity)
    holder_name, holder_id = gen.parent_entity, parent_id
    for ref in gen.refs:  # walk to the record holding the lines (the payment schedule)
        row = loader.get(holder_name, holder_id)
        target = appset.entity(holder_name).fields[ref]
        if row is None or row.get(ref) is None:
            return []
        holder_name, holder_id = target.ref, row[ref]  # type: ignore[assignment]
    holder = appset.entity(holder_name)
    relation = next(r for r in holder.relations if r.name == gen.relation)
    lines = sorted(
        loader.children(relation, holder_id),
        key=lambda r: (*(_sortable(r.get(f)) for f in gen.order), r["id"]),
    )
    names: dict[str, Any] = {
        gen.parent: RefView(loader, appset, gen.parent_entity, parent_id),
        "count": len(lines),
    }
    total = _evaluate(gen.total, names) if gen.total is not None else None
    made: list[dict[str, Any]] = []
    before = Decimal(0)
    for position, line in enumerate(lines, start=1):
        names.update(
            line=RefView(loader, appset, gen.line_entity, line["id"]),
            position=position,
            before=before,
        )
        values = {name: _evaluate(expr, names) for name, expr in gen.values.items()}
        values[gen.parent] = parent_id
        if gen.remainder is not None:
            currency = currency_of(child, gen.remainder, values)
            share = values.get(gen.remainder) or Decimal(0)
            if position == len(lines) and total is not None:
                share = Decimal(total) - before
            values[gen.remainder] = money.round_money(Decimal(share), currency)
            before += values[gen.remainder]
        made.append(values)
    return made


def _evaluate(expr: Any, names: dict[str, Any]) -> Any:
    return plain(fastexpr.evaluate(expr, names))


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def _delete_children(repo: Repository, gen: Generator, parent_ids: list[int]) -> None:
    if not parent_ids:
        return
    child = repo.db.appset.entity(gen.entity)
    table = repo.db.table(child.qualname)
    stmt = sa.select(table).where(table.c[gen.parent].in_(parent_ids))
    rows = [normalise(child, r) for r in repo.conn.execute(stmt).mappings()]
    if rows:  # the engine's own act, as their making was: audited, whoever may delete
        repo._delete_rows(child, rows)
