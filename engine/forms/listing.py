"""List views: the filter controls an entity offers, and filters read from query strings.

Query strings use `field=value` and `field__op=value` (engine.storage.Filter.parse);
the Repository types and checks each value, so a bad one is a message, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.appdef import Entity
from engine.storage import Filter

# Query parameters a list page keeps for itself; they never name a filter.
RESERVED = frozenset({"q", "sort", "page"})


@dataclass(frozen=True)
class FilterControl:
    """One control of a list's filter bar and the query parameters it sets."""

    field: str
    label: str
    kind: str  # choice, ref, boolean, range or text
    type: str  # the field's value type name
    widget: str  # the value type's widget: a range of dates shows date inputs
    params: tuple[str, ...]  # ("status",) or ("due_date__gte", "due_date__lte")
    options: tuple[str, ...] = ()
    ref: str | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (option, its label) for a choice control


def filter_controls(entity: Entity) -> list[FilterControl]:
    controls = []
    for name in entity.list_filters:
        if name not in entity.fields:
            continue
        field = entity.fields[name]
        vtype = field.value_type.name
        kind = field.value_type.filter_kind
        if kind == "choice" and not field.options:  # a computed choice lists no outcomes
            kind = "text"
        params = (f"{name}__gte", f"{name}__lte") if kind == "range" else (name,)
        controls.append(
            FilterControl(
                name,
                field.label,
                kind,
                vtype,
                field.value_type.widget,
                params,
                tuple(field.options),
                field.ref,
                tuple((o, field.option_label(o)) for o in field.options),
            )
        )
    return controls


def filters_from_args(args: Iterable[tuple[str, str]]) -> list[Filter]:
    """Filters from query-string pairs; blank values (an untouched control) filter nothing."""
    filters = []
    for key, value in args:
        if key in RESERVED or value is None or str(value).strip() == "":
            continue
        filters.append(Filter.parse(key, str(value).strip()))
    return filters


def filter_args(args: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The query parameters that are filters (non-blank), for links that keep them."""
    return {k: v for k, v in args if k not in RESERVED and v is not None and str(v).strip()}


def audit_changes(
    entity: Entity, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for each field an audited write changed, in the entity's order.

    Values are typed again from the audit's JSON, so they format like the record's own.
    """
    before, after = before or {}, after or {}
    changes = []
    for name, field in entity.fields.items():
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        changes.append((name, _typed(field, old), _typed(field, new)))
    return changes


def _typed(field: Any, value: Any) -> Any:
    try:
        return field.value_type.coerce(value, field)
    except (ValueError, TypeError):
        return value
