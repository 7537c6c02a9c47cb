"""Find app files, parse them and check their structure against the JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema

from engine.appdef.yamlsource import Source, load_source
from engine.errors import DefinitionError, Location

SCHEMA_FILE = "formwork-app.schema.json"


@cache
def app_schema() -> dict:
    """The published JSON Schema of an app file (also useful to editors)."""
    return json.loads(resources.files("engine.appdef").joinpath(SCHEMA_FILE).read_text())


def app_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named, or found directly inside the folders named, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    return files


def read_sources(paths: Iterable[str | Path]) -> tuple[list[Source], list[DefinitionError]]:
    sources: list[Source] = []
    errors: list[DefinitionError] = []
    for path in app_files(paths):
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            errors.append(DefinitionError(Location(name, 0, 0), "", f"cannot read: {exc.strerror}"))
            continue
        except UnicodeDecodeError as exc:
            errors.append(
                DefinitionError(Location(name, 1, 1), "", f"not UTF-8 text: {exc.reason}")
            )
            continue
        loaded = load_source(name, text)
        if isinstance(loaded, DefinitionError):
            errors.append(loaded)
            continue
        structural = list(structure_errors(loaded))
        errors.extend(structural)
        if not structural:
            sources.append(loaded)
    return sources, errors


def structure_errors(source: Source) -> Iterable[DefinitionError]:
    """Every place where the file does not follow the schema, most specific error first."""
    if not isinstance(source.data, dict):
        yield source.error((), "an app file must be a mapping with 'app:' and 'entities:'")
        return
    validator = jsonschema.Draft202012Validator(app_schema())
    for error in validator.iter_errors(source.data):
        leaf = _deepest(error)
        path = tuple(leaf.absolute_path)
        # Point at the offending key, not at the mapping that holds it.
        if "propertyNames" in leaf.absolute_schema_path:
            path = (*path, leaf.instance)
        elif leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            known = leaf.schema.get("properties", {})
            path = (*path, *[k for k in leaf.instance if k not in known][:1])
        yield source.error(path, _message(leaf))


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    return error


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        import difflib

        parts = []
        for name in extra:
            close = difflib.get_close_matches(name, error.schema.get("properties", {}), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(f"unknown key '{name}'{hint}")
        return "; ".join(parts) + f"; known keys: {known}"
    if error.validator == "pattern" and error.schema == app_schema()["$defs"]["identifier"]:
        return f"{error.instance!r} is not a valid name: {error.schema['description']}"
    if error.validator == "propertyNames":
        return f"{error.instance!r} is not a valid name"
    return error.message
