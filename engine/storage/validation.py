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
from engine.i18n import _, message_of
from engine.storage import fastexpr
from engine.storage.derived import Derivation, plain, run_checks
from engine.storage.derived import currency_field as currency_of_field
from engine.storage.records import CHUNK

if TYPE_CHECKING:
    from engine.storage.database import Database

SYSTEM = ("id", "version", "created_at", "updated_at", "created_by", "updated_by")
# (field, value, the record before the write or None) -> why the ref may not point there
RefRule = Callable[[Field, Any, "dict[str, Any] | None"], "str | None"]
# (entity, record id) -> whether the writer may see that record (messages name it only then)
Visible = Callable[[Entity, int], bool]


class _Rules:
    """An entity's fields as validation walks them, looked up once per transaction."""

    def __init__(self, ent: Entity):
        fields = list(ent.fields.values())
        self.computed = frozenset(f.name for f in fields if f.computed)
        self.fixed = self.computed | {f.name for f in fields if f.readonly}
        # (name, field, type, required, money, the field of its currency, is a ref) of
        # every stored field
        self.stored = tuple(
            (
                f.name,
                f,
                f.type,
                f.required,
                f.type.uses_currency,
                currency_of_field(ent, f.name) if f.type.uses_currency else None,
                bool(f.ref),
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

    def __init__(
        self, db: Database, derivation: Derivation, ref_problem: RefRule, visible: Visible
    ):
        self.db, self.derivation, self.ref_problem = db, derivation, ref_problem
        self.visible = visible
        self.loader = derivation.loader
        self.rules: dict[str, _Rules] = {}

    def prefetch_refs(self, ent: Entity, records: Sequence[Mapping[str, Any]]) -> None:
        """Load every record the batch refers to, one query per CHUNK of ids."""
        for field in ent.fields.values():
            if field.ref:
                ids = []
                for r in records:
                    try:
                        ids.append(field.type.coerce(r.get(field.name), field))
                    except ValueError:
                        continue
                self.loader.fetch(field.ref, ids)

    def _rules(self, ent: Entity) -> _Rules:
        rules = self.rules.get(ent.qualname)
        if rules is None:
            rules = self.rules[ent.qualname] = _Rules(ent)
        return rules

    def prepare(
        self, ent: Entity, values: Mapping[str, Any], current: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Typed, defaulted, computed and checked values of one record, and its errors."""
        rules = self._rules(ent)
        errors: dict[str, str] = {}
        if current is None:
            row: dict[str, Any] = {}
            ignored = rules.computed
        else:
            row = {k: v for k, v in current.items() if k in ent.fields}
            ignored = rules.fixed
        fields = ent.fields
        for key, raw in values.items():
            field = fields.get(key)
            if field is None:
                if key in SYSTEM:
                    continue
                errors[key] = _("%(entity)s has no field '%(field)s'", entity=ent.name, field=key)
                continue
            if key in ignored:
                continue  # derived or fixed: what a client sends back is ignored
            try:
                row[key] = field.type.coerce(raw, field)
            except ValueError as exc:
                errors[key] = message_of(exc)
        if current is None:
            self._apply_defaults(ent, rules, row, errors)
        get = row.get
        for name, field, type_, required, money, currency, ref in rules.stored:
            if name in errors:
                continue
            value = get(name)
            if value is None:
                if required:
                    errors[name] = _("is required")
                continue
            problem = type_.validate(value, field)
            if problem is None and money:
                problem = type_.currency_problem(value, get(currency) if currency else None)
            if problem is None and ref:
                problem = self.ref_problem(field, value, current)
            if problem:
                errors[name] = problem
        if errors:
            return row, errors
        derivation = self.derivation
        context = derivation.context(ent, row, current["id"] if current else None)
        derivation.compute(ent, row, context, errors)
        if not errors:
            run_checks(ent, context, errors)
        return row, errors

    def _apply_defaults(
        self, ent: Entity, rules: _Rules, row: dict[str, Any], errors: dict[str, str]
    ) -> None:
        for name, default in rules.defaults:
            if row.get(name) is None and name not in errors:
                row[name] = default
        context: dict[str, Any] | None = None
        for field in rules.default_exprs:
            if field.default_expr is None or row.get(field.name) is not None:
                continue
            if field.name in errors:
                continue
            context = context or self.derivation.context(ent, row, None)
            try:
                value = fastexpr.evaluate(field.default_expr, context)
                self.derivation.bind(row, context, field, field.type.coerce(plain(value), field))
            except ExpressionError as exc:
                if exc.blank or any(self._dangling(ent, row, n) for n in field.default_expr.names):
                    continue  # inputs missing: the required and ref checks will say which
                errors[field.name] = _("could not work out the default: %(error)s", error=str(exc))
            except ValueError as exc:
                errors[field.name] = _("default %(message)s", message=message_of(exc))

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
