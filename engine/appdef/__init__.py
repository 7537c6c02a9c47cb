"""App definitions: YAML in, frozen and fully checked definition objects out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.appdef.build import Builder
from engine.appdef.loader import app_schema, parse_sources, read_texts
from engine.appdef.model import ROLES, App, AppSet, Check, Entity, Field, Relation, Section
from engine.errors import DefinitionError, DefinitionErrors, Location

__all__ = [
    "ROLES", "App", "AppSet", "Check", "DefinitionError", "DefinitionErrors", "Entity", "Field",
    "Relation", "Section", "app_schema", "check_apps", "check_sources", "load_apps",
]  # fmt: skip


def check_apps(paths: Iterable[str | Path]) -> tuple[AppSet | None, list[DefinitionError]]:
    """Load and check every app file; return the apps (when there is no error) and all errors."""
    texts, errors = read_texts(paths)
    return _check(texts, errors)


def check_sources(sources: Mapping[str, str]) -> tuple[AppSet | None, list[DefinitionError]]:
    """Check app definitions given as text, keyed by the file name their errors should name.

    The same checks as `check_apps`, for text that is not (yet) in a file: the template
    editor checks an edit together with the other apps before it saves anything, e.g.
    `check_sources({**current_texts, "apps/receivables.yaml": edited})`.
    """
    if not sources:
        return None, [DefinitionError(Location("(nothing)"), "", "no app definitions given")]
    return _check(sources, [])


def _check(
    texts: Mapping[str, str], errors: list[DefinitionError]
) -> tuple[AppSet | None, list[DefinitionError]]:
    sources, structural = parse_sources(texts)
    builder = Builder(sources)
    appset = builder.build()
    errors = [*errors, *structural, *builder.errors]
    if errors:
        return None, sorted(
            errors, key=lambda e: (e.location.file, e.location.line, e.location.column)
        )
    return appset, []


def load_apps(paths: Iterable[str | Path]) -> AppSet:
    """The checked apps, or DefinitionErrors carrying every problem found."""
    appset, errors = check_apps(paths)
    if errors or appset is None:
        raise DefinitionErrors(errors)
    return appset
