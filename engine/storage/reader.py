"""Reading records: pages of a list, counts, display labels, lookups, history.

The Repository (the one write path) extends this class; code that only reads can
use either. Lists fetch one row more than a page instead of counting the table.

Every public read runs for a principal (engine.permissions): an entity it may not
read is refused with PermissionDenied, records outside its scope are left out as if
they did not exist, and labels of refs to what it may not read are just "#id".
"""

from __future__ import annotations

import contextlib
import logging
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import Entity
from engine.errors import NotFound, ValidationError
from engine.i18n import _
from engine.permissions import Principal, can, require, scope_filter
from engine.storage import query as q
from engine.storage.records import CHUNK, normalise

if TYPE_CHECKING:
    from engine.storage.database import Database


log = logging.getLogger(__name__)


@contextlib.contextmanager
def refused_values() -> Iterator[None]:
    """A value the database refuses (a number beyond its column, malformed text) is bad
    input the field types let through: a ValidationError (422), never a server error."""
    try:
        yield
    except sa.exc.DataError as exc:
        log.warning("the database refused a value: %s", exc.orig)
        raise ValidationError(
            {"": _("a value does not fit in the database (too large or malformed)")}
        ) from exc


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    has_more: bool


class Reader:
    def __init__(self, db: Database, principal: Principal):
        if not isinstance(principal, Principal):
            raise TypeError(
                "Reader and Repository take an engine.permissions.Principal, such as "
                f"Principal.system('cli') or principal_of(user), not {principal!r}"
            )
        self.db = db
        self.principal = principal
        self.user = principal.user  # what the audit trail and record events record
        self._conn: sa.Connection | None = None  # the open transaction, if any

    def entity(self, entity: Entity | str) -> Entity:
        return entity if isinstance(entity, Entity) else self.db.appset.entity(entity)

    # -- permissions --------------------------------------------------------------------------

    def can(self, entity: Entity | str, action: str) -> bool:
        """Whether this reader's principal may do `action` on records of `entity`."""
        return can(self.principal, self.entity(entity), action)

    def _allowed(self, entity: Entity | str, action: str) -> Entity:
        """The entity, once the principal may do `action` to it (else PermissionDenied)."""
        ent = self.entity(entity)
        require(self.principal, ent, action)
        return ent

    def _scope(self, ent: Entity, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        """The WHERE clause limiting `ent` to the principal's scope ([] when it sees all)."""
        pairs = scope_filter(self.principal, ent)
        if pairs is None:
            return []
        return [sa.or_(sa.false(), *(table.c[name] == value for name, value in pairs))]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """Inside a transaction, read what it wrote; otherwise use a connection of its own."""
        with refused_values():
            if self._conn is not None:
                yield self._conn
            else:
                with self.db.engine.connect() as conn:
                    yield conn

    # -- what a list offers -------------------------------------------------------------------

    def sort_order(
        self, entity: Entity | str, sort: str | Sequence[tuple[str, bool]] | None
    ) -> list[tuple[str, bool]]:
        """The (field, descending) order `query` uses for `sort`; ValidationError names a
        field that cannot sort."""
        return q.parse_sort(self.entity(entity), sort)

    def searchable(self, entity: Entity | str) -> bool:
        """Whether `query(search=...)` looks at any field of the entity."""
        return bool(q.search_fields(self.entity(entity)))

    # -- reads ------------------------------------------------------------------------------

    def get(self, entity: Entity | str, record_id: int) -> dict[str, Any] | None:
        """The record, or None when there is none the principal may see."""
        ent = self._allowed(entity, "read")
        table = self.db.table(ent.qualname)
        stmt = sa.select(table).where(table.c.id == record_id, *self._scope(ent, table))
        with self._reading() as conn:
            row = conn.execute(stmt).mappings().first()
        return normalise(ent, row) if row else None

    def require(self, entity: Entity | str, record_id: int) -> dict[str, Any]:
        row = self.get(entity, record_id)
        if row is None:
            raise NotFound(f"{self.entity(entity).label} #{record_id} does not exist")
        return row

    def _select(
        self, ent: Entity, filters: Iterable[q.Filter], search: str | None
    ) -> tuple[sa.Table, list[sa.ColumnElement[bool]]]:
        table = self.db.table(ent.qualname)
        clauses = [q.where_clause(table, q.coerce_filter(ent, f)) for f in filters]
        clauses += self._scope(ent, table)
        if search:
            clause = q.search_clause(ent, table, search)
            if clause is not None:
                clauses.append(clause)
        return table, clauses

    def query(
        self,
        entity: Entity | str,
        filters: Iterable[q.Filter] = (),
        search: str | None = None,
        sort: str | Sequence[tuple[str, bool]] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """One page of records; `has_more` comes from fetching one row too many, not a count."""
        ent = self._allowed(entity, "read")
        table, clauses = self._select(ent, filters, search)
        limit = max(1, min(int(limit), 1000))
        offset = max(0, int(offset))
        stmt = (
            sa.select(table)
            .where(*clauses)
            .order_by(*q.order_by(table, q.parse_sort(ent, sort)))
            .limit(limit + 1)
            .offset(offset)
        )
        with self._reading() as conn:
            rows = [normalise(ent, r) for r in conn.execute(stmt).mappings()]
        return Page(rows[:limit], offset, limit, len(rows) > limit)

    def count(
        self,
        entity: Entity | str,
        filters: Iterable[q.Filter] = (),
        search: str | None = None,
        cap: int | None = None,
    ) -> int:
        """How many records match; with `cap`, stop counting past it (returns cap + 1)."""
        ent = self._allowed(entity, "read")
        table, clauses = self._select(ent, filters, search)
        inner = sa.select(table.c.id).where(*clauses)
        if cap is not None:
            inner = inner.limit(cap + 1)
        stmt = sa.select(sa.func.count()).select_from(inner.subquery())
        with self._reading() as conn:
            return int(conn.execute(stmt).scalar_one())

    def labels(self, entity: Entity | str, ids: Iterable[int | None]) -> dict[int, str]:
        """Display text of each record id, by the entity's display template (one query).

        Ids of records the principal may not see are left out (callers show "#id"), also
        when the whole entity is closed to it: a label never tells whether one exists.
        """
        ent = self.entity(entity)
        wanted = sorted({i for i in ids if i is not None})
        if not wanted or not self.can(ent, "read"):
            return {}
        table = self.db.table(ent.qualname)
        scope = self._scope(ent, table)
        rows: list[dict[str, Any]] = []
        with self._reading() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                stmt = sa.select(table).where(table.c.id.in_(chunk), *scope)
                rows.extend(normalise(ent, r) for r in conn.execute(stmt).mappings())
        return self._render_labels(ent, rows, depth=1)

    def display(self, entity: Entity | str, row: Mapping[str, Any]) -> str:
        ent = self.entity(entity)
        return self._render_labels(ent, [dict(row)], depth=1).get(row.get("id"), "")

    def _render_labels(self, ent: Entity, rows: list[dict[str, Any]], depth: int) -> dict[Any, str]:
        """Display text by row id (None for a record not saved yet)."""
        names = {p.split(".")[0] for _, p, _, _ in string.Formatter().parse(ent.display) if p}
        refs = {
            n: self.labels(ref, (r.get(n) for r in rows)) if depth > 0 else {}
            for n in names
            if n in ent.fields and (ref := ent.fields[n].ref)
        }
        out = {}
        for row in rows:
            values: dict[str, Any] = {}
            for n in names:
                value = row.get(n)
                if n in refs and value is not None:
                    values[n] = refs[n].get(value, f"#{value}")
                elif n in ent.fields:
                    field = ent.fields[n]
                    values[n] = field.value_type.format(value, field)
                else:
                    values[n] = "" if value is None else value
            try:
                text = ent.display.format(**values)
            except (KeyError, IndexError, ValueError):
                text = f"#{row.get('id')}"
            out[row.get("id")] = text.strip() or f"#{row.get('id')}"
        return out

    def ids_by(self, entity: Entity | str, field: str, values: Iterable[Any]) -> dict[Any, int]:
        """Map values of a unique field to record ids (a ref given by a customer's name)."""
        ent = self._allowed(entity, "read")
        table = self.db.table(ent.qualname)
        scope = self._scope(ent, table)
        wanted = sorted({v for v in values if v is not None}, key=str)
        found: dict[Any, int] = {}
        with self._reading() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                stmt = sa.select(table.c[field], table.c.id).where(
                    table.c[field].in_(chunk), *scope
                )
                found.update({k: i for k, i in conn.execute(stmt)})
        return found

    def history(
        self, entity: Entity | str, record_id: int, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The audit trail of one record, newest first.

        A scoped principal sees the trail only of a record it can see now, so a deleted
        record (or one moved to another customer) shows it nothing.
        """
        ent = self._allowed(entity, "read")
        if scope_filter(self.principal, ent) is not None and self.get(ent, record_id) is None:
            return []
        audit = self.db.system("audit")
        stmt = (
            sa.select(audit)
            .where(audit.c.entity == ent.qualname, audit.c.record_id == record_id)
            .order_by(audit.c.id.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]
