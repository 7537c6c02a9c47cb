"""Write plans: what a write of each entity involves, worked out once per set of apps.

The Repository asks, for every record it writes, in which order the computed fields
are evaluated, which parents hold sums over the entity (and must be refreshed), and
which relations its own expressions read only as `sum(rel.field)` (so a refresh asks
the database for the total instead of loading every child). The answers depend only on
the definitions, so they are computed here, once per AppSet, and cached with it.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from types import MappingProxyType

from engine.appdef.model import AppSet, Entity, Field
from engine.appdef.paths import computed_dependencies


@dataclass(frozen=True)
class EntityPlan:
    """What a write of one entity involves."""

    computed_order: tuple[Field, ...]  # each after the computed fields it reads
    parents: tuple[tuple[str, str], ...]  # (parent qualname, child's ref field) to refresh
    # relation name -> child fields, for relations that the entity's computed fields and
    # checks read only as sum(rel.field)
    summed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # names (fields, relations) that the computed fields and checks read: what a refresh
    # of the entity's records loads, besides the computed fields themselves
    reads: frozenset[str] = frozenset()
    # ref field -> the fields of its target that the entity's computed fields, defaults
    # and checks read through it (`customer.payment_terms_days`): what a write of a batch
    # loads of the records it refers to
    through: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))


_PLANS: dict[int, Mapping[str, EntityPlan]] = {}


def entity_plans(appset: AppSet) -> Mapping[str, EntityPlan]:
    """The plan of every entity of `appset`, by qualified name (computed on first use)."""
    plans = _PLANS.get(id(appset))
    if plans is None:
        plans = _PLANS[id(appset)] = MappingProxyType(_build(appset))
        weakref.finalize(appset, _PLANS.pop, id(appset), None)
    return plans


def entity_plan(appset: AppSet, qualname: str) -> EntityPlan:
    return entity_plans(appset)[qualname]


def _build(appset: AppSet) -> dict[str, EntityPlan]:
    graph = computed_dependencies(appset)
    parents: dict[str, set[tuple[str, str]]] = {}
    for ent in appset.entities():
        for relation in ent.relations:
            if any(
                chain[0] == relation.name
                for f in ent.computed_fields
                for chain in (f.expr.paths if f.expr else ())
            ):
                parents.setdefault(relation.child, set()).add((ent.qualname, relation.field))
    plans: dict[str, EntityPlan] = {}
    for ent in appset.entities():
        local = {
            f.name: {
                dep for owner, dep in graph.get((ent.qualname, f.name), ()) if owner == ent.qualname
            }
            for f in ent.computed_fields
        }
        order = tuple(ent.fields[name] for name in TopologicalSorter(local).static_order())
        plans[ent.qualname] = EntityPlan(
            order,
            tuple(sorted(parents.get(ent.qualname, ()))),
            summed_relations(ent),
            expression_reads(ent),
            read_through(ent),
        )
    return plans


def expression_reads(ent: Entity) -> frozenset[str]:
    """The names the entity's computed fields and checks read."""
    exprs = [f.expr for f in ent.computed_fields if f.expr] + [c.when for c in ent.checks]
    return frozenset(name for expr in exprs for name in expr.names)


def read_through(ent: Entity) -> Mapping[str, frozenset[str]]:
    """Per ref field, the target's fields the entity's write expressions read through it."""
    exprs = [f.expr for f in ent.fields.values() if f.expr]
    exprs += [f.default_expr for f in ent.fields.values() if f.default_expr]
    exprs += [c.when for c in ent.checks]
    found: dict[str, set[str]] = {f.name: set() for f in ent.fields.values() if f.ref}
    for expr in exprs:
        for chain in expr.paths:
            if len(chain) > 1 and chain[0] in found:
                found[chain[0]].add(chain[1])
    return MappingProxyType({name: frozenset(fields) for name, fields in found.items()})


def summed_relations(ent: Entity) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Relations that the entity's computed fields and checks read only as `sum(rel.field)`."""
    trees = [f.expr.tree for f in ent.computed_fields if f.expr]
    trees += [c.when.tree for c in ent.checks]
    nodes = [n for tree in trees for n in ast.walk(tree)]
    out = []
    for relation in ent.relations:
        uses = [n for n in nodes if isinstance(n, ast.Name) and n.id == relation.name]
        sums = [
            n.args[0].attr
            for n in nodes
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "sum"
            and len(n.args) == 1
            and isinstance(n.args[0], ast.Attribute)
            and isinstance(n.args[0].value, ast.Name)
            and n.args[0].value.id == relation.name
        ]
        if uses and len(uses) == len(sums):
            out.append((relation.name, tuple(sorted(set(sums)))))
    return tuple(out)
