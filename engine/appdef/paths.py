"""What a dotted name in an expression reads: a field, a ref's field, a relation's field."""

from __future__ import annotations

from engine.appdef.model import AppSet, Entity
from engine.appdef.sections import did_you_mean


def resolve_path(
    appset: AppSet, entity: Entity, chain: tuple[str, ...], broken: frozenset[str] = frozenset()
) -> str | None:
    """None when `chain` (e.g. customer.payment_terms_days) names something real.

    `broken` holds `app.entity.field` of fields already reported as wrong: a path through
    one of them, or through the relation a broken ref would have made, is not reported again.
    """
    head, rest = chain[0], chain[1:]
    if head in ("True", "False", "None") or f"{entity.qualname}.{head}" in broken:
        return None
    if head in entity.fields or head == "id":
        f = entity.fields.get(head)
        if not rest:
            return None
        if f is None or not f.ref:
            return f"'{head}' is not a reference, so '{'.'.join(chain)}' reads nothing"
        return resolve_path(appset, appset.entity(f.ref), rest, broken)
    relation = next((r for r in entity.relations if r.name == head), None)
    if relation is not None:
        child = appset.entity(relation.child)
        if not rest:
            return None
        if len(rest) > 1 or (rest[0] not in child.fields and rest[0] != "id"):
            return (f"'{child.name}' has no field '{'.'.join(rest)}'"
                    f"{did_you_mean(rest[0], child.fields)}")  # fmt: skip
        return None
    if any(b.split(".")[1] == head for b in broken):
        return None  # possibly the relation of a child whose broken ref points here
    names = [*entity.fields, *(r.name for r in entity.relations)]
    return f"'{head}' is not a field of {entity.name}{did_you_mean(head, names)}"


def computed_dependencies(appset: AppSet) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(entity, computed field) -> the computed (entity, field) pairs it reads."""
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for entity in appset.entities():
        for f in entity.computed_fields:
            deps: set[tuple[str, str]] = set()
            for chain in f.expr.paths if f.expr else ():
                target, name = _owner(appset, entity, chain)
                if target is not None and name in target.fields and target.fields[name].computed:
                    deps.add((target.qualname, name))
            graph[(entity.qualname, f.name)] = deps
    return graph


def _owner(appset: AppSet, entity: Entity, chain: tuple[str, ...]) -> tuple[Entity | None, str]:
    current = entity
    for i, part in enumerate(chain[:-1]):
        f = current.fields.get(part)
        if f is not None and f.ref:
            current = appset.entity(f.ref)
            continue
        rel = next((r for r in current.relations if r.name == part), None)
        if rel is not None and i == 0:
            current = appset.entity(rel.child)
            continue
        return None, ""
    return current, chain[-1]
