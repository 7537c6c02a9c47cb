"""Semantic checks and construction of the frozen definitions from checked YAML.

Every check appends a located error and carries on, so that one run reports
every problem in every file.
"""

from __future__ import annotations

import ast
import difflib
import re
import string
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from engine.appdef.model import (
    ACTIONS,
    DEFAULT_PERMISSIONS,
    SYSTEM_COLUMNS,
    App,
    AppSet,
    Check,
    Entity,
    Field,
    Relation,
    Section,
    frozen_map,
)
from engine.appdef.yamlsource import Path, Source
from engine.errors import DefinitionError
from engine.expr import Expression, ExpressionError, compile_expression
from engine.fieldtypes import FIELD_TYPES

LATER_SECTIONS = ("matching", "automations", "reports")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


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

    # -- apps and entities ------------------------------------------------------------------

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
        raw_entities: dict[str, Entity] = {}
        apps: dict[str, App] = {}
        tables: dict[str, str] = {}
        for app_name, source in by_app.items():
            uses = tuple(source.data.get("uses", ()))
            for i, used in enumerate(uses):
                if used not in by_app:
                    hint = did_you_mean(used, by_app)
                    self.fail(source, ("uses", i), f"unknown app '{used}'{hint}")
            entities = {}
            for name, raw in source.data["entities"].items():
                entity = self.entity(source, app_name, uses, name, raw)
                if entity.table_name in tables:
                    self.fail(
                        source,
                        ("entities", name),
                        f"table name {entity.table_name} is also "
                        f"used by {tables[entity.table_name]}",
                    )
                tables[entity.table_name] = entity.qualname
                entities[name] = entity
                raw_entities[entity.qualname] = entity
            apps[app_name] = App(
                name=app_name,
                title=source.data.get("title") or app_name.replace("_", " ").capitalize(),
                location=source.locate(()),
                entities=frozen_map(entities),
                uses=uses,
                description=source.data.get("description", ""),
                sections=frozen_map(
                    {k: source.data[k] for k in LATER_SECTIONS if k in source.data}
                ),
            )
        # Apps that others use come first: menus and docs read in the order of the process.
        ordered = sorted(apps, key=lambda a: (_depth_of(a, by_app), a))
        appset = AppSet(frozen_map({name: apps[name] for name in ordered}))
        appset = self.with_relations(appset)
        for entity in appset.entities():
            self.check_expressions(appset, entity)
        self.check_cycles(appset)
        return appset

    def resolve_ref(self, app: str, uses: tuple[str, ...], target: str) -> str | None:
        if "." in target:
            other, _, name = target.partition(".")
            if (other == app or other in uses) and name in self.entity_names.get(other, ()):
                return target
            return None
        if target in self.entity_names.get(app, ()):
            return f"{app}.{target}"
        return None

    def entity(self, src: Source, app: str, uses: tuple[str, ...], name: str, raw: dict) -> Entity:
        base: Path = ("entities", name)
        fields: dict[str, Field] = {}
        for fname, fraw in raw["fields"].items():
            if fname in SYSTEM_COLUMNS:
                self.fail(
                    src,
                    (*base, "fields", fname),
                    f"'{fname}' is a name Formwork uses itself ({', '.join(SYSTEM_COLUMNS)})",
                )
                continue
            built = self.field(src, app, uses, (*base, "fields", fname), fname, fraw)
            if built is not None:
                fields[fname] = built
            else:  # reported once; expressions naming it are not reported again
                self.broken.add(f"{app}.{name}.{fname}")
        all_names = [*fields, "id"]
        known = set(raw["fields"]) | {"id"}

        def known_field(path: Path, fname: str, what: str) -> bool:
            if fname in known:
                return True
            self.fail(
                src,
                path,
                f"{what} '{fname}' is not a field of {name}{did_you_mean(fname, all_names)}",
            )
            return False

        list_raw = raw.get("list", {})
        columns = tuple(list_raw.get("columns", ()))
        for i, col in enumerate(columns):
            known_field((*base, "list", "columns", i), col, "column")
        filters = tuple(list_raw.get("filters", ()))
        for i, col in enumerate(filters):
            known_field((*base, "list", "filters", i), col, "filter")
        sort = list_raw.get("sort", "")
        default_sort: tuple[tuple[str, bool], ...] = (("id", True),)
        if sort:
            sname = sort.lstrip("-")
            if known_field((*base, "list", "sort", "="), sname, "sort field"):
                default_sort = ((sname, sort.startswith("-")),)
                if sname != "id":
                    default_sort += (("id", sort.startswith("-")),)
        search = tuple(raw.get("search", ()))
        for i, col in enumerate(search):
            texty = ("string", "text", "email", "phone", "url", "choice")
            listed = known_field((*base, "search", i), col, "search field") and col in fields
            if listed and fields[col].value_type.name not in texty:
                self.fail(src, (*base, "search", i), f"search field '{col}' is not a text field")
        indexes = []
        for i, cols in enumerate(raw.get("indexes", ())):
            found = [
                known_field((*base, "indexes", i, j), col, "index field")
                for j, col in enumerate(cols)
            ]
            if all(found):
                indexes.append(tuple(cols))
        sections = []
        for i, sec in enumerate(raw.get("sections", ())):
            for j, col in enumerate(sec["fields"]):
                known_field((*base, "sections", i, "fields", j), col, "section field")
            sections.append(Section(sec["title"], tuple(sec["fields"])))
        checks = []
        for i, chk in enumerate(raw.get("checks", ())):
            when = self.expression(src, (*base, "checks", i, "when", "="), chk["when"])
            if chk.get("field"):
                known_field((*base, "checks", i, "field", "="), chk["field"], "check field")
            if when is not None:
                checks.append(
                    Check(
                        when,
                        chk["message"],
                        chk.get("field"),
                        src.locate((*base, "checks", i, "when", "=")),
                    )
                )
        display = raw.get("display") or self.default_display(fields)
        for _, placeholder, _, _ in (
            string.Formatter().parse(display)
            if self.template_ok(src, (*base, "display", "="), display)
            else ()
        ):
            if placeholder is not None:
                known_field(
                    (*base, "display", "="), placeholder.split(".")[0], "display placeholder"
                )
        permissions = dict(DEFAULT_PERMISSIONS)
        for level in (self.by_app[app].data.get("permissions", {}), raw.get("permissions", {})):
            for action in ACTIONS:
                if action in level:
                    permissions[action] = frozenset(level[action])
        label = raw.get("label") or name.replace("_", " ").capitalize()
        return Entity(
            app=app, name=name, location=src.locate(base), label=label,
            plural=raw.get("plural") or _plural(label), display=display,
            fields=frozen_map(fields), checks=tuple(checks),
            list_columns=columns or tuple(list(fields)[:6]), list_filters=filters,
            default_sort=default_sort, page_size=list_raw.get("page_size", 50), search=search,
            indexes=tuple(indexes),
            sections=tuple(sections), permissions=frozen_map(permissions),
            description=raw.get("description", ""),
        )  # fmt: skip

    def template_ok(self, src: Source, path: Path, template: str) -> bool:
        try:
            list(string.Formatter().parse(template))
        except ValueError as exc:
            self.fail(src, path, f"bad display template: {exc}")
            return False
        return True

    @staticmethod
    def default_display(fields: dict[str, Field]) -> str:
        for candidate in ("name", "number", "title", "code"):
            if candidate in fields:
                return "{" + candidate + "}"
        texty = [f for f in fields.values() if f.type.name in ("string", "email")]
        return "{" + texty[0].name + "}" if texty else "#{id}"

    # -- fields -----------------------------------------------------------------------------

    def field(self, src: Source, app: str, uses: tuple[str, ...], path: Path, name: str,
              raw: dict) -> Field | None:  # fmt: skip
        tname = raw["type"]
        ftype = FIELD_TYPES.get(tname)
        if ftype is None:
            self.fail(
                src,
                (*path, "type", "="),
                f"'{tname}' is not a field type{did_you_mean(tname, FIELD_TYPES)}",
            )
            return None
        kw: dict[str, Any] = {}
        ok = True

        def only_for(key: str, types: tuple[str, ...]) -> None:
            nonlocal ok
            if key in raw and tname not in types:
                self.fail(
                    src, (*path, key), f"'{key}' applies only to {' and '.join(types)} fields"
                )
                ok = False

        if raw.get("result") != "choice":  # a computed choice may list its outcomes
            only_for("options", ("choice",))
        only_for("to", ("ref",))
        only_for("on_delete", ("ref",))
        only_for("expr", ("computed",))
        only_for("result", ("computed",))
        only_for("currency", ("money",))
        if tname == "choice":
            if not raw.get("options"):
                self.fail(src, path, "a choice field needs 'options'")
                ok = False
            kw["options"] = tuple(str(o) for o in raw.get("options", ()))
        if tname == "ref":
            target = raw.get("to")
            resolved = self.resolve_ref(app, uses, target) if target else None
            if not target:
                self.fail(src, path, "a ref field needs 'to: <entity>'")
                ok = False
            elif resolved is None:
                names = [*self.entity_names.get(app, ())]
                names += [f"{u}.{e}" for u in uses for e in self.entity_names.get(u, ())]
                why = ""
                if "." in target and target.partition(".")[0] not in (app, *uses):
                    why = f" (app '{target.partition('.')[0]}' is not in this app's 'uses')"
                self.fail(
                    src,
                    (*path, "to", "="),
                    f"ref to unknown entity '{target}'{why or did_you_mean(target, names)}",
                )
                ok = False
            kw["ref"] = resolved
            kw["on_delete"] = raw.get("on_delete", "restrict")
        if tname == "computed":
            if "expr" not in raw:
                self.fail(src, path, "a computed field needs 'expr'")
                ok = False
            result = raw.get("result", "decimal")
            if result not in FIELD_TYPES or result in ("computed", "ref"):
                allowed = [t for t in FIELD_TYPES if t not in ("computed", "ref")]
                self.fail(
                    src,
                    (*path, "result", "="),
                    f"'{result}' is not a result type{did_you_mean(result, allowed)}",
                )
                ok = False
            kw["result"] = result
            kw["options"] = tuple(str(o) for o in raw.get("options", ()))
            kw["expr"] = (
                self.expression(src, (*path, "expr", "="), raw.get("expr", "0"))
                if "expr" in raw
                else None
            )
            if kw["expr"] is None:
                ok = False
            elif kw["expr"].time_dependent:
                self.fail(
                    src,
                    (*path, "expr", "="),
                    "a computed field is stored, so it cannot use "
                    "today() or days_until(); use them in checks, automations or reports",
                )
                ok = False
            if "default" in raw or raw.get("required") or raw.get("unique"):
                self.fail(src, path, "a computed field takes no default, required or unique")
                ok = False
        if "pattern" in raw:
            try:
                re.compile(raw["pattern"])
            except re.error as exc:
                self.fail(src, (*path, "pattern", "="), f"bad pattern: {exc}")
                ok = False
        if not ok:
            return None
        field = Field(
            name=name, type=ftype, location=src.locate(path),
            label=raw.get("label") or name.replace("_", " ").capitalize(), help=raw.get("help", ""),
            required=bool(raw.get("required")), unique=bool(raw.get("unique")),
            index=bool(raw.get("index")), readonly=bool(raw.get("readonly")),
            pattern=raw.get("pattern"), pattern_message=raw.get("pattern_message"),
            currency_field=raw.get("currency"), **kw,
        )  # fmt: skip
        value_type = field.value_type
        bounds: dict[str, Any] = {}
        for key in ("min", "max"):
            if key not in raw:
                continue
            if value_type.name in ("string", "text", "email", "phone", "url"):
                if not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 0:
                    self.fail(
                        src,
                        (*path, key, "="),
                        f"'{key}' of a text field is a length (a whole number)",
                    )
                    continue
                bounds[f"{key}_length"] = raw[key]
            elif value_type.takes_bounds:
                try:
                    bounds[key] = value_type.coerce(raw[key], field)
                except ValueError as exc:
                    self.fail(src, (*path, key, "="), f"'{key}' {exc}")
            else:
                self.fail(src, (*path, key), f"'{key}' does not apply to {value_type.name} fields")
        field = replace(field, **bounds)
        if "default" in raw:
            field = self.default(src, (*path, "default", "="), field, raw["default"])
        return field

    def default(self, src: Source, path: Path, field: Field, raw: Any) -> Field:
        """A literal default is coerced now; '= expr' (or, for non-text types, text that is
        not a literal of the type) is an expression evaluated when a record is created."""
        textual = field.type.name in (
            "string",
            "text",
            "email",
            "phone",
            "url",
            "choice",
            "currency",
        )
        if isinstance(raw, str) and raw.startswith("="):
            expr = self.expression(src, path, raw[1:])
            return replace(field, default_expr=expr) if expr else field
        try:
            value = field.type.coerce(raw, field)
            problem = field.type.validate(value, field)
        except ValueError as exc:
            if isinstance(raw, str) and not textual:
                try:  # not a literal: an expression, unless it is not one either
                    bare_name = isinstance(compile_expression(raw).tree.body, ast.Name)
                except ExpressionError:
                    self.fail(src, path, f"default {raw!r} {exc}")
                    return field
                if bare_name:  # `default: abc` is more likely a bad literal than a field
                    self.not_literal[(src.file, path)] = f"default {raw!r} {exc}"
                expr = self.expression(src, path, raw)
                return replace(field, default_expr=expr) if expr else field
            problem = str(exc)
        if problem:
            self.fail(src, path, f"default {raw!r} {problem}")
            return field
        return replace(field, default=value)

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


def _depth_of(app: str, by_app: dict[str, Source], seen: frozenset[str] = frozenset()) -> int:
    uses = [u for u in by_app[app].data.get("uses", ()) if u in by_app and u not in seen]
    return 1 + max((_depth_of(u, by_app, seen | {app}) for u in uses), default=-1)


def _plural(label: str) -> str:
    if label.endswith("y") and label[-2:-1] not in "aeiou":
        return label[:-1] + "ies"
    if label.endswith(("s", "x", "ch", "sh")):
        return label + "es"
    return label + "s"
