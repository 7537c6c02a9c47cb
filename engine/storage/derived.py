"""Derived values: the computed fields of a record, and the refresh of the parents over it.

Computed fields are stored. They are evaluated on every write of their record, in the
order the write plan gives (engine.appdef.plan), and when a record they aggregate over
(`sum(allocation.amount)`) is written, the affected parents are refreshed in the same
transaction: their computed fields again, their checks when a value changed, one UPDATE
per batch, and on up to the grandparents. A refresh changes no version number and writes
no audit row of its own: it follows from the audited write that caused it; listeners
still hear an `updated` event for each parent whose values changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import Entity, Field, Relation
from engine.appdef.plan import EntityPlan, entity_plan
from engine.errors import ValidationError
from engine.expr import ExpressionError
from engine.i18n import _, message_of
from engine.storage import fastexpr
from engine.storage.audit import BATCH, Change
from engine.storage.records import CHUNK, Loader, RefView, RelationView, currency_of

if TYPE_CHECKING:
    from engine.storage.database import Database


def plain(value: Any) -> Any:
    """A value as stored: a reference is its id."""
    if isinstance(value, RefView):
        return value.id
    return value


class Derivation:
    """Computed values and checks of records, reading related records through `loader`."""

    def __init__(self, db: Database, loader: Loader):
        self.db, self.loader = db, loader

    def plan(self, ent: Entity) -> EntityPlan:
        return entity_plan(self.db.appset, ent.qualname)

    def context(self, ent: Entity, row: Mapping[str, Any], record_id: int | None) -> dict[str, Any]:
        """The names an expression of `ent` sees: its fields, refs as records, relations."""
        names: dict[str, Any] = {"id": record_id}
        for field in ent.fields.values():
            value = row.get(field.name)
            if field.ref and value is not None:
                value = RefView(self.loader, self.db.appset, field.ref, value)
            names[field.name] = value
        for relation in ent.relations:
            rows = self.loader.children(relation, record_id) if record_id is not None else []
            names[relation.name] = RelationView(rows)
        return names

    def compute(
        self, ent: Entity, row: dict[str, Any], context: dict[str, Any], errors: dict[str, str]
    ) -> None:
        """Evaluate the computed fields into `row` (and `context`), each after its inputs."""
        for field in self.plan(ent).computed_order:
            try:
                value = fastexpr.evaluate(field.expr, context)  # type: ignore[arg-type]
                self.bind(row, context, field, computed_value(ent, field, value, row))
            except (ExpressionError, ValueError) as exc:
                problem = exc.located if isinstance(exc, ExpressionError) else message_of(exc)
                errors[field.name] = _("could not be computed: %(error)s", error=problem)

    def bind(self, row: dict[str, Any], context: dict[str, Any], field: Field, value: Any) -> None:
        """Set a value in the record and in the expression context built from it."""
        row[field.name] = value
        if field.ref and value is not None:
            value = RefView(self.loader, self.db.appset, field.ref, value)
        context[field.name] = value


def computed_value(ent: Entity, field: Field, value: Any, row: Mapping[str, Any]) -> Any:
    """An expression's result as the computed field stores it (money at its currency)."""
    result = field.value_type
    currency = currency_of(ent, field.name, row) if result.uses_currency else None
    return result.computed_value(plain(value), field, currency)


def run_checks(ent: Entity, context: dict[str, Any], errors: dict[str, str]) -> None:
    """The entity's checks against a record's context; a failed one adds its message."""
    for check in ent.checks:
        try:
            failed = fastexpr.evaluate(check.when, context)
        except ExpressionError as exc:
            if exc.blank:
                continue  # a check comparing a blank value does not apply
            errors[check.field or ""] = _("check failed to run: %(error)s", error=exc.located)
            continue
        if failed:
            errors[check.field or ""] = check.message


class ParentRefresh:
    """Recomputes the parents that sum over records just written, in the same transaction.

    `changed(entity, changes)` is told of every parent whose values changed (the events);
    `label(entity, row)` names a parent in an error ("INV-7: ...").
    """

    def __init__(
        self,
        db: Database,
        conn: sa.Connection,
        derivation: Derivation,
        changed: Callable[[Entity, list[Change]], None],
        label: Callable[[Entity, dict[str, Any]], str],
    ):
        self.db, self.conn, self.derivation = db, conn, derivation
        self.loader = derivation.loader
        self.changed, self.label = changed, label

    def parents_of(
        self,
        ent: Entity,
        after: Sequence[Mapping[str, Any]],
        before: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Refresh the parents that the rows of `ent` point at, before and after the write."""
        for parent_name, ref_field in self.derivation.plan(ent).parents:
            ids = {r[ref_field] for r in [*after, *(before or [])] if r.get(ref_field) is not None}
            if not ids:
                continue
            try:
                with fastexpr.exact():
                    self._refresh(self.db.appset.entity(parent_name), sorted(ids))
            except ValidationError as exc:
                # Shown beside the field that links to the parent: "invoice: INV-7: ..."
                raise ValidationError({ref_field: "; ".join(exc.errors.values())}) from None

    def _lock(self, table: sa.Table, ids: list[int]) -> None:
        # PostgreSQL: wait for concurrent writers of these parents, then read the children:
        # a sum read before their commit would be written back over theirs (a lost update).
        # NO KEY UPDATE, as the UPDATE below takes: it does not wait for the key-share
        # locks that inserting the children took, so two writers cannot deadlock on them.
        # (SQLite's writers hold the whole database from BEGIN IMMEDIATE on.)
        if self.db.dialect != "postgresql":
            return
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            lock = sa.select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id)
            self.conn.execute(lock.with_for_update(key_share=True))

    def _refresh(self, ent: Entity, ids: list[int]) -> None:
        """Recompute the stored computed fields of these records; write the ones that changed."""
        table = self.db.table(ent.qualname)
        self._lock(table, ids)
        loader, derivation = self.loader, self.derivation
        if self.db.dialect == "postgresql":
            # Read them again now that they are locked: a concurrent writer may have
            # committed since they were loaded. (On SQLite no writer can have: the rows the
            # loader holds are current, as every write forgets the records it changes.)
            loader.forget(ent.qualname, ids)
        summed = dict(derivation.plan(ent).summed)
        synthetic = []  # children caches holding one row of sums per parent, not real rows
        for relation in ent.relations:
            key = (relation.child, relation.field)
            loader.children_cache.pop(key, None)
            if relation.name in summed:
                self._fetch_sums(relation, ids, summed[relation.name])
                synthetic.append(key)
            else:
                loader.fetch_children(relation, ids)
        try:
            loader.fetch(ent.qualname, ids)
            changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for record_id in ids:
                current = loader.get(ent.qualname, record_id)
                if current is None:
                    continue
                row = dict(current)
                errors: dict[str, str] = {}
                context = derivation.context(ent, row, record_id)
                derivation.compute(ent, row, context, errors)
                if any(row[f.name] != current.get(f.name) for f in ent.computed_fields):
                    # A record's checks hold whoever changes it, also through related records.
                    run_checks(ent, context, errors)
                    changed.append((current, row))
                if errors:
                    label = self.label(ent, row)
                    raise ValidationError({k: f"{label}: {v}" for k, v in errors.items()})
        finally:
            for key in synthetic:  # never serve them as the children themselves
                loader.children_cache.pop(key, None)
        if not changed:
            return
        names = [f.name for f in ent.computed_fields]
        stmt = (
            table.update()
            .where(table.c.id == sa.bindparam("_id"))
            .values({n: sa.bindparam(f"_{n}") for n in names})
        )
        params = [{"_id": r["id"], **{f"_{n}": r[n] for n in names}} for _, r in changed]
        for start in range(0, len(params), BATCH):
            self.conn.execute(stmt, params[start : start + BATCH])
        loader.forget(ent.qualname, [r["id"] for _, r in changed])
        self.changed(ent, [(r["id"], b, r) for b, r in changed])
        self.parents_of(ent, [r for _, r in changed])

    def _fetch_sums(self, relation: Relation, ids: list[int], fields: tuple[str, ...]) -> None:
        """One row per parent holding the sums: `sum(rel.field)` over it is the same total."""
        table = self.db.table(relation.child)
        fk = table.c[relation.field]
        cache = self.loader.children_cache.setdefault((relation.child, relation.field), {})
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for i in chunk:
                cache[i] = []
            stmt = (
                sa.select(fk, *(sa.func.sum(table.c[f]).label(f) for f in fields))
                .where(fk.in_(chunk))
                .group_by(fk)
            )
            for row in self.conn.execute(stmt):
                cache[row[0]] = [dict(zip(fields, row[1:], strict=True))]
