"""Computed fields that read a referenced record's fields, kept current when it changes.

A parent refresh goes up: an allocation changes the invoice that sums over it. This goes
down: an instalment's `open_amount` reads `invoice.paid_amount`, so when an invoice's
values change (written, refreshed from its allocations, or refreshed daily) the records
pointing at it whose computed fields read the fields that changed are computed again, in
the same transaction: their checks run when a value changed, one UPDATE per batch, an
`updated` event each, no audit row and no new version (as a parent refresh), and then their
own parents and dependents follow. Only the first step of a path counts: `invoice.x` is
followed, `invoice.customer.x` is not.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import AppSet, Entity
from engine.errors import ValidationError
from engine.storage import fastexpr, idlist
from engine.storage.audit import BATCH, Change
from engine.storage.derived import run_checks
from engine.storage.records import CHUNK, normalise

if TYPE_CHECKING:
    from engine.storage.repository import Repository

# referenced entity -> (dependent entity, its ref field, the referenced fields it reads)
Plan = Mapping[str, tuple[tuple[str, str, frozenset[str]], ...]]
_PLANS: dict[int, Plan] = {}


def plan(appset: AppSet) -> Plan:
    """Who reads whose fields through a ref, worked out once per set of apps."""
    known = _PLANS.get(id(appset))
    if known is not None:
        return known
    found: dict[str, list[tuple[str, str, frozenset[str]]]] = {}
    for ent in appset.entities():
        reads: dict[str, set[str]] = {}
        for f in ent.computed_fields:
            for chain in f.expr.paths if f.expr else ():
                ref = ent.fields.get(chain[0])
                if ref is not None and ref.ref and len(chain) > 1:
                    reads.setdefault(ref.name, set()).add(chain[1])
        for name, fields in sorted(reads.items()):
            target = ent.fields[name].ref
            assert target is not None
            found.setdefault(target, []).append((ent.qualname, name, frozenset(fields)))
    result: Plan = {k: tuple(v) for k, v in found.items()}
    _PLANS[id(appset)] = result
    weakref.finalize(appset, _PLANS.pop, id(appset), None)
    return result


def refresh(repo: Repository, ent: Entity, items: Sequence[Change]) -> None:
    """Recompute the records whose computed fields read the fields of `items` that changed."""
    for child_name, ref, reads in plan(repo.db.appset).get(ent.qualname, ()):
        ids = sorted(
            record_id
            for record_id, before, after in items
            if before is not None
            and after is not None
            and any(before.get(f) != after.get(f) for f in reads)
        )
        if ids:
            with fastexpr.exact():
                _recompute(repo, repo.db.appset.entity(child_name), ref, ids)


def _recompute(repo: Repository, child: Entity, ref: str, parent_ids: list[int]) -> None:
    table = repo.db.table(child.qualname)
    derivation = repo.validator.derivation
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    ids = idlist.param(repo.db.dialect == "sqlite")
    stmt = sa.select(table).where(idlist.among(table.c[ref], ids)).order_by(table.c.id)
    for start in range(0, len(parent_ids), CHUNK):
        bound = {"ids": idlist.bound(ids, parent_ids[start : start + CHUNK])}
        for current in [normalise(child, r) for r in repo.conn.execute(stmt, bound).mappings()]:
            row = dict(current)
            errors: dict[str, str] = {}
            context = derivation.context(child, row, current["id"])
            derivation.compute(child, row, context, errors)
            if any(row[f.name] != current.get(f.name) for f in child.computed_fields):
                run_checks(child, context, errors)
                changed.append((current, row))
            if errors:
                label = repo._label(child, row)
                raise ValidationError({k: f"{label}: {v}" for k, v in errors.items()})
    write_back(repo, child, [f.name for f in child.computed_fields], changed)


def write_back(
    repo: Repository,
    ent: Entity,
    names: Sequence[str],
    changed: Sequence[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Store recomputed values (before, after) as a refresh does: no audit row, no new
    version, an `updated` event each; then their parents and dependents follow."""
    if not changed:
        return
    table = repo.db.table(ent.qualname)
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("_id"))
        .values({n: sa.bindparam(f"_{n}") for n in names})
    )
    params = [{"_id": r["id"], **{f"_{n}": r[n] for n in names}} for _, r in changed]
    for start in range(0, len(params), BATCH):
        repo.conn.execute(update, params[start : start + BATCH])
    repo.loader.forget(ent.qualname, [r["id"] for _, r in changed])
    repo._refreshed(ent, [(r["id"], b, r) for b, r in changed])
    repo.parents.parents_of(ent, [r for _, r in changed], before=[b for b, _ in changed])
