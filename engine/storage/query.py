"""Filters, search and sort for list queries, checked against the entity's fields."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.appdef import Entity
from engine.errors import ValidationError
from engine.i18n import _, message_of

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "contains", "startswith", "in", "isnull")
COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "lte": operator.le, "gt": operator.gt, "gte": operator.ge,
}  # fmt: skip


@dataclass(frozen=True)
class Filter:
    field: str
    op: str = "eq"
    value: Any = None

    @classmethod
    def parse(cls, key: str, value: Any) -> Filter:
        """`amount__gte` = 100 style, as in query strings."""
        field, _, op = key.partition("__")
        return cls(field, op or "eq", value)


def coerce_filter(entity: Entity, flt: Filter) -> Filter:
    """The filter with its value typed by the field; ValidationError names the field."""
    if flt.op not in OPERATORS:
        raise ValidationError({flt.field: f"unknown operator '{flt.op}' ({', '.join(OPERATORS)})"})
    if flt.field == "id":
        vtype = None
    elif flt.field in entity.fields:
        vtype = entity.fields[flt.field]
    else:
        raise ValidationError({flt.field: f"{entity.name} has no field '{flt.field}'"})
    if flt.op == "isnull":
        if isinstance(flt.value, bool):
            return flt
        text = str(flt.value).strip().lower()
        if text not in TRUE_WORDS + FALSE_WORDS:  # `banana` was once read as true
            raise ValidationError({flt.field: f"'{flt.op}' takes true or false, not {flt.value!r}"})
        return Filter(flt.field, "isnull", text in TRUE_WORDS)
    if flt.op in ("contains", "startswith"):
        if vtype is None or not vtype.value_type.text_like:
            raise ValidationError({flt.field: f"'{flt.op}' applies only to text fields"})
        if "\x00" in str(flt.value):
            raise ValidationError({flt.field: "must not contain NUL characters"})
        return Filter(flt.field, flt.op, str(flt.value))

    def one(raw: Any) -> Any:
        if vtype is None:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise ValidationError({"id": "must be a record id"}) from None
            if abs(number) >= 2**63:  # beyond BIGINT: the database would refuse the query
                raise ValidationError({"id": "must be a record id"})
            return number
        try:
            if isinstance(raw, str):
                return vtype.value_type.parse(raw, vtype)
            return vtype.value_type.coerce(raw, vtype)
        except ValueError as exc:
            raise ValidationError(
                {flt.field: _("%(value)s %(message)s", value=repr(raw), message=message_of(exc))}
            ) from None

    if flt.op == "in":
        raw = flt.value.split(",") if isinstance(flt.value, str) else list(flt.value)
        return Filter(flt.field, "in", [one(v) for v in raw])
    value = one(flt.value)
    if isinstance(value, bool) and flt.op not in ("eq", "ne"):
        raise ValidationError({flt.field: f"'{flt.op}' does not apply to a yes/no field"})
    return Filter(flt.field, flt.op, value)


def where_clause(table: sa.Table, flt: Filter) -> sa.ColumnElement[bool]:
    col = table.c[flt.field]
    op, value = flt.op, flt.value
    if op == "isnull":
        return col.is_(None) if value else col.is_not(None)
    if op == "contains":
        return sa.func.lower(col).contains(value.lower(), autoescape=True)
    if op == "startswith":
        return col.startswith(value, autoescape=True)
    if op == "in":
        return col.in_(value)
    if value is None:
        return col.is_(None) if op == "eq" else col.is_not(None)
    # Only the chosen comparison is built: SQLAlchemy refuses `col < False` outright.
    return COMPARE[op](col, value)


def search_fields(entity: Entity) -> tuple[str, ...]:
    """The entity's `search` fields, or else its short text fields."""
    return entity.search or tuple(
        f.name for f in entity.fields.values() if f.value_type.names_a_record
    )


def search_clause(entity: Entity, table: sa.Table, text: str) -> sa.ColumnElement[bool] | None:
    fields = search_fields(entity)
    text = text.replace("\x00", "").strip().lower()  # PostgreSQL text cannot hold NUL
    if not text or not fields:
        return None
    return sa.or_(*(sa.func.lower(table.c[f]).contains(text, autoescape=True) for f in fields))


def parse_sort(
    entity: Entity, sort: str | Iterable[tuple[str, bool]] | None
) -> list[tuple[str, bool]]:
    """'-due_date,number' or [(field, descending)]; falls back to the entity's default."""
    if not sort:
        return list(entity.default_sort)
    items = (
        [(p.strip().lstrip("-"), p.strip().startswith("-")) for p in sort.split(",") if p.strip()]
        if isinstance(sort, str)
        else list(sort)
    )
    for name, _descending in items:
        if name != "id" and name not in entity.fields:
            raise ValidationError({"sort": f"{entity.name} has no field '{name}' to sort by"})
    if not any(name == "id" for name, _descending in items):
        items.append(("id", items[-1][1] if items else True))
    return items


def order_by(table: sa.Table, sort: list[tuple[str, bool]]) -> list[sa.ColumnElement[Any]]:
    return [table.c[name].desc() if desc else table.c[name].asc() for name, desc in sort]
