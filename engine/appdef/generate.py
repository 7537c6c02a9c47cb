"""The `generate:` section: child records the engine makes for a parent from a template.

An invoice with a payment schedule gets one instalment per line of its schedule: which
lines (`for_each`, a path from the parent through refs to a relation), in which order,
and each child's values as expressions over the parent, the `line`, its `position`
(1, 2, ...), the `count` of lines and `before` (the sum of the `remainder` field over the
earlier children). The `remainder` field is money: every child but the last is rounded to
its currency, and the last takes what is left of `total`, so the children add up exactly.
The children are made when the parent is created and made again when a parent field they
read changes (engine.storage.generate); a change to the template itself leaves the records
made from it as they are, as a signed contract would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.appdef.model import AppSet, Entity, frozen_map
from engine.appdef.paths import resolve_path
from engine.appdef.sections import (
    SectionContext,
    SectionKind,
    did_you_mean,
    named_crumbs,
    named_map,
    register_section,
)
from engine.appdef.yamlsource import Path
from engine.errors import Location
from engine.expr import Expression

BARE_NAMES = ("position", "count", "before")


@dataclass(frozen=True)
class Generator:
    name: str
    entity: str  # the children's entity, qualified
    parent: str  # the children's ref field to the parent
    parent_entity: str  # qualified
    refs: tuple[str, ...]  # ref fields walked from the parent (payment_terms)
    relation: str  # then this relation of the record reached (payment_terms_line)
    line_entity: str  # qualified entity of the lines
    order: tuple[str, ...]  # line fields the lines are sorted by
    values: Mapping[str, Expression]
    remainder: str | None
    total: Expression | None
    reads: frozenset[str]  # parent fields whose change makes the children again
    location: Location


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "parent", "for_each", "values"],
    "additionalProperties": False,
    "properties": {
        "entity": {"type": "string", "description": "the entity of the records made"},
        "parent": {"type": "string", "description": "their ref to the record that makes them"},
        "for_each": {
            "type": "string",
            "description": "from the parent, refs then a relation: one child per line, "
            "e.g. payment_terms.payment_terms_line",
        },
        "order": {"type": "array", "items": {"type": "string"}, "description": "line fields"},
        "values": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"$ref": "#/$defs/identifier"},
            "additionalProperties": {"$ref": "#/$defs/expression"},
            "description": "field: expression over the parent, line, position, count, before",
        },
        "remainder": {
            "type": "object",
            "required": ["field", "total"],
            "additionalProperties": False,
            "properties": {
                "field": {"type": "string", "description": "a money field of the children"},
                "total": {"$ref": "#/$defs/expression"},
            },
            "description": "the last child takes what the others leave of the total",
        },
    },
}


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Mapping[str, Generator]:
    made: dict[str, Generator] = {}
    for name, spec in raw.items():
        gen = _build_one(ctx.within(f"generator `{name}`"), ("generate", name), name, spec)
        if gen is not None:
            made[name] = gen
    return frozen_map(made)


def _build_one(
    ctx: SectionContext, path: Path, name: str, spec: Mapping[str, Any]
) -> Generator | None:
    assert ctx.appset is not None
    child = ctx.entity((*path, "entity", "="), spec["entity"])
    if child is None:
        return None
    ref = ctx.field((*path, "parent", "="), child, spec["parent"])
    if ref is None:
        return None
    if not ref.ref:
        ctx.fail((*path, "parent", "="), f"'{ref.name}' is not a reference")
        return None
    parent = ctx.appset.entity(ref.ref)
    walked = _walk(ctx, (*path, "for_each", "="), parent, spec["for_each"])
    if walked is None:
        return None
    refs, relation, line = walked
    ok = True
    for i, fname in enumerate(spec.get("order", ())):
        ok = ctx.field((*path, "order", i), line, fname) is not None and ok
    scope = {ref.name: parent, "line": line}
    values = {}
    for fname, text in spec["values"].items():
        target = ctx.field((*path, "values", fname), child, fname)
        if target is not None and target.computed:
            ctx.fail((*path, "values", fname), f"'{fname}' is computed, so it cannot be given")
            target = None
        expr = _expression(ctx, (*path, "values", fname, "="), text, scope)
        if target is None or expr is None:
            ok = False
        else:
            values[fname] = expr
    remainder = total = None
    if "remainder" in spec:
        rpath = (*path, "remainder", "field", "=")
        field = ctx.field(rpath, child, spec["remainder"]["field"])
        if field is not None and not field.value_type.uses_currency:
            ctx.fail(rpath, f"'{field.name}' is not a money field")
            field = None
        total = _expression(ctx, (*path, "remainder", "total", "="), spec["remainder"]["total"],
                            scope)  # fmt: skip
        ok = ok and field is not None and total is not None
        remainder = field.name if field is not None else None
    if not ok:
        return None
    exprs = [*values.values(), *([total] if total else [])]
    reads = {chain[1] for e in exprs for chain in e.paths if chain[0] == ref.name and chain[1:]}
    return Generator(
        name, child.qualname, ref.name, parent.qualname, refs, relation, line.qualname,
        tuple(spec.get("order", ())), frozen_map(values), remainder, total,
        frozenset({*reads, refs[0] if refs else relation}), ctx.locate(path),
    )  # fmt: skip


def _walk(
    ctx: SectionContext, path: Path, parent: Entity, text: str
) -> tuple[tuple[str, ...], str, Entity] | None:
    """`payment_terms.payment_terms_line`: the refs walked, the relation, its entity."""
    assert ctx.appset is not None
    *refs, last = text.split(".")
    current = parent
    for part in refs:
        f = current.fields.get(part)
        if f is None or not f.ref:
            hint = did_you_mean(part, [n for n, g in current.fields.items() if g.ref])
            ctx.fail(path, f"'{part}' is not a reference of {current.name}{hint}")
            return None
        current = ctx.appset.entity(f.ref)
    relation = next((r for r in current.relations if r.name == last), None)
    if relation is None:
        hint = did_you_mean(last, [r.name for r in current.relations])
        ctx.fail(path, f"'{last}' is not a list of records under {current.name}{hint}")
        return None
    return tuple(refs), relation.name, ctx.appset.entity(relation.child)


def _expression(
    ctx: SectionContext, path: Path, text: Any, scope: Mapping[str, Entity]
) -> Expression | None:
    """Compiled; it reads the parent's and the line's fields and the bare BARE_NAMES only."""
    assert ctx.appset is not None
    expr = ctx.expression(path, text)
    if expr is None:
        return None
    for chain in sorted(expr.paths):
        if len(chain) == 1 and chain[0] in BARE_NAMES:
            continue
        if chain[0] in scope and len(chain) > 1:
            problem = resolve_path(ctx.appset, scope[chain[0]], chain[1:])
        else:
            names = ", ".join([*scope, *BARE_NAMES])
            problem = f"'{'.'.join(chain)}' is not a field of one of {names}"
        if problem:
            ctx.fail(path, f"in {expr.source!r}: {problem}")
            return None
    return expr


def generators_for(appset: AppSet, parent: str) -> tuple[Generator, ...]:
    """The generators whose children a record of `parent` makes."""
    return tuple(
        g
        for app in appset.apps.values()
        for g in app.generate.values()
        if g.parent_entity == parent
    )


GENERATE = register_section(
    SectionKind(
        key="generate",
        description="Records the engine makes for a parent from a template "
        "(an invoice's instalments from its payment schedule).",
        schema=named_map("generator"),
        defs={"generator": SCHEMA},
        build=build,
        crumbs=named_crumbs("generator"),
    )
)
