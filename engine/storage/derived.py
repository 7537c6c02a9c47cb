"""Derived values: the computed fields and the checks of a record.

Computed fields are stored. They are evaluated on every write of their record, in the
order the write plan gives (engine.appdef.plan), and again when a record they aggregate
over (`sum(allocation.amount)`) is written: refresh.py refreshes those parents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.appdef import Entity, Field, Relation
from engine.appdef.plan import EntityPlan, entity_plan
from engine.expr import ExpressionError
from engine.fieldtypes import FieldType
from engine.i18n import _, message_of
from engine.storage import fastexpr
from engine.storage.records import Loader, RefView, RelationView, currency_of

if TYPE_CHECKING:
    from engine.storage.database import Database


def plain(value: Any) -> Any:
    """A value as stored: a reference is its id."""
    if isinstance(value, RefView):
        return value.id
    return value


EMPTY = RelationView([])  # the children of a record not yet written


@dataclass(frozen=True)
class Shape:
    """What the context and the computed values of an entity's records need, looked up once
    (a batch of 100,000 records would otherwise ask the definitions a million times)."""

    fields: tuple[tuple[str, str | None], ...]  # (field, target entity of a ref or None)
    relations: tuple[Relation, ...]
    # (field, its expression, result type, field of its currency or None, ref target or None)
    computed: tuple[tuple[Field, Any, FieldType, str | None, str | None], ...]


def shape_of(ent: Entity, plan: EntityPlan) -> Shape:
    return Shape(
        tuple((f.name, f.ref) for f in ent.fields.values()),
        tuple(ent.relations),
        tuple(
            (
                f,
                f.expr,
                f.value_type,
                currency_field(ent, f.name) if f.value_type.uses_currency else None,
                f.ref,
            )
            for f in plan.computed_order
        ),
    )


def currency_field(ent: Entity, name: str) -> str | None:
    """The field holding the currency of money field `name`."""
    field = ent.fields[name]
    return field.currency_field or ("currency" if "currency" in ent.fields else None)


class Derivation:
    """Computed values and checks of records, reading related records through `loader`."""

    def __init__(self, db: Database, loader: Loader):
        self.db, self.loader = db, loader
        self.shapes: dict[str, Shape] = {}

    def plan(self, ent: Entity) -> EntityPlan:
        return entity_plan(self.db.appset, ent.qualname)

    def shape(self, ent: Entity) -> Shape:
        shape = self.shapes.get(ent.qualname)
        if shape is None:
            shape = self.shapes[ent.qualname] = shape_of(ent, self.plan(ent))
        return shape

    def context(self, ent: Entity, row: Mapping[str, Any], record_id: int | None) -> dict[str, Any]:
        """The names an expression of `ent` sees: its fields, refs as records, relations."""
        shape = self.shape(ent)
        loader, appset = self.loader, self.db.appset
        names: dict[str, Any] = {"id": record_id}
        get = row.get
        for name, target in shape.fields:
            value = get(name)
            if target is not None and value is not None:
                value = RefView(loader, appset, target, value)
            names[name] = value
        for relation in shape.relations:
            if record_id is None:
                names[relation.name] = EMPTY
            else:
                names[relation.name] = RelationView(loader.children(relation, record_id))
        return names

    def compute(
        self, ent: Entity, row: dict[str, Any], context: dict[str, Any], errors: dict[str, str]
    ) -> None:
        """Evaluate the computed fields into `row` (and `context`), each after its inputs."""
        evaluate = fastexpr.evaluate
        loader, appset = self.loader, self.db.appset
        for field, expr, result, source, target in self.shape(ent).computed:
            try:
                value = evaluate(expr, context)
                if isinstance(value, RefView):
                    value = value.id
                value = result.computed_value(value, field, row.get(source) if source else None)
            except (ExpressionError, ValueError) as exc:
                problem = exc.located if isinstance(exc, ExpressionError) else message_of(exc)
                errors[field.name] = _("could not be computed: %(error)s", error=problem)
                continue
            row[field.name] = value
            if target is not None and value is not None:
                value = RefView(loader, appset, target, value)
            context[field.name] = value

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
