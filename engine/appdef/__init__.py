"""App definitions: YAML in, frozen and fully checked definition objects out."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from engine.appdef.build import Builder
from engine.appdef.loader import app_schema, read_sources
from engine.appdef.model import ROLES, App, AppSet, Check, Entity, Field, Relation, Section
from engine.errors import DefinitionError, DefinitionErrors, Location

__all__ = [
    "ROLES", "App", "AppSet", "Check", "DefinitionError", "DefinitionErrors", "Entity", "Field",
    "Relation", "Section", "app_schema", "check_apps", "load_apps",
]  # fmt: skip


def check_apps(paths: Iterable[str | Path]) -> tuple[AppSet | None, list[DefinitionError]]:
    """Load and check every app file; return the apps (when there is no error) and all errors."""
    paths = list(paths)
    sources, errors = read_sources(paths)
    if not sources and not errors:
        where = ", ".join(str(p) for p in paths) or "(nothing)"
        return None, [DefinitionError(Location(where), "", "no app files (*.yaml) found")]
    builder = Builder(sources)
    appset = builder.build()
    errors += builder.errors
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
