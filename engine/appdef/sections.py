"""The registry of an app file's top-level sections.

Each section (`entities`, `imports`, `matching`, `automations`, `reports`) registers its
JSON-Schema fragment and a builder turning its raw YAML into typed, frozen definitions.
The published schema is assembled from this registry and the loader builds every section
it names, so a new section is one module that calls `register_section`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from engine import i18n
from engine.appdef.model import AppSet, Entity, Field, frozen_map
from engine.appdef.yamlsource import Path, Source
from engine.expr import Expression, ExpressionError, compile_expression

if TYPE_CHECKING:
    from engine.appdef.build import Builder


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def text(value: Any, default: str = "") -> i18n.Text:
    """A label, help text or message as written in the YAML (schema: `$defs/text`): one
    text, or one per language (`{en: Invoice, zh: 发票}`), as an engine.i18n.Text; a
    mapping without English takes `default` as its English."""
    return i18n.text(value or None, default)


def label_of(raw: Mapping[str, Any], name: str) -> i18n.Text:
    """The `label:` of a field or entity, else its name made readable (due_date -> Due date)."""
    return text(raw.get("label"), name.replace("_", " ").capitalize())


def no_crumbs(data: Any, path: Path) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class SectionKind:
    """One top-level key of an app file: its schema, its builder, where it goes on `App`."""

    key: str
    schema: Mapping[str, Any]
    build: Callable[[SectionContext, Any], Any]
    description: str = ""
    defs: Mapping[str, Any] = field(default_factory=frozen_map)
    # The App attribute the built value goes to (the key itself unless given).
    attribute: str = ""
    # Breadcrumbs for a path inside the section ("rule `x`"), for structural errors too.
    crumbs: Callable[[Any, Path], tuple[str, ...]] = no_crumbs
    # Built before the others: the rest may look at the finished entities.
    first: bool = False

    @property
    def target(self) -> str:
        return self.attribute or self.key


SECTIONS: dict[str, SectionKind] = {}


def register_section(kind: SectionKind) -> SectionKind:
    if kind.key in SECTIONS:
        raise RuntimeError(f"app section {kind.key!r} is registered twice")
    SECTIONS[kind.key] = kind
    return kind


def crumb_text(crumbs: tuple[str, ...]) -> str:
    return f"in {', '.join(crumbs)}: " if crumbs else ""


def named_map(definition: str, **extra: Any) -> dict[str, Any]:
    """The schema of a mapping from names to `$defs/<definition>` objects."""
    return {
        "type": "object",
        **extra,
        "propertyNames": {"$ref": "#/$defs/identifier"},
        "additionalProperties": {"$ref": f"#/$defs/{definition}"},
    }


def named_crumbs(noun: str) -> Callable[[Any, Path], tuple[str, ...]]:
    """Breadcrumbs for a section that maps names to things: `automation \\`dunning\\``."""

    def crumbs(data: Any, path: Path) -> tuple[str, ...]:
        return (f"{noun} `{path[1]}`",) if len(path) > 1 else ()

    return crumbs


@dataclass(frozen=True)
class SectionContext:
    """What a section builder needs: the source, the app, the entities built so far and a
    way to report located errors, prefixed with the breadcrumbs of where it stands."""

    builder: Builder
    source: Source
    app: str
    uses: tuple[str, ...]
    appset: AppSet | None = None
    crumbs: tuple[str, ...] = ()

    def within(self, crumb: str) -> SectionContext:
        return replace(self, crumbs=(*self.crumbs, crumb))

    def fail(self, path: Path, message: str) -> None:
        self.builder.errors.append(self.source.error(path, crumb_text(self.crumbs) + message))

    def locate(self, path: Path) -> Any:
        return self.source.locate(path)

    def entity(self, path: Path, name: Any) -> Entity | None:
        """The entity `name` (own app, or `app.entity` of a used app), or a located error."""
        assert self.appset is not None, "entities are built first"
        qualname = self.builder.resolve_ref(self.app, self.uses, str(name))
        if qualname is not None:
            return self.appset.entity(qualname)
        names = [e.name for e in self.appset.apps[self.app].entities.values()]
        names += [e.qualname for u in self.uses if u in self.appset.apps
                  for e in self.appset.apps[u].entities.values()]  # fmt: skip
        self.fail(path, f"unknown entity '{name}'{did_you_mean(str(name), names)}")
        return None

    def field(self, path: Path, entity: Entity, name: Any) -> Field | None:
        found = entity.fields.get(str(name))
        if found is None and f"{entity.qualname}.{name}" not in self.builder.broken:
            hint = did_you_mean(str(name), entity.fields)
            self.fail(path, f"'{name}' is not a field of {entity.name}{hint}")
        return found

    def expression(
        self, path: Path, text: Any, scope: Mapping[str, Entity] | Entity | None = None
    ) -> Expression | None:
        """Compile `text`; every name it reads must be a field of `scope` (one entity, or
        names such as `source`/`target` each standing for an entity)."""
        from engine.appdef.paths import resolve_path  # paths needs did_you_mean from here

        located = self.source.error(path, "")
        try:
            expr = compile_expression(text, where=f"{located.location} {located.path}")
        except ExpressionError as exc:
            self.fail(path, f"bad expression {str(text).strip()!r}: {exc}")
            return None
        assert self.appset is not None, "entities are built first"
        broken = frozenset(self.builder.broken)
        for chain in sorted(expr.paths):
            if isinstance(scope, Entity):
                problem = resolve_path(self.appset, scope, chain, broken)
            elif scope is not None and chain[0] in scope and len(chain) > 1:
                problem = resolve_path(self.appset, scope[chain[0]], chain[1:], broken)
            elif scope is not None:
                problem = f"'{chain[0]}' is not one of {', '.join(sorted(scope))}"
            else:
                problem = None
            if problem:
                self.fail(path, f"in {expr.source!r}: {problem}")
                return None
        return expr
