"""Derived values: the computed fields and the checks of a record.

Computed fields are stored. They are evaluated on every write of their record, in the
order the write plan gives (engine.appdef.plan), and again when a record they aggregate
over (`sum(allocation.amount)`) is written: refresh.py refreshes those parents.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.appdef import AppSet, Check, Entity, Field, Relation
from engine.appdef.plan import EntityPlan, entity_plan
from engine.expr import Expression, ExpressionError
from engine.fieldtypes import FieldType
from engine.i18n import _, message_of
from engine.storage import fastexpr
from engine.storage.records import Loader, RefView, RelationView, currency_of

if TYPE_CHECKING:
    from engine.storage.database import Database


def plain(value: Any) -> Any:
    """A value as stored: a reference is its id."""
    # `type() is`, not isinstance: RefView is a Mapping, whose isinstance costs a microsecond
    return value.id if type(value) is RefView else value


EMPTY = RelationView([])  # the children of a record not yet written


@dataclass(frozen=True)
class Step:
    """An expression of an entity as a write runs it: compiled for its rows once."""

    expr: Expression
    fast: fastexpr.RowFunction  # raises when the value is the evaluator's to say


def _evaluator_only(row: Mapping[str, Any], record_id: int | None, loader: Loader) -> Any:
    raise LookupError("this expression is left to the evaluator")


@dataclass(frozen=True)
class Shape:
    """What the context and the derived values of an entity's records need, worked out and
    compiled once per app set (a batch of 100,000 records would otherwise ask the
    definitions a million times, and walk each expression's tree 100,000 times)."""

    fields: tuple[tuple[str, str | None], ...]  # (field, target entity of a ref or None)
    relations: tuple[Relation, ...]
    # (field, its expression, result type, field of its currency or None, ref target or None)
    computed: tuple[tuple[Field, Step, FieldType, str | None, str | None], ...]
    checks: tuple[tuple[Check, Step], ...]
    defaults: Mapping[str, Step]  # field -> its default expression
    # the computed values and checks in one function (see _program), when all compile
    program: Callable[[dict[str, Any], int | None, Loader], dict[str, str]] | None = None
    created: Callable[[dict[str, Any], int | None, Loader], dict[str, str]] | None = None  # same,
    # for a record being created: with no children, its sums over relations are worked out once


def shape_of(appset: AppSet, ent: Entity, plan: EntityPlan) -> Shape:
    def step(expr: Expression) -> Step:
        return Step(expr, fastexpr.compile_for_rows(expr, appset, ent) or _evaluator_only)

    computed = tuple(
        (
            f,
            step(f.expr),  # type: ignore[arg-type]  # computed: it has one
            f.value_type,
            currency_field(ent, f.name) if f.value_type.uses_currency else None,
            f.ref,
        )
        for f in plan.computed_order
    )
    checks = tuple((c, step(c.when)) for c in ent.checks)
    return Shape(
        tuple((f.name, f.ref) for f in ent.fields.values()),
        tuple(ent.relations),
        computed,
        checks,
        {f.name: step(f.default_expr) for f in ent.fields.values() if f.default_expr},
        _program(appset, ent, computed, checks, new=False),
        _program(appset, ent, computed, checks, new=True),
    )


def _program(
    appset: AppSet,
    ent: Entity,
    computed: tuple[tuple[Field, Step, FieldType, str | None, str | None], ...],
    checks: tuple[tuple[Check, Step], ...],
    new: bool,
) -> Any:
    """What `Derivation.derive` does, as one function of (row, record id, loader) that
    returns the failed checks: each computed value stored into the row in order, then
    each check. A batch pays one call per record instead of a few per expression. Any
    exception (a blank, an error) is the step-by-step path's to explain."""
    program = fastexpr.RowProgram(appset, ent, new)
    keep, absent = program.bind(plain), program.bind(_ABSENT)
    lines = []
    for field, step, result, source, _target in computed:
        code = program.code(step.expr)
        if code is None:
            return None
        value = program.writer.scope.value(code)
        store, named = program.bind(result.computed_value), program.bind(field)
        currency = f"row.get({source!r})" if source else "None"
        if not code.fixed:
            lines.append(f"row[{field.name!r}] = {store}({keep}({value}), {named}, {currency})")
            continue
        # the same value at every record (a new record's sum over a relation): stored once
        # per currency, as the type stores it (a fixed value is never a RefView)
        known = program.bind({})
        lines += [
            f"stored = {known}.get({currency}, {absent})",
            f"if stored is {absent}:",
            f"    stored = {known}[{currency}] = {store}({value}, {named}, {currency})",
            f"row[{field.name!r}] = stored",
        ]
    lines.append("failed = {}")
    for check, step in checks:
        test = program.value(step.expr)
        if test is None:
            return None
        message = program.bind(check.message)
        lines += [f"if {test}:", f"    failed[{check.field or ''!r}] = {message}"]
    lines.append("return failed")
    return program.build(lines, ent.qualname)


_ABSENT = object()  # not stored yet
_SHAPES: dict[int, dict[str, Shape]] = {}


def shape(appset: AppSet, ent: Entity) -> Shape:
    """The entity's Shape, built on first use and kept as long as its app set."""
    shapes = _SHAPES.get(id(appset))
    if shapes is None:
        shapes = _SHAPES[id(appset)] = {}
        weakref.finalize(appset, _SHAPES.pop, id(appset), None)
    found = shapes.get(ent.qualname)
    if found is None:
        found = shapes[ent.qualname] = shape_of(appset, ent, entity_plan(appset, ent.qualname))
    return found


def currency_field(ent: Entity, name: str) -> str | None:
    """The field holding the currency of money field `name`."""
    field = ent.fields[name]
    return field.currency_field or ("currency" if "currency" in ent.fields else None)


class Derivation:
    """Computed values and checks of records, reading related records through `loader`."""

    def __init__(self, db: Database, loader: Loader):
        self.db, self.loader = db, loader
        # by id: Entity.qualname is a property that joins two strings at each call
        self.shapes: dict[int, tuple[Entity, Shape]] = {}

    def plan(self, ent: Entity) -> EntityPlan:
        return entity_plan(self.db.appset, ent.qualname)

    def shape(self, ent: Entity) -> Shape:
        found = self.shapes.get(id(ent))
        if found is None or found[0] is not ent:
            found = self.shapes[id(ent)] = (ent, shape(self.db.appset, ent))
        return found[1]

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

    def run(self, ent: Entity, step: Step, row: Mapping[str, Any], record_id: int | None) -> Any:
        """The value of `step` for a record: its compiled function reads the row itself;
        when that raises (a blank, an error), the evaluator on the record's context says
        what the value or the error is. Call inside `fastexpr.exact()`."""
        try:
            return step.fast(row, record_id, self.loader)
        except Exception:
            pass
        return step.expr.evaluate(self.context(ent, row, record_id))

    def default(self, ent: Entity, field: Field, row: Mapping[str, Any]) -> Any:
        """The default expression's value for a new record (a reference as its id)."""
        if not fastexpr.in_exact_context():
            with fastexpr.exact():
                return self.default(ent, field, row)
        return plain(self.run(ent, self.shape(ent).defaults[field.name], row, None))

    def derive(
        self, ent: Entity, row: dict[str, Any], record_id: int | None, errors: dict[str, str]
    ) -> None:
        """Computed values into `row`, each after its inputs, then (if all could be
        computed) the checks: what `compute` and `run_checks` do, without the context."""
        if not fastexpr.in_exact_context():
            with fastexpr.exact():
                self.derive(ent, row, record_id, errors)
            return
        shape = self.shape(ent)
        program = shape.program if record_id is not None else shape.created
        if program is not None and not errors:
            try:
                failed = program(row, record_id, self.loader)
            except Exception:
                pass  # one expression at a time below: which one, and why
            else:
                errors.update(failed)
                return
        for field, step, result, source, _target in shape.computed:
            try:
                value = plain(self.run(ent, step, row, record_id))
                row[field.name] = result.computed_value(
                    value, field, row.get(source) if source else None
                )
            except (ExpressionError, ValueError) as exc:
                errors[field.name] = _could_not_compute(exc)
        if errors:
            return
        for check, step in shape.checks:
            try:
                failed = self.run(ent, step, row, record_id)
            except ExpressionError as exc:
                _check_problem(check, exc, errors)
                continue
            if failed:
                errors[check.field or ""] = check.message

    def compute(
        self, ent: Entity, row: dict[str, Any], context: dict[str, Any], errors: dict[str, str]
    ) -> None:
        """Evaluate the computed fields into `row` (and `context`), each after its inputs."""
        evaluate = fastexpr.evaluate
        loader, appset = self.loader, self.db.appset
        for field, step, result, source, target in self.shape(ent).computed:
            try:
                value = plain(evaluate(step.expr, context))
                value = result.computed_value(value, field, row.get(source) if source else None)
            except (ExpressionError, ValueError) as exc:
                errors[field.name] = _could_not_compute(exc)
                continue
            row[field.name] = value
            if target is not None and value is not None:
                value = RefView(loader, appset, target, value)
            context[field.name] = value


def _could_not_compute(exc: Exception) -> str:
    problem = exc.located if isinstance(exc, ExpressionError) else message_of(exc)
    return _("could not be computed: %(error)s", error=problem)


def _check_problem(check: Check, exc: ExpressionError, errors: dict[str, str]) -> None:
    if not exc.blank:  # a check comparing a blank value does not apply
        errors[check.field or ""] = _("check failed to run: %(error)s", error=exc.located)


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
            _check_problem(check, exc, errors)
            continue
        if failed:
            errors[check.field or ""] = check.message
