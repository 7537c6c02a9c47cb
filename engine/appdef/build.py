"""Builds the frozen definitions from checked YAML, section by registered section.

Every check appends a located error and carries on, so that one run reports
every problem in every file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import engine.appdef.builtin_sections  # noqa: F401 (they register themselves)
from engine.appdef.model import App, AppSet, Entity, Field, Relation, frozen_map
from engine.appdef.paths import computed_dependencies, resolve_path
from engine.appdef.sections import SECTIONS, SectionContext, did_you_mean
from engine.appdef.yamlsource import Path, Source
from engine.errors import DefinitionError
from engine.expr import Expression, ExpressionError, compile_expression
from engine.i18n import text

__all__ = ["Builder", "computed_dependencies", "did_you_mean", "resolve_path"]


class Builder:
    """Turns checked sources into an AppSet, collecting every semantic error."""

    def __init__(self, sources: list[Source]):
        self.sources = sources
        self.errors: list[DefinitionError] = []
        self.broken: set[str] = set()
        self.pending: list[tuple[Source, Path, Expression]] = []
        # Defaults that were not a literal of their type, so were read as expressions: when
        # the expression is wrong too, the literal's problem is reported beside it.
        self.not_literal: dict[tuple[str, Path], str] = {}

    def fail(self, source: Source, path: Path, message: str) -> None:
        self.errors.append(source.error(path, message))

    def build(self) -> AppSet:
        by_app: dict[str, Source] = {}
        for source in self.sources:
            name = source.data["app"]
            if name in by_app:
                self.fail(
                    source, ("app", "="), f"app '{name}' is also defined in {by_app[name].file}"
                )
                continue
            by_app[name] = source
        self.by_app = by_app
        # First pass: names of every entity, so refs can be resolved in any order.
        self.entity_names = {app: set(src.data["entities"]) for app, src in by_app.items()}
        contexts: dict[str, SectionContext] = {}
        apps: dict[str, App] = {}
        tables: dict[str, str] = {}
        first = [kind for kind in SECTIONS.values() if kind.first]
        later = [kind for kind in SECTIONS.values() if not kind.first]
        for app_name, source in by_app.items():
            uses = tuple(source.data.get("uses", ()))
            for i, used in enumerate(uses):
                if used not in by_app:
                    hint = did_you_mean(used, by_app)
                    self.fail(source, ("uses", i), f"unknown app '{used}'{hint}")
            ctx = contexts[app_name] = SectionContext(self, source, app_name, uses)
            built = {
                k.target: k.build(ctx, source.data[k.key]) for k in first if k.key in source.data
            }
            for entity in built["entities"].values():
                if entity.table_name in tables:
                    self.fail(
                        source,
                        ("entities", entity.name),
                        f"table name {entity.table_name} is also "
                        f"used by {tables[entity.table_name]}",
                    )
                tables[entity.table_name] = entity.qualname
            apps[app_name] = App(
                name=app_name,
                title=text(source.data.get("title"), app_name.replace("_", " ").capitalize()),
                location=source.locate(()),
                uses=uses,
                description=text(source.data.get("description")),
                **built,
            )
        # Apps that others use come first: menus and docs read in the order of the process.
        ordered = sorted(apps, key=lambda a: (_depth_of(a, by_app), a))
        appset = AppSet(frozen_map({name: apps[name] for name in ordered}))
        appset = self.with_relations(appset)
        for entity in appset.entities():
            self.check_expressions(appset, entity)
        self.check_cycles(appset)
        # The other sections see the finished entities (fields, relations) of every app.
        finished = {}
        for name, app in appset.apps.items():
            ctx = replace(contexts[name], appset=appset)
            data = by_app[name].data
            present = [k for k in later if k.key in data and (k.key,) not in by_app[name].dropped]
            parts = {k.target: k.build(ctx, data[k.key]) for k in present}
            finished[name] = replace(app, **parts)
        return AppSet(frozen_map(finished))

    def resolve_ref(self, app: str, uses: tuple[str, ...], target: str) -> str | None:
        if "." in target:
            other, _, name = target.partition(".")
            if (other == app or other in uses) and name in self.entity_names.get(other, ()):
                return target
            return None
        if target in self.entity_names.get(app, ()):
            return f"{app}.{target}"
        return None

    def expression(self, src: Source, path: Path, text: Any) -> Expression | None:
        located = src.error(path, "")
        try:
            expr = compile_expression(text, where=f"{located.location} {located.path}")
        except ExpressionError as exc:
            self.fail(src, path, f"bad expression {str(text).strip()!r}: {exc}")
            return None
        self.pending.append((src, path, expr))
        return expr

    # -- cross-entity checks ----------------------------------------------------------------

    def with_relations(self, appset: AppSet) -> AppSet:
        children: dict[str, list[tuple[Entity, Field]]] = {}
        for entity in appset.entities():
            for f in entity.fields.values():
                if f.ref:
                    children.setdefault(f.ref, []).append((entity, f))
        apps = {}
        for app in appset.apps.values():
            entities = {}
            for entity in app.entities.values():
                links = children.get(entity.qualname, [])
                counts: dict[str, int] = {}
                for child, _ in links:
                    counts[child.name] = counts.get(child.name, 0) + 1
                relations = tuple(
                    Relation(child.name if counts[child.name] == 1 else f"{child.name}_by_{f.name}",
                             child.qualname, f.name)
                    for child, f in links
                )  # fmt: skip
                entities[entity.name] = replace(entity, relations=relations)
            apps[app.name] = replace(app, entities=frozen_map(entities))
        return AppSet(frozen_map(apps))

    def check_expressions(self, appset: AppSet, entity: Entity) -> None:
        """Every name an expression reads must be a field, a ref's field or a relation's field."""
        src = self.by_app[entity.app]
        base = ("entities", entity.name)
        exprs: list[tuple[Path, Expression]] = []
        for f in entity.fields.values():
            if f.expr:
                exprs.append(((*base, "fields", f.name, "expr", "="), f.expr))
            if f.default_expr:
                exprs.append(((*base, "fields", f.name, "default", "="), f.default_expr))
        for i, chk in enumerate(entity.checks):
            exprs.append(((*base, "checks", i, "when", "="), chk.when))
        for path, expr in exprs:
            for chain in sorted(expr.paths):
                problem = resolve_path(appset, entity, chain, frozenset(self.broken))
                literal = self.not_literal.get((src.file, path))
                if problem and literal:
                    self.fail(src, path, f"{literal} (nor an expression: {problem})")
                elif problem:
                    self.fail(src, path, f"in {expr.source!r}: {problem}")

    def check_cycles(self, appset: AppSet) -> None:
        graph = computed_dependencies(appset)
        state: dict[tuple[str, str], int] = {}

        def visit(node: tuple[str, str], trail: list[tuple[str, str]]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                cycle = [*trail[trail.index(node) :], node]
                entity = appset.entity(node[0])
                src = self.by_app[entity.app]
                self.fail(
                    src,
                    ("entities", entity.name, "fields", node[1]),
                    "computed fields depend on each other in a circle: "
                    + " -> ".join(f"{e}.{f}" for e, f in cycle),
                )
                return
            state[node] = 1
            for dep in sorted(graph.get(node, ())):
                visit(dep, [*trail, node])
            state[node] = 2

        for node in sorted(graph):
            visit(node, [])


def _depth_of(app: str, by_app: dict[str, Source], seen: frozenset[str] = frozenset()) -> int:
    uses = [u for u in by_app[app].data.get("uses", ()) if u in by_app and u not in seen]
    return 1 + max((_depth_of(u, by_app, seen | {app}) for u in uses), default=-1)
