"""Batched statements of the write path, sent to the driver's executemany directly.

SQLAlchemy's executemany of 100,000 rows costs several times the driver's own: it builds
a parameter dict per row and runs each value through its column type's bind processor,
one generic call at a time. The rows of a bulk write have the same columns, so here the
statement is rendered once, each column's processor is looked up once (memoised for the
dates, times and flags that repeat across rows; money on SQLite converted inline), and
the driver gets plain tuples. The values stored are the ones the column types store:
the same processors, or (ExactDecimal) the same conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from engine.storage.types import ExactDecimal, UTCDateTime

BATCH = 2000  # rows per executemany
_SQLITE = sqlite.dialect()
MEMO = 4096  # converted values remembered per column

Convert = Callable[[Any], Any]


def _memoised(process: Convert) -> Convert:
    """The processor, remembered per value: a batch repeats its dates and its flags."""
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            pass
        if len(cache) >= MEMO:
            cache.clear()
        cache[value] = out = process(value)
        return out

    return convert


def _exact(type_: ExactDecimal) -> Convert:
    """ExactDecimal on SQLite: a whole number of 10**-scale units (as process_bind_param),
    remembered per value (a batch repeats its zeros; equal numbers give the same units)."""
    unit, scale = type_.unit, type_.scale

    def process(value: Any) -> Any:
        return int(Decimal(value).quantize(unit).scaleb(scale))

    return _memoised(process)


def converter(column: sa.Column[Any], dialect: sa.Dialect) -> Convert | None:
    """How a value of `column` is handed to the driver (None: as it is).

    A JSON column takes its text, already encoded (audit.json_text).
    """
    type_ = column.type
    if isinstance(type_, sa.JSON):
        return None
    if isinstance(type_, ExactDecimal) and dialect.name == "sqlite":
        return _exact(type_)
    process = type_._cached_bind_processor(dialect)  # what SQLAlchemy itself would call
    if process is None:
        return None
    if isinstance(type_, sa.Date | sa.DateTime | sa.Boolean | UTCDateTime):
        return _memoised(process)
    return process


def _unscaled(type_: ExactDecimal) -> Convert:
    """ExactDecimal read on SQLite: the whole number of units as a Decimal at the scale
    (as process_result_value: 100 at scale 4 is Decimal('0.0100'))."""
    scale = -type_.scale
    # only ints reach the memo: 100 and 100.0 are one key, not one value
    stored = _memoised(lambda units: Decimal(units).scaleb(scale))

    def convert(value: Any) -> Any:
        if value.__class__ is int:  # a stored value; a batch repeats its amounts (zeros)
            return stored(value)
        if isinstance(value, float):  # not a stored value: the type's own reading
            return type_.process_result_value(value, _SQLITE)
        return Decimal(int(value)).scaleb(scale)

    return convert


def result_converter(column: sa.Column[Any], dialect: sa.Dialect) -> Convert | None:
    """How a value of `column` read from the driver becomes the column type's value."""
    type_ = column.type
    if isinstance(type_, ExactDecimal) and dialect.name == "sqlite":
        return _unscaled(type_)
    process = type_._cached_result_processor(dialect, None)
    if process is None:
        return None
    if isinstance(type_, sa.Date | sa.DateTime | sa.Boolean | UTCDateTime):
        return _memoised(process)  # keyed by what the driver gave: the same text, the same value
    return process


_PerTable = dict[tuple[int, str], tuple[sa.Table, dict[str, Convert | None]]]
_RESULTS: _PerTable = {}
_CONVERTERS: _PerTable = {}


def _per_column(
    cache: _PerTable,
    table: sa.Table,
    dialect: sa.Dialect,
    make: Callable[[sa.Column[Any], sa.Dialect], Convert | None],
) -> dict[str, Convert | None]:
    """`make` for each column of `table`, worked out once per table and dialect."""
    known = cache.get((id(table), dialect.name))
    if known is None or known[0] is not table:  # an id reused by a newer table
        found = {c.name: make(c, dialect) for c in table.columns}
        known = cache[(id(table), dialect.name)] = (table, found)
    return known[1]


def result_converters(table: sa.Table, dialect: sa.Dialect) -> dict[str, Convert | None]:
    return _per_column(_RESULTS, table, dialect, result_converter)


def converters(table: sa.Table, dialect: sa.Dialect) -> dict[str, Convert | None]:
    return _per_column(_CONVERTERS, table, dialect, converter)


def tuples(
    table: sa.Table, dialect: sa.Dialect, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them: one tuple each, values converted per column."""
    # map in C; only the converted columns in Python
    return _converted(table, dialect, columns, (list(map(row.get, columns)) for row in rows))


def _converted(
    table: sa.Table, dialect: sa.Dialect, columns: Sequence[str], rows: Iterable[list[Any]]
) -> list[tuple[Any, ...]]:
    found = converters(table, dialect)
    steps = [(i, step) for i, name in enumerate(columns) if (step := found[name]) is not None]
    out: list[tuple[Any, ...]] = []
    append = out.append
    for values in rows:
        for i, convert in steps:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        append(tuple(values))
    return out


def _sql(conn: sa.Connection, text: str, params: Sequence[tuple[Any, ...]]) -> None:
    for start in range(0, len(params), BATCH):
        conn.exec_driver_sql(text, params[start : start + BATCH])


def _statement(dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], update: bool) -> str:
    """INSERT INTO table (columns) VALUES (...), or UPDATE table SET columns WHERE id = ..."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if update:
        sets = ", ".join(f"{quote(c)} = {mark}" for c in columns)
        return f"UPDATE {quote(table.name)} SET {sets} WHERE id = {mark}"
    names, marks = ", ".join(quote(c) for c in columns), ", ".join(mark for _ in columns)
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"


def insert_values(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[list[Any]]
) -> None:
    """INSERT the rows (each a list of the values of `columns`, in order), in batches."""
    text = _statement(conn.dialect, table, columns, update=False)
    _sql(conn, text, _converted(table, conn.dialect, columns, rows))


def update_by_id(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    raw: bool = False,
) -> None:
    """UPDATE `columns` of each row (a mapping holding them and `id`), in batches.

    `raw`: the values are already the driver's (read back untyped), sent as they are.
    """
    text = _statement(conn.dialect, table, columns, update=True)
    names = [*columns, "id"]
    if raw:
        _sql(conn, text, [tuple(r[n] for n in names) for r in rows])
    else:
        _sql(conn, text, tuples(table, conn.dialect, names, rows))
