"""Validation of records before they are written: types, defaults, refs, computed values,
checks and unique values, for one record or a whole batch.

`Validator.prepare` turns what a caller sent into the row to store, with every problem
found (field -> message), so a form or an import can show them all at once. The refs a
batch names are fetched with one query per CHUNK of ids beforehand (`prefetch_refs`), and
unique values are checked with one query per CHUNK of values (`check_unique`), so a batch
of any size costs a few queries, not a few per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import Entity, Field
from engine.errors import ValidationError
from engine.expr import ExpressionError
from engine.fieldtypes import MAX_BIGINT
from engine.i18n import _, message_of
from engine.storage.derived import Derivation
from engine.storage.derived import currency_field as currency_of_field
from engine.storage.records import CHUNK

if TYPE_CHECKING:
    from engine.storage.database import Database

SYSTEM = ("id", "version", "created_at", "updated_at", "created_by", "updated_by")
# (value, the record before the write or None) -> why a ref field may not point there
RefCheck = Callable[[Any, "dict[str, Any] | None"], "str | None"]
# a ref field -> its RefCheck, asked once per field and transaction (not at every record)
RefRule = Callable[[Field], RefCheck]
# (entity, record id) -> whether the writer may see that record (messages name it only then)
Visible = Callable[[Entity, int], bool]


class _Rules:
    """An entity's fields as validation walks them, looked up once per transaction: a
    batch of 100,000 records asks these tables, not the definitions, a million times."""

    def __init__(self, ent: Entity, ref_rule: RefRule):
        fields = list(ent.fields.values())
        computed = frozenset(f.name for f in fields if f.computed)
        fixed = computed | {f.name for f in fields if f.readonly}
        # what a caller may send back and is ignored: system columns, derived or fixed fields
        system = frozenset(k for k in SYSTEM if k not in ent.fields)
        self.ignored = {"create": system | computed, "update": system | fixed}
        # field -> (its type's coerce, the field), for the fields a write may set
        self.setters = {
            name: {f.name: (f.type.coerce, f) for f in fields if f.name not in ignored}
            for name, ignored in (("create", computed), ("update", fixed))
        }
        # (name, field, validate, required, currency_problem of money or None, the field of
        # its currency, a ref's RefCheck or None) of every stored field
        self.stored = tuple(
            (
                f.name,
                f,
                f.type.validate,
                f.required,
                f.type.currency_problem if f.type.uses_currency else None,
                currency_of_field(ent, f.name) if f.type.uses_currency else None,
                ref_rule(f) if f.ref else None,
            )
            for f in fields
            if not f.computed
        )
        self.defaults = tuple(
            (f.name, f.default) for f in fields if not f.computed and f.default is not None
        )
        self.default_exprs = tuple(f for f in fields if f.default_expr is not None)


class Validator:
    """Checks records of a write transaction; `ref_problem` decides which refs are allowed."""

    def __init__(self, db: Database, derivation: Derivation, ref_rule: RefRule, visible: Visible):
        self.db, self.derivation, self.ref_rule = db, derivation, ref_rule
        self.visible = visible
        self.loader = derivation.loader
        self.rules: dict[int, tuple[Entity, _Rules]] = {}

    def prefetch_refs(self, ent: Entity, records: Sequence[Mapping[str, Any]]) -> None:
        """Load what the batch's expressions read of the records it refers to, one query
        per CHUNK of ids."""
        through = self.derivation.plan(ent).through
        for field in ent.fields.values():
            if field.ref:
                ids = []
                for r in records:
                    value = r.get(field.name)
                    if value.__class__ is int and 0 < value <= MAX_BIGINT:  # already an id
                        ids.append(value)
                        continue
                    try:
                        ids.append(field.type.coerce(value, field))
                    except ValueError:
                        continue
                self.loader.fetch(field.ref, ids, through.get(field.name))

    def _rules(self, ent: Entity) -> _Rules:
        known = self.rules.get(id(ent))  # by id, as Derivation.shapes
        if known is None or known[0] is not ent:
            known = self.rules[id(ent)] = (ent, _Rules(ent, self.ref_rule))
        return known[1]

    def prepare(
        self, ent: Entity, values: Mapping[str, Any], current: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Typed, defaulted, computed and checked values of one record, and its errors."""
        rules = self._rules(ent)
        errors: dict[str, str] = {}
        if current is None:
            row: dict[str, Any] = {}
            kind = "create"
        else:
            row = {k: v for k, v in current.items() if k in ent.fields}
            kind = "update"
        setters, ignored = rules.setters[kind], rules.ignored[kind]
        for key, raw in values.items():
            setter = setters.get(key)
            if setter is None:
                if key not in ignored:  # derived or fixed: what a client sends back is ignored
                    errors[key] = _(
                        "%(entity)s has no field '%(field)s'", entity=ent.name, field=key
                    )
                continue
            coerce, field = setter
            try:
                row[key] = coerce(raw, field)
            except ValueError as exc:
                errors[key] = message_of(exc)
        if current is None:
            self._apply_defaults(ent, rules, row, errors)
        get = row.get
        for name, field, validate, required, currency_problem, currency, ref in rules.stored:
            value = get(name)
            if value is None:
                if required and name not in errors:
                    errors[name] = _("is required")
                continue
            if name in errors:
                continue
            problem = validate(value, field)
            if problem is None and currency_problem is not None:
                problem = currency_problem(value, get(currency) if currency else None)
            if problem is None and ref is not None:
                problem = ref(value, current)
            if problem:
                errors[name] = problem
        if errors:
            return row, errors
        self.derivation.derive(ent, row, current["id"] if current else None, errors)
        return row, errors

    def _apply_defaults(
        self, ent: Entity, rules: _Rules, row: dict[str, Any], errors: dict[str, str]
    ) -> None:
        for name, default in rules.defaults:
            if row.get(name) is None and name not in errors:
                row[name] = default
        for field in rules.default_exprs:
            name = field.name
            if row.get(name) is not None or name in errors:
                continue  # given: the expression is not run
            try:
                row[name] = field.type.coerce(self.derivation.default(ent, field, row), field)
            except ExpressionError as exc:
                if exc.blank or any(self._dangling(ent, row, n) for n in field.default_expr.names):  # type: ignore[union-attr]
                    continue  # inputs missing: the required and ref checks will say which
                errors[name] = _("could not work out the default: %(error)s", error=str(exc))
            except ValueError as exc:
                errors[name] = _("default %(message)s", message=message_of(exc))

    def _dangling(self, ent: Entity, row: Mapping[str, Any], name: str) -> bool:
        """True when ref field `name` points at a record that does not exist."""
        field = ent.fields.get(name)
        value = row.get(name)
        if field is None or field.ref is None or value is None:
            return False
        return self.loader.get(field.ref, value) is None

    def check_unique(
        self,
        conn: sa.Connection,
        ent: Entity,
        rows: list[dict[str, Any]],
        errors: dict[int, dict[str, str]],
        existing_ids: list[int] | None,
        raise_single: bool = False,
    ) -> None:
        """Unique values used twice in the batch, or already used by another record."""
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
                for value, other in conn.execute(stmt):
                    errors.setdefault(seen[value], {})[field.name] = (
                        f"{value!s} is already used by {ent.label.lower()} #{other}"
                        if self.visible(ent, other)
                        else _("%(value)s is already used by another record", value=str(value))
                    )
        if raise_single and errors:
            raise ValidationError(errors[0])
