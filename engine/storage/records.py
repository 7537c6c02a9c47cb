"""Read-side helpers: records as dicts, lazy views for expressions, JSON-safe copies."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import money
from engine.appdef import AppSet, Entity, Relation
from engine.storage import idlist
from engine.storage.writes import result_converters

if TYPE_CHECKING:
    from engine.storage.database import Database

CHUNK = 500


def currency_of(entity: Entity, field_name: str, row: Mapping[str, Any]) -> str | None:
    field = entity.fields[field_name]
    source = field.currency_field or ("currency" if "currency" in entity.fields else None)
    return row.get(source) if source else None


_MONEY: dict[int, tuple[Entity, tuple[tuple[str, str | None], ...]]] = {}


def _money_fields(entity: Entity) -> tuple[tuple[str, str | None], ...]:
    """(money field, the field holding its currency) of an entity, worked out once."""
    known = _MONEY.get(id(entity))
    if known is None or known[0] is not entity:
        spec = tuple(
            (f.name, f.currency_field or ("currency" if "currency" in entity.fields else None))
            for f in entity.fields.values()
            if f.value_type.uses_currency
        )
        known = _MONEY[id(entity)] = (entity, spec)
    return known[1]


def normalise(entity: Entity, row: Mapping[Any, Any]) -> dict[str, Any]:
    """Money read back at the currency's own number of places (100.0000 EUR -> 100.00)."""
    return _normalised(_money_fields(entity), dict(row))


def _normalised(spec: tuple[tuple[str, str | None], ...], out: dict[str, Any]) -> dict[str, Any]:
    for name, source in spec:
        value = out.get(name)
        if value is not None:
            rounded = money.round_money(value, out.get(source) if source else None)
            if rounded == value:
                out[name] = rounded
    return out


def as_stored(
    entity: Entity,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    made: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows to write, as a read of them gives them: every column in the table's order,
    money normalised, with the values of `made` (version, created_at...) in each."""
    spec, columns = _money_fields(entity), table.columns.keys()
    out = [
        _normalised(spec, dict(zip(columns, map(row.get, columns), strict=True))) for row in rows
    ]
    if made:
        for row in out:
            row.update(made)
    return out


_IDS = idlist.param(sqlite=True)  # the untyped read is SQLite's
_SELECTS: dict[tuple[int, str, tuple[str, ...]], tuple[sa.Table, Any]] = {}
_ABSENT: Any = object()


def _raw_select(table: sa.Table, key: str, names: tuple[str, ...]) -> Any:
    """SELECT the columns untyped WHERE `key` IN :ids, built once per table, key and
    columns (a statement built anew costs SQLAlchemy more to recognise than to run)."""
    known = _SELECTS.get((id(table), key, names))
    if known is None or known[0] is not table:
        raw = [sa.type_coerce(table.c[n], sa.types.NullType()) for n in names]
        stmt = sa.select(*raw).where(idlist.among(table.c[key], _IDS))
        known = _SELECTS[(id(table), key, names)] = (table, stmt)
    return known[1]


def _rows(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    ids: list[int],
    names: tuple[str, ...] | None = None,
) -> Iterator[dict[str, Any]]:
    """The table's rows whose `key` is one of `ids`, as dicts of typed values: every
    column, or only `names`.

    On SQLite read untyped and converted here (writes.result_converters: the column
    types' own conversions, dates remembered), which costs a batch of 100,000 refs a
    fraction of SQLAlchemy's per-value result processing.
    """
    names = names or tuple(table.columns.keys())
    if conn.dialect.name != "sqlite":  # the driver's own types; processors need its OIDs
        stmt = sa.select(*(table.c[n] for n in names)).where(table.c[key].in_(ids))
        for values in conn.execute(stmt):
            yield dict(zip(names, values, strict=True))
        return
    found = result_converters(table, conn.dialect)
    steps = [(n, found[n]) for n in names]
    for values in conn.execute(_raw_select(table, key, names), {"ids": idlist.bound(_IDS, ids)}):
        row = {}
        for (name, convert), value in zip(steps, values, strict=True):
            row[name] = value if value is None or convert is None else convert(value)
        yield row


class Loader:
    """Per-operation cache of records, so expressions over refs cost one query per batch.

    Records are cached whole (`get`), or only the columns a batch's expressions read
    through its refs (`fetch(..., columns)`, read by `holding`): a batch of 100,000
    allocations needs the currency of each invoice, not its twenty other columns.
    """

    def __init__(self, db: Database, conn: sa.Connection):
        self.db, self.conn = db, conn
        self.cache: dict[str, dict[int, dict[str, Any] | None]] = {}
        self.narrow: dict[str, dict[int, dict[str, Any] | None]] = {}
        self.children_cache: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}

    def fetch(
        self, qualname: str, ids: Iterable[int], columns: Collection[str] | None = None
    ) -> None:
        """Load these records whole, or only `columns` of them (with the currencies of
        their money, which reads at its currency's places), one query per CHUNK."""
        cache = self.cache.setdefault(qualname, {})
        table = self.db.table(qualname)
        entity = self.db.appset.entity(qualname)
        spec = _money_fields(entity)
        if columns is None:
            missing = sorted({i for i in ids if i is not None and i not in cache})
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                for row in _rows(self.conn, table, "id", chunk):
                    cache[row["id"]] = _normalised(spec, row)  # a new dict: no copy needed
                for i in chunk:
                    cache.setdefault(i, None)
            return
        names = _with_currencies(entity, columns)
        narrow = self.narrow.setdefault(qualname, {})
        missing = sorted(
            {i for i in ids if i is not None and i not in cache and self._lacks(narrow, i, names)}
        )
        selected = ("id", *sorted(names - {"id"}))
        spec = tuple((name, source) for name, source in spec if name in names)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            for row in _rows(self.conn, table, "id", chunk, selected):
                known = narrow.get(row["id"])
                narrow[row["id"]] = _normalised(spec, {**known, **row} if known else row)
            for i in chunk:
                narrow.setdefault(i, None)

    @staticmethod
    def _lacks(
        narrow: dict[int, dict[str, Any] | None], record_id: int, names: frozenset[str]
    ) -> bool:
        known = narrow.get(record_id, _ABSENT)
        return known is _ABSENT or (known is not None and not names <= known.keys())

    def get(self, qualname: str, record_id: int) -> dict[str, Any] | None:
        cache = self.cache.get(qualname)
        if cache is None or record_id not in cache:
            self.fetch(qualname, [record_id])
            cache = self.cache[qualname]
        return cache[record_id]

    def holding(
        self, qualname: str, record_id: int, names: Collection[str] | None
    ) -> dict[str, Any] | None:
        """The record, or the columns of it fetched, when they hold `names` (None: the
        whole record); None when there is no such record."""
        if names is not None:
            narrow = self.narrow.get(qualname)
            if narrow is not None:
                row = narrow.get(record_id, _ABSENT)
                if row is None:
                    return None
                if row is not _ABSENT:
                    for name in names:
                        if name not in row:
                            break
                    else:
                        return row
        return self.get(qualname, record_id)

    def forget(self, qualname: str, ids: Iterable[int]) -> None:
        cache = self.cache.get(qualname, {})
        narrow = self.narrow.get(qualname, {})
        for i in ids:
            cache.pop(i, None)
            narrow.pop(i, None)
        for (child, _), rows in self.children_cache.items():
            if child == qualname:
                rows.clear()

    def fetch_children(self, relation: Relation, parent_ids: Iterable[int]) -> None:
        cache = self.children_cache.setdefault((relation.child, relation.field), {})
        missing = sorted({i for i in parent_ids if i not in cache})
        table = self.db.table(relation.child)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            for i in chunk:
                cache[i] = []
            for row in _rows(self.conn, table, relation.field, chunk):
                cache[row[relation.field]].append(row)

    def children(self, relation: Relation, parent_id: int | None) -> list[dict[str, Any]]:
        if parent_id is None:
            return []
        cache = self.children_cache.get((relation.child, relation.field))
        if cache is None or parent_id not in cache:
            self.fetch_children(relation, [parent_id])
            cache = self.children_cache[(relation.child, relation.field)]
        return cache[parent_id]


def _with_currencies(entity: Entity, columns: Collection[str]) -> frozenset[str]:
    """The columns and the currency fields of the money among them."""
    names = set(columns) | {"id"}
    for name, source in _money_fields(entity):
        if name in names and source:
            names.add(source)
    return frozenset(names)


class RefView(Mapping[str, Any]):
    """A referenced record as expressions see it: `customer.payment_terms_days`."""

    def __init__(self, loader: Loader, appset: AppSet, qualname: str, record_id: int):
        self.loader, self.appset, self.qualname, self.id = loader, appset, qualname, record_id

    def _row(self) -> dict[str, Any]:
        return self.loader.get(self.qualname, self.id) or {}

    def __getitem__(self, key: str) -> Any:
        row = self.loader.holding(self.qualname, self.id, (key,)) or {}
        entity = self.appset.entity(self.qualname)
        field = entity.fields.get(key)
        value = row[key]
        if field is not None and field.ref and value is not None:
            return RefView(self.loader, self.appset, field.ref, value)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._row())

    def __len__(self) -> int:
        return len(self._row())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RefView):
            return (self.qualname, self.id) == (other.qualname, other.id)
        return isinstance(other, int) and other == self.id

    def __hash__(self) -> int:
        return hash((self.qualname, self.id))


class RelationView(Mapping[str, list[Any]]):
    """The records that point at one parent, as in `sum(allocation.amount)`."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __getitem__(self, key: str) -> list[Any]:
        return [row.get(key) for row in self.rows]

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
