"""The one write path: every create, update and delete is validated, audited and announced.

Forms, the API, imports, matching and automations all write through here, so the
rules hold in one place. Writes run in a transaction (the caller's, inside
`transaction()`, or a new one); `bulk_create` takes many records in one call with
batched statements and the same validation, audit and events.

Computed fields are stored. They are evaluated on every write of their record,
and when a record that they aggregate over (`sum(allocation.amount)`) is written,
the affected parents are refreshed in the same transaction. A refresh changes no
version number and writes no audit row of its own: it follows from the audited
write that caused it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import clock
from engine.appdef import Entity, Field, Relation
from engine.appdef.build import computed_dependencies
from engine.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from engine.expr import ExpressionError
from engine.fieldtypes import jsonable
from engine.i18n import _
from engine.permissions import Principal, in_scope
from engine.storage.conflicts import as_conflict
from engine.storage.events import RecordEvent
from engine.storage.reader import Reader
from engine.storage.records import (
    CHUNK,
    Loader,
    RefView,
    RelationView,
    currency_of,
    normalise,
)

if TYPE_CHECKING:
    from engine.storage.database import Database

SYSTEM = ("id", "version", "created_at", "updated_at", "created_by", "updated_by")
BATCH = 2000


class BulkValidationError(ValidationError):
    """Some records of a bulk write are invalid; nothing was written.

    `rows` maps the 0-based index of each bad record to its field errors.
    """

    def __init__(self, rows: dict[int, dict[str, str]]):
        self.rows = rows
        first = sorted(rows.items())[:5]
        super().__init__(
            {
                f"row {i + 1}": "; ".join(f"{k or 'record'}: {v}" for k, v in errs.items())
                for i, errs in first
            }
        )


@dataclass(frozen=True)
class EntityPlan:
    """What a write of one entity involves, worked out once per entity."""

    computed_order: tuple[Field, ...]
    parents: tuple[tuple[str, str], ...]  # (parent qualname, child's ref field) to refresh
    # relation name -> child fields, for relations that expressions read only as sum(rel.field):
    # a refresh asks the database for the sums instead of loading every child row
    summed: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _summed_relations(ent: Entity) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Relations that the entity's computed fields and checks read only as `sum(rel.field)`."""
    import ast

    trees = [f.expr.tree for f in ent.computed_fields if f.expr]
    trees += [c.when.tree for c in ent.checks]
    nodes = [n for tree in trees for n in ast.walk(tree)]
    out = []
    for relation in ent.relations:
        uses = [n for n in nodes if isinstance(n, ast.Name) and n.id == relation.name]
        sums = [
            n.args[0].attr
            for n in nodes
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "sum"
            and len(n.args) == 1
            and isinstance(n.args[0], ast.Attribute)
            and isinstance(n.args[0].value, ast.Name)
            and n.args[0].value.id == relation.name
        ]
        if uses and len(uses) == len(sums):
            out.append((relation.name, tuple(sorted(set(sums)))))
    return tuple(out)


class Repository(Reader):
    """Reads (see Reader) and the one write path."""

    def __init__(self, db: Database, principal: Principal):
        super().__init__(db, principal)
        self._loader: Loader | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """Group several writes into one transaction (nested calls join the outer one)."""
        if self._conn is not None:
            yield self._conn
            return
        try:
            with self.db.writing() as conn:
                self._conn, self._loader = conn, Loader(self.db, conn)
                try:
                    yield conn
                finally:
                    self._conn, self._loader = None, None
        except sa.exc.DBAPIError as exc:
            conflict = as_conflict(self.db, exc)
            if conflict is None:
                raise
            raise conflict from exc

    @property
    def loader(self) -> Loader:
        assert self._loader is not None
        return self._loader

    # -- writes -----------------------------------------------------------------------------

    def create(self, entity: Entity | str, values: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.bulk_create(entity, [values], _return_rows=True)[0]
        except BulkValidationError as exc:
            raise ValidationError(exc.rows[0]) from None

    def bulk_create(
        self,
        entity: Entity | str,
        records: Sequence[Mapping[str, Any]],
        _return_rows: bool = False,
    ) -> list[Any]:
        """Create many records in one transaction: all of them, or none (BulkValidationError).

        Returns the new ids (or, for `create`, the stored records).
        """
        ent = self._allowed(entity, "create")
        table = self.db.table(ent.qualname)
        now = clock.now()
        with self.transaction() as conn:
            self._prefetch_refs(ent, records)
            rows: list[dict[str, Any]] = []
            errors: dict[int, dict[str, str]] = {}
            for i, values in enumerate(records):
                row, errs = self._prepare(ent, values, None)
                if errs:
                    errors[i] = errs
                rows.append(row)
            self._check_unique(ent, rows, errors, existing_ids=None)
            if errors:
                raise BulkValidationError(errors)
            self._check_scope(ent, rows)
            for row in rows:
                row.update(
                    version=1,
                    created_at=now,
                    updated_at=now,
                    created_by=self.user,
                    updated_by=self.user,
                )
            ids = self._insert(conn, table, rows)
            stored = []
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
                stored.append(normalise(ent, {c.name: row.get(c.name) for c in table.columns}))
            self._audit(conn, ent, "create", [(r["id"], None, r) for r in stored])
            self._emit(conn, ent, "created", [(r["id"], None, r) for r in stored])
            self._refresh_parents(ent, stored)
        return stored if _return_rows else ids

    def _insert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert rows in batches; their new ids, in order."""
        columns = [c.name for c in table.columns if c.name != "id"]
        values = [{c: r.get(c) for c in columns} for r in rows]
        if self.db.dialect != "sqlite" or len(values) < 2:
            ids: list[int] = []
            stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
            for start in range(0, len(values), BATCH):
                ids.extend(conn.execute(stmt, values[start : start + BATCH]).scalars().all())
            return ids
        # SQLite cannot promise the order of a multi-row INSERT's RETURNING, so SQLAlchemy
        # sends `sort_by_parameter_order` inserts one row at a time (100,000 statements for
        # 100,000 rows). Instead: the first row alone, which takes the database's write lock
        # for the rest of the transaction, then the others with the ids that follow it, in
        # one executemany. No other writer can take an id in between, and no row can have an
        # id above the one SQLite just picked (AUTOINCREMENT: one past the highest ever used).
        first = conn.execute(table.insert().returning(table.c.id), values[0]).scalar_one()
        ids = list(range(first, first + len(values)))
        rest = [{**v, "id": i} for v, i in zip(values[1:], ids[1:], strict=True)]
        for start in range(0, len(rest), BATCH):
            conn.execute(table.insert(), rest[start : start + BATCH])
        return ids

    def update(
        self,
        entity: Entity | str,
        record_id: int,
        values: Mapping[str, Any],
        version: int | None = None,
    ) -> dict[str, Any]:
        """Change some fields; `version` (when given) must be the one the caller read."""
        ent = self._allowed(entity, "update")
        table = self.db.table(ent.qualname)
        with self.transaction() as conn:
            current = self._current(ent, record_id, version)
            self.loader.fetch(ent.qualname, [record_id])
            self._prefetch_refs(ent, [values])
            row, errors = self._prepare(ent, values, current)
            if errors:
                raise ValidationError(errors)
            self._check_unique(ent, [row], {}, existing_ids=[record_id], raise_single=True)
            self._check_scope(ent, [row])
            changes = {k: v for k, v in row.items() if k in ent.fields and current.get(k) != v}
            now = clock.now()
            changes.update(version=current["version"] + 1, updated_at=now, updated_by=self.user)
            result = conn.execute(
                table.update()
                .where(table.c.id == record_id, table.c.version == current["version"])
                .values(**changes)
            )
            if result.rowcount != 1:
                raise StaleVersion(
                    ent.qualname, record_id, current["version"], current["version"] + 1
                )
            after = normalise(ent, {**current, **changes})
            self.loader.forget(ent.qualname, [record_id])
            self._audit(conn, ent, "update", [(record_id, current, after)])
            self._emit(conn, ent, "updated", [(record_id, current, after)])
            self._refresh_parents(ent, [after], before=[current])
        return after

    def delete(self, entity: Entity | str, record_id: int, version: int | None = None) -> None:
        ent = self._allowed(entity, "delete")
        with self.transaction():
            current = self._current(ent, record_id, version)
            self._delete_rows(ent, [current])

    def _current(self, ent: Entity, record_id: int, version: int | None) -> dict[str, Any]:
        table = self.db.table(ent.qualname)
        # Outside the principal's scope, a record is not found, exactly like a missing one.
        stmt = sa.select(table).where(table.c.id == record_id, *self._scope(ent, table))
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()  # type: ignore[union-attr]
        if row is None:
            raise NotFound(f"{ent.label} #{record_id} does not exist")
        if version is not None and int(version) != row["version"]:
            raise StaleVersion(ent.qualname, record_id, int(version), row["version"])
        return normalise(ent, row)

    def _delete_rows(self, ent: Entity, rows: list[dict[str, Any]]) -> None:
        conn = self._conn
        assert conn is not None
        ids = [r["id"] for r in rows]
        for relation in ent.relations:
            child = self.db.appset.entity(relation.child)
            ctable = self.db.table(child.qualname)
            col = ctable.c[relation.field]
            if child.fields[relation.field].on_delete == "cascade":
                children = [
                    normalise(child, r)
                    for r in conn.execute(sa.select(ctable).where(col.in_(ids))).mappings()
                ]
                if children:
                    self._delete_rows(child, children)
                continue
            count = conn.execute(
                sa.select(sa.func.count()).select_from(ctable).where(col.in_(ids))
            ).scalar_one()
            if count and not self.can(child, "read"):
                raise ValidationError({"": _("cannot delete: other records refer to it")})
            if count:
                what = (
                    f"{child.label.lower()} refers"
                    if count == 1
                    else f"{child.plural.lower()} refer"
                )
                raise ValidationError(
                    {"": f"cannot delete: {count} {what} to it; delete or move them first"}
                )
        table = self.db.table(ent.qualname)
        for start in range(0, len(ids), CHUNK):
            conn.execute(table.delete().where(table.c.id.in_(ids[start : start + CHUNK])))
        self.loader.forget(ent.qualname, ids)
        self._audit(conn, ent, "delete", [(r["id"], r, None) for r in rows])
        self._emit(conn, ent, "deleted", [(r["id"], r, None) for r in rows])
        self._refresh_parents(ent, [], before=rows)

    # -- validation -------------------------------------------------------------------------

    def _ref_problem(self, field: Field, value: int, current: dict[str, Any] | None) -> str | None:
        """Whether a ref may point at `value`: it must exist and the principal must see it.

        A new ref to an entity the principal may not read is refused with one message
        whether or not the record exists, so that writes cannot probe for records.
        """
        target = self.entity(field.ref)  # type: ignore[arg-type]
        unchanged = current is not None and current.get(field.name) == value
        if not unchanged and not self.can(target, "read"):
            return _(
                "cannot be chosen: your role may not read %(plural)s", plural=target.plural.lower()
            )
        row = self.loader.get(target.qualname, value)
        if row is None or not (unchanged or in_scope(self.principal, target, row)):
            return f"there is no {target.label.lower()} #{value}"
        return None

    def _check_scope(self, ent: Entity, rows: list[dict[str, Any]]) -> None:
        """A scoped principal writes only records it may see afterwards (its own customer's)."""
        if self.principal.scope and not all(in_scope(self.principal, ent, r) for r in rows):
            raise PermissionDenied(
                _("that %(entity)s is outside what you may change", entity=ent.label.lower())
            )

    def _prepare(
        self, ent: Entity, values: Mapping[str, Any], current: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Typed, defaulted, computed and checked values of one record, and its errors."""
        errors: dict[str, str] = {}
        row: dict[str, Any] = {k: v for k, v in (current or {}).items() if k in ent.fields}
        for key, raw in values.items():
            field = ent.fields.get(key)
            if field is None:
                if key in SYSTEM:
                    continue
                errors[key] = f"{ent.name} has no field '{key}'"
                continue
            if field.computed or (field.readonly and current is not None):
                continue  # derived or fixed: what a client sends back is ignored
            try:
                row[key] = field.type.coerce(raw, field)
            except ValueError as exc:
                errors[key] = str(exc)
        if current is None:
            self._apply_defaults(ent, values, row, errors)
        for field in ent.fields.values():
            if field.computed or field.name in errors:
                continue
            value = row.get(field.name)
            if value is None:
                if field.required:
                    errors[field.name] = "is required"
                continue
            problem = field.type.validate(value, field)
            if problem is None and field.type.uses_currency:
                problem = field.type.currency_problem(value, currency_of(ent, field.name, row))
            if problem is None and field.ref:
                problem = self._ref_problem(field, value, current)
            if problem:
                errors[field.name] = problem
        if errors:
            return row, errors
        context = self._context(ent, row, current["id"] if current else None)
        self._compute(ent, row, context, errors)
        if not errors:
            self._run_checks(ent, context, errors)
        return row, errors

    @staticmethod
    def _run_checks(ent: Entity, context: dict[str, Any], errors: dict[str, str]) -> None:
        for check in ent.checks:
            try:
                failed = check.when.evaluate(context)
            except ExpressionError as exc:
                if exc.blank:
                    continue  # a check comparing a blank value does not apply
                errors[check.field or ""] = f"check failed to run: {exc}"
                continue
            if failed:
                errors[check.field or ""] = check.message

    def _apply_defaults(
        self, ent: Entity, given: Mapping[str, Any], row: dict[str, Any], errors: dict[str, str]
    ) -> None:
        for field in ent.fields.values():
            if field.computed or row.get(field.name) is not None or field.name in errors:
                continue
            if field.default is not None:
                row[field.name] = field.default
        context: dict[str, Any] | None = None
        for field in ent.fields.values():
            if field.default_expr is None or row.get(field.name) is not None:
                continue
            if field.name in errors:
                continue
            context = context or self._context(ent, row, None)
            try:
                value = field.default_expr.evaluate(context)
                self._bind(row, context, field, field.type.coerce(_plain(value), field))
            except ExpressionError as exc:
                if exc.blank or any(self._dangling(ent, row, n) for n in field.default_expr.names):
                    continue  # inputs missing: the required and ref checks will say which
                errors[field.name] = f"could not work out the default: {exc}"
            except ValueError as exc:
                errors[field.name] = f"default {exc}"

    def _dangling(self, ent: Entity, row: Mapping[str, Any], name: str) -> bool:
        """True when ref field `name` points at a record that does not exist."""
        field = ent.fields.get(name)
        value = row.get(name)
        if field is None or field.ref is None or value is None:
            return False
        return self.loader.get(field.ref, value) is None

    def _compute(
        self, ent: Entity, row: dict[str, Any], context: dict[str, Any], errors: dict[str, str]
    ) -> None:
        for field in self._plan(ent).computed_order:
            try:
                value = field.expr.evaluate(context)  # type: ignore[union-attr]
                self._bind(row, context, field, self._computed_value(ent, field, value, row))
            except (ExpressionError, ValueError) as exc:
                errors[field.name] = f"could not be computed: {exc}"

    def _bind(self, row: dict[str, Any], context: dict[str, Any], field: Field, value: Any) -> None:
        """Set a value in the record and in the expression context built from it."""
        row[field.name] = value
        if field.ref and value is not None:
            value = RefView(self.loader, self.db.appset, field.ref, value)
        context[field.name] = value

    @staticmethod
    def _computed_value(ent: Entity, field: Field, value: Any, row: Mapping[str, Any]) -> Any:
        result = field.value_type
        currency = currency_of(ent, field.name, row) if result.uses_currency else None
        return result.computed_value(_plain(value), field, currency)

    def _context(
        self, ent: Entity, row: Mapping[str, Any], record_id: int | None
    ) -> dict[str, Any]:
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

    def _prefetch_refs(self, ent: Entity, records: Sequence[Mapping[str, Any]]) -> None:
        for field in ent.fields.values():
            if field.ref:
                ids = []
                for r in records:
                    try:
                        ids.append(field.type.coerce(r.get(field.name), field))
                    except ValueError:
                        continue
                self.loader.fetch(field.ref, ids)

    def _check_unique(
        self,
        ent: Entity,
        rows: list[dict[str, Any]],
        errors: dict[int, dict[str, str]],
        existing_ids: list[int] | None,
        raise_single: bool = False,
    ) -> None:
        table = self.db.table(ent.qualname)
        for field in ent.fields.values():
            if not field.unique:
                continue
            seen: dict[Any, int] = {}
            for i, row in enumerate(rows):
                value = row.get(field.name)
                if value is None:
                    continue
                if value in seen:
                    errors.setdefault(i, {})[field.name] = (
                        f"{value!s} is used twice (also in row {seen[value] + 1})"
                    )
                seen.setdefault(value, i)
            values = list(seen)
            for start in range(0, len(values), CHUNK):
                chunk = values[start : start + CHUNK]
                stmt = sa.select(table.c[field.name], table.c.id).where(
                    table.c[field.name].in_(chunk)
                )
                if existing_ids:
                    stmt = stmt.where(table.c.id.not_in(existing_ids))
                for value, other in self._conn.execute(stmt):  # type: ignore[union-attr]
                    errors.setdefault(seen[value], {})[field.name] = (
                        f"{value!s} is already used by {ent.label.lower()} #{other}"
                    )
        if raise_single and errors:
            raise ValidationError(errors[0])

    # -- derived values of parents ------------------------------------------------------------

    def _plan(self, ent: Entity) -> EntityPlan:
        plans: dict[str, EntityPlan] = self.db.__dict__.setdefault("_entity_plans", {})
        if ent.qualname not in plans:
            plans.update(_plans(self.db))
        return plans[ent.qualname]

    def _refresh_parents(
        self,
        ent: Entity,
        after: list[dict[str, Any]],
        before: list[dict[str, Any]] | None = None,
    ) -> None:
        for parent_name, ref_field in self._plan(ent).parents:
            ids = {r[ref_field] for r in [*after, *(before or [])] if r.get(ref_field) is not None}
            if not ids:
                continue
            try:
                self._refresh(self.entity(parent_name), sorted(ids))
            except ValidationError as exc:
                # Shown beside the field that links to the parent: "invoice: INV-7: ..."
                raise ValidationError({ref_field: "; ".join(exc.errors.values())}) from None

    def _refresh(self, ent: Entity, ids: list[int]) -> None:
        """Recompute the stored computed fields of these records; write the ones that changed."""
        conn = self._conn
        assert conn is not None
        table = self.db.table(ent.qualname)
        if self.db.dialect == "postgresql":
            # Wait for concurrent writers of these parents, then read the children: a sum
            # read before their commit would be written back over theirs (a lost update).
            # NO KEY UPDATE, as the UPDATE below takes: it does not wait for the key-share
            # locks that inserting the children took, so two writers cannot deadlock on them.
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                lock = sa.select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id)
                conn.execute(lock.with_for_update(key_share=True))
        self.loader.forget(ent.qualname, ids)
        summed = dict(self._plan(ent).summed)
        synthetic = []  # children caches holding one row of sums per parent, not real rows
        for relation in ent.relations:
            key = (relation.child, relation.field)
            self.loader.children_cache.pop(key, None)
            if relation.name in summed:
                self._fetch_sums(relation, ids, summed[relation.name])
                synthetic.append(key)
            else:
                self.loader.fetch_children(relation, ids)
        try:
            self.loader.fetch(ent.qualname, ids)
            changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for record_id in ids:
                current = self.loader.get(ent.qualname, record_id)
                if current is None:
                    continue
                row = dict(current)
                errors: dict[str, str] = {}
                context = self._context(ent, row, record_id)
                self._compute(ent, row, context, errors)
                if any(row[f.name] != current.get(f.name) for f in ent.computed_fields):
                    # A record's checks hold whoever changes it, also through related records.
                    self._run_checks(ent, context, errors)
                    changed.append((current, row))
                if errors:
                    label = self._render_labels(ent, [row], depth=0).get(record_id, f"#{record_id}")
                    raise ValidationError({k: f"{label}: {v}" for k, v in errors.items()})
        finally:
            for key in synthetic:  # never serve them as the children themselves
                self.loader.children_cache.pop(key, None)
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
            conn.execute(stmt, params[start : start + BATCH])
        self.loader.forget(ent.qualname, [r["id"] for _, r in changed])
        self._emit(conn, ent, "updated", [(r["id"], b, r) for b, r in changed])
        self._refresh_parents(ent, [r for _, r in changed])

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
            for row in self._conn.execute(stmt):  # type: ignore[union-attr]
                cache[row[0]] = [dict(zip(fields, row[1:], strict=True))]

    # -- audit and events -----------------------------------------------------------------------

    def _audit(
        self,
        conn: sa.Connection,
        ent: Entity,
        action: str,
        items: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]],
    ) -> None:
        audit = self.db.system("audit")
        at = clock.now()
        rows = [
            {
                "at": at,
                "user": self.user,
                "entity": ent.qualname,
                "record_id": record_id,
                "action": action,
                "before": jsonable(before),
                "after": jsonable(after),
            }
            for record_id, before, after in items
        ]
        for start in range(0, len(rows), BATCH):
            conn.execute(audit.insert(), rows[start : start + BATCH])

    def _emit(
        self,
        conn: sa.Connection,
        ent: Entity,
        kind: str,
        items: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]],
    ) -> None:
        if not self.db.listeners:
            return
        for record_id, before, after in items:
            event = RecordEvent(kind, ent.qualname, record_id, before, after, self.user)
            for listener in self.db.listeners:
                listener(event, conn)


def _plain(value: Any) -> Any:
    if isinstance(value, RefView):
        return value.id
    return value


def _plans(db: Database) -> dict[str, EntityPlan]:
    appset = db.appset
    graph = computed_dependencies(appset)
    plans: dict[str, EntityPlan] = {}
    parents: dict[str, set[tuple[str, str]]] = {}
    for ent in appset.entities():
        for relation in ent.relations:
            if any(
                chain[0] == relation.name
                for f in ent.computed_fields
                for chain in (f.expr.paths if f.expr else ())
            ):
                parents.setdefault(relation.child, set()).add((ent.qualname, relation.field))
    for ent in appset.entities():
        local = {
            f.name: {
                dep for owner, dep in graph.get((ent.qualname, f.name), ()) if owner == ent.qualname
            }
            for f in ent.computed_fields
        }
        order = tuple(ent.fields[name] for name in TopologicalSorter(local).static_order())
        plans[ent.qualname] = EntityPlan(
            order, tuple(sorted(parents.get(ent.qualname, ()))), _summed_relations(ent)
        )
    return plans


__all__ = ["BulkValidationError", "Repository"]
