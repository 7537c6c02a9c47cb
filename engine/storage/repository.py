"""The one write path: every create, update and delete is validated, audited and announced.

Forms, the API, imports, matching and automations all write through here, so the
rules hold in one place. Writes run in a transaction (the caller's, inside
`transaction()`, or a new one); `bulk_create` takes many records in one call with
batched statements and the same validation, audit and events.

This module holds the writes themselves; each part of a write has a module of its own:
validation (validation.py), computed values (derived.py), the refresh of parents that sum over
the records written (refresh.py), the audit trail and record events (audit.py), and what
a write of each entity involves, worked out once from the definitions (appdef/plan.py).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import clock, gcpause
from engine.appdef import Entity, Field
from engine.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from engine.i18n import _
from engine.permissions import Principal, in_scope
from engine.storage import dependents, fastexpr, generate
from engine.storage.audit import BATCH, Change, audit, emit
from engine.storage.conflicts import as_conflict
from engine.storage.derived import Derivation
from engine.storage.reader import Reader, refused_values
from engine.storage.records import CHUNK, Loader, as_stored, normalise
from engine.storage.refresh import ParentRefresh
from engine.storage.validation import SYSTEM, RefCheck, Validator
from engine.storage.writes import insert_values

if TYPE_CHECKING:
    from engine.storage.database import Database


# what bulk_update takes per record: (id, values) or (id, values, the version read)
Change_ = tuple[int, Mapping[str, Any]] | tuple[int, Mapping[str, Any], int | None]


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


class Repository(Reader):
    """Reads (see Reader) and the one write path."""

    def __init__(self, db: Database, principal: Principal):
        super().__init__(db, principal)
        self._loader: Loader | None = None
        self._validator: Validator | None = None
        self._parents: ParentRefresh | None = None
        self._ref_targets: dict[str, tuple[Entity, bool]] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """Group several writes into one transaction (nested calls join the outer one)."""
        if self._conn is not None:
            yield self._conn
            return
        try:
            with refused_values(), self.db.writing() as conn:
                self._conn, self._loader = conn, Loader(self.db, conn)
                derivation = Derivation(self.db, self._loader)
                self._validator = Validator(self.db, derivation, self._ref_rule, self._sees)
                self._parents = ParentRefresh(
                    self.db, conn, derivation, self._refreshed, self._label
                )
                try:
                    yield conn
                finally:
                    self._conn, self._loader = None, None
                    self._validator, self._parents = None, None
        except sa.exc.DBAPIError as exc:
            conflict = as_conflict(self.db, exc)
            if conflict is None:
                raise
            raise conflict from exc

    @property
    def loader(self) -> Loader:
        assert self._loader is not None
        return self._loader

    @property
    def validator(self) -> Validator:
        assert self._validator is not None
        return self._validator

    @property
    def parents(self) -> ParentRefresh:
        assert self._parents is not None
        return self._parents

    @property
    def conn(self) -> sa.Connection:
        assert self._conn is not None
        return self._conn

    def _audit(self, conn: sa.Connection, ent: Entity, action: str, items: list[Change]) -> None:
        audit(self.db, conn, self.user, ent, action, items)

    def _emit(self, conn: sa.Connection, ent: Entity, kind: str, items: list[Change]) -> None:
        emit(self.db, conn, self.user, ent, kind, items)

    def _refreshed(self, ent: Entity, items: list[Change]) -> None:
        """Parents whose computed values a refresh changed: an event, no audit row."""
        self._emit(self.conn, ent, "updated", items)
        dependents.refresh(self, ent, items)

    def _label(self, ent: Entity, row: dict[str, Any]) -> str:
        return self._render_labels(ent, [row], depth=0).get(row["id"], f"#{row['id']}")

    # -- writes -----------------------------------------------------------------------------

    def create(self, entity: Entity | str, values: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.bulk_create(entity, [values], _return_rows=True)[0]
        except BulkValidationError as exc:
            raise ValidationError(exc.rows[0]) from None

    @gcpause.paused
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
            self.validator.prefetch_refs(ent, records)
            rows: list[dict[str, Any]] = []
            errors: dict[int, dict[str, str]] = {}
            with fastexpr.exact():
                for i, values in enumerate(records):
                    row, errs = self.validator.prepare(ent, values, None)
                    if errs:
                        errors[i] = errs
                    rows.append(row)
            self.validator.check_unique(conn, ent, rows, errors, existing_ids=None)
            if errors:
                raise BulkValidationError(errors)
            self._check_scope(ent, rows)
            made = {"version": 1, "created_at": now, "updated_at": now}
            made.update(created_by=self.user, updated_by=self.user)
            stored = as_stored(ent, table, rows, made)  # inserted from, and given their ids
            del rows
            ids = self._insert(conn, table, stored)
            self.loader.forget(ent.qualname, ids)  # an id looked up before may be cached as missing
            self._audit(conn, ent, "create", [(r["id"], None, r) for r in stored])
            self._emit(conn, ent, "created", [(r["id"], None, r) for r in stored])
            self.parents.parents_of(ent, stored)
            generate.after_write(self, ent, stored)
        return stored if _return_rows else ids

    def _insert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert rows (as_stored: every column, in the table's order) in batches; each is
        given its new id. The new ids, in order."""
        columns = [c.name for c in table.columns if c.name != "id"]
        if self.db.dialect != "sqlite" or len(rows) < 2:
            values = [{c: r[c] for c in columns} for r in rows]
            ids: list[int] = []
            stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
            for start in range(0, len(values), BATCH):
                ids.extend(conn.execute(stmt, values[start : start + BATCH]).scalars().all())
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
            return ids
        # SQLite cannot promise the order of a multi-row INSERT's RETURNING, so SQLAlchemy
        # sends `sort_by_parameter_order` inserts one row at a time (100,000 statements for
        # 100,000 rows). Instead: the first row alone, which takes the database's write lock
        # for the rest of the transaction, then the others with the ids that follow it, in
        # one executemany. No other writer can take an id in between, and no row can have an
        # id above the one SQLite just picked (AUTOINCREMENT: one past the highest ever used).
        first_row = {c: rows[0][c] for c in columns}
        first = conn.execute(table.insert().returning(table.c.id), first_row).scalar_one()
        ids = list(range(first, first + len(rows)))
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        insert_values(
            conn, table, list(table.columns.keys()), map(list, map(dict.values, rows[1:]))
        )
        return ids

    def update(
        self,
        entity: Entity | str,
        record_id: int,
        values: Mapping[str, Any],
        version: int | None = None,
    ) -> dict[str, Any]:
        """Change some fields; `version` (when given) must be the one the caller read."""
        try:
            return self.bulk_update(entity, [(record_id, values, version)])[0]
        except BulkValidationError as exc:
            raise ValidationError(exc.rows[0]) from None

    @gcpause.paused
    def bulk_update(
        self,
        entity: Entity | str,
        changes: Sequence[
            tuple[int, Mapping[str, Any]] | tuple[int, Mapping[str, Any], int | None]
        ],
    ) -> list[dict[str, Any]]:
        """Change many records in one transaction: all of them, or none.

        `changes` holds `(id, values)` or `(id, values, version)`: as `update` for each
        record (validated, one audit row and one `updated` event each), with the parents
        that sum over them refreshed once for the batch. Raises NotFound or StaleVersion
        for the first record missing or changed since `version`, BulkValidationError
        (`rows` by index in `changes`) when any is invalid. Returns the stored records.
        """
        ent = self._allowed(entity, "update")
        items = [(c[0], c[1], c[2] if len(c) > 2 else None) for c in changes]
        with self.transaction() as conn:
            currents = self._currents(ent, [(i, v) for i, _, v in items])
            ids = [c["id"] for c in currents]
            if len(set(ids)) != len(ids):
                raise ValueError("bulk_update: a record is given twice")
            self.loader.fetch(ent.qualname, ids)
            self.validator.prefetch_refs(ent, [values for _, values, _ in items])
            rows: list[dict[str, Any]] = []
            errors: dict[int, dict[str, str]] = {}
            with fastexpr.exact():
                for i, ((_, values, _), current) in enumerate(zip(items, currents, strict=True)):
                    row, errs = self.validator.prepare(ent, values, current)
                    if errs:
                        errors[i] = errs
                    rows.append(row)
            self.validator.check_unique(conn, ent, rows, errors, existing_ids=ids)
            if errors:
                raise BulkValidationError(errors)
            self._check_scope(ent, rows)
            afters = self._write_changes(conn, ent, rows, currents)
            self.loader.forget(ent.qualname, ids)
            changed: list[Change] = [(c["id"], c, a) for c, a in zip(currents, afters, strict=True)]
            self._audit(conn, ent, "update", changed)
            self._emit(conn, ent, "updated", changed)
            self.parents.parents_of(ent, afters, before=currents)
            dependents.refresh(self, ent, changed)
            generate.after_write(self, ent, afters, currents)
        return afters

    def _write_changes(
        self,
        conn: sa.Connection,
        ent: Entity,
        rows: list[dict[str, Any]],
        currents: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """UPDATE each record's changed fields (one executemany per set of fields changed),
        where its version is still the one read; the records as stored."""
        table = self.db.table(ent.qualname)
        now = clock.now()
        afters: list[dict[str, Any]] = []
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row, current in zip(rows, currents, strict=True):
            diff = {k: v for k, v in row.items() if k in ent.fields and current.get(k) != v}
            diff.update(version=current["version"] + 1, updated_at=now, updated_by=self.user)
            params = {f"_{k}": v for k, v in diff.items()}  # _version: the new one
            params.update(where_id=current["id"], where_version=current["version"])
            groups.setdefault(tuple(diff), []).append(params)
            afters.append(normalise(ent, {**current, **diff}))
        sane = conn.dialect.supports_sane_multi_rowcount
        for names, params_list in groups.items():
            stmt = (
                table.update()
                .where(
                    table.c.id == sa.bindparam("where_id"),
                    table.c.version == sa.bindparam("where_version"),
                )
                .values({n: sa.bindparam(f"_{n}") for n in names})
            )
            for start in range(0, len(params_list), BATCH):
                chunk = params_list[start : start + BATCH]
                result = conn.execute(stmt, chunk)
                if (len(chunk) == 1 or sane) and result.rowcount != len(chunk):
                    first = chunk[0]
                    raise StaleVersion(
                        ent.qualname, first["where_id"], first["where_version"], first["_version"]
                    )
        return afters

    def delete(self, entity: Entity | str, record_id: int, version: int | None = None) -> None:
        self.bulk_delete(entity, [record_id], None if version is None else [version])

    def bulk_delete(
        self,
        entity: Entity | str,
        ids: Sequence[int],
        versions: Sequence[int | None] | None = None,
    ) -> None:
        """Delete many records in one transaction: all of them, or none.

        As `delete` for each (one audit row and one `deleted` event each; children whose
        ref says `on_delete: cascade` go too, others refuse with a ValidationError), with
        the parents that summed over them refreshed once. `versions`, when given, holds the
        version read of each (None: any). NotFound or StaleVersion name the first record
        missing or changed since.
        """
        ent = self._allowed(entity, "delete")
        pairs = list(zip(ids, versions or [None] * len(ids), strict=True))
        pairs = list(dict(pairs).items())  # each record once
        with self.transaction():
            self._delete_rows(ent, self._currents(ent, pairs))

    @contextlib.contextmanager
    def deferred_refresh(self) -> Iterator[sa.Connection]:
        """A transaction whose writes refresh the parents over them once, at its end.

        For an import of many chunks: each parent is recomputed and checked once, however
        many chunks touched it. Within it, a write does not see the sums that the earlier
        writes of the same transaction changed (as the records of one batch do not).
        """
        with self.transaction() as conn, self.parents.deferred():
            yield conn

    def _currents(self, ent: Entity, pairs: list[tuple[int, int | None]]) -> list[dict[str, Any]]:
        """The records (id, version read or None), locked on PostgreSQL, in that order."""
        table = self.db.table(ent.qualname)
        found: dict[int, dict[str, Any]] = {}
        wanted = [i for i, _ in pairs]
        for start in range(0, len(wanted), CHUNK):
            # Outside the principal's scope, a record is not found, exactly like a missing one.
            stmt = sa.select(table).where(
                table.c.id.in_(wanted[start : start + CHUNK]), *self._scope(ent, table)
            )
            if self.db.dialect == "postgresql":
                stmt = stmt.order_by(table.c.id).with_for_update()
            for stored in self.conn.execute(stmt).mappings():
                found[stored["id"]] = normalise(ent, stored)
        out = []
        for record_id, version in pairs:
            try:
                row = found.get(int(record_id))
            except (TypeError, ValueError):
                row = None
            if row is None:
                raise NotFound(f"{ent.label} #{record_id} does not exist")
            if version is not None and int(version) != row["version"]:
                raise StaleVersion(ent.qualname, record_id, int(version), row["version"])
            out.append(row)
        return out

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
        self.parents.parents_of(ent, [], before=rows)

    # -- validation -------------------------------------------------------------------------

    def _ref_rule(self, field: Field) -> RefCheck:
        """What `_ref_problem` says of `field`'s values, worked out once per field and
        transaction: when the principal may read every record of the target, a ref need
        only point at one that exists (the loader holds a batch's refs)."""
        target, readable = self._ref_target(field.ref)  # type: ignore[arg-type]
        if not readable or self.principal.scope:
            return functools.partial(self._ref_problem, field)
        holding, qualname, label = self.loader.holding, target.qualname, target.label.lower()

        def exists(value: int, current: dict[str, Any] | None) -> str | None:
            return None if holding(qualname, value, ()) is not None else _no_such(label, value)

        return exists

    def _ref_problem(self, field: Field, value: int, current: dict[str, Any] | None) -> str | None:
        """Whether a ref may point at `value`: it must exist and the principal must see it.

        A new ref to an entity the principal may not read is refused with one message
        whether or not the record exists, so that writes cannot probe for records.
        """
        target, readable = self._ref_target(field.ref)  # type: ignore[arg-type]
        unchanged = current is not None and current.get(field.name) == value
        if not unchanged and not readable:
            return _(
                "cannot be chosen: your role may not read %(plural)s", plural=target.plural.lower()
            )
        # the columns prefetched are enough to know it exists, not whether it is in scope
        row = self.loader.holding(target.qualname, value, None if self.principal.scope else ())
        if row is None or not (unchanged or in_scope(self.principal, target, row)):
            return _no_such(target.label.lower(), value)
        return None

    def _ref_target(self, qualname: str) -> tuple[Entity, bool]:
        """A ref's target entity and whether the principal may read it (asked once per
        Repository: a batch asks it for every record)."""
        known = self._ref_targets.get(qualname)
        if known is None:
            target = self.entity(qualname)
            known = self._ref_targets[qualname] = (target, self.can(target, "read"))
        return known

    def _sees(self, ent: Entity, record_id: int) -> bool:
        """Whether the principal may see that record (uniqueness messages name it only then)."""
        if not self.can(ent, "read"):
            return False
        return not self.principal.scope or self.get(ent, record_id) is not None

    def _check_scope(self, ent: Entity, rows: list[dict[str, Any]]) -> None:
        """A scoped principal writes only records it may see afterwards (its own customer's)."""
        if self.principal.scope and not all(in_scope(self.principal, ent, r) for r in rows):
            raise PermissionDenied(
                _("that %(entity)s is outside what you may change", entity=ent.label.lower())
            )


def _no_such(label: str, record_id: int) -> str:
    return f"there is no {label} #{record_id}"


__all__ = ["SYSTEM", "BulkValidationError", "Repository"]
