"""Derived values: the computed fields and the checks of a record.

Computed fields are stored. They are evaluated on every write of their record, in the
order the write plan gives (engine.appdef.plan), and again when a record they aggregate
over (`sum(allocation.amount)`) is written: refresh.py refreshes those parents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.appdef import Entity, Field
from engine.appdef.plan import EntityPlan, entity_plan
from engine.expr import ExpressionError
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
