"""Find app files, parse them and check their structure against the JSON Schema."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from engine.appdef.schema import build_schema
from engine.appdef.sections import SECTIONS, crumb_text, did_you_mean
from engine.appdef.yamlsource import Source, load_source
from engine.errors import DefinitionError, Location
from engine.fieldtypes import FIELD_TYPES


@cache
def app_schema() -> dict:
    """The JSON Schema of an app file, from the registries (published for editors too)."""
    return build_schema()


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(app_schema())


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


def read_texts(paths: Iterable[str | Path]) -> tuple[dict[str, str], list[DefinitionError]]:
    """The text of every app file named by `paths`, keyed by its name; files that cannot be
    read (or no files at all) come back as errors."""
    paths = list(paths)
    texts: dict[str, str] = {}
    errors: list[DefinitionError] = []
    for path in app_files(paths):
        name = str(path)
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except OSError as exc:
            errors.append(DefinitionError(Location(name, 0, 0), "", f"cannot read: {exc.strerror}"))
        except UnicodeDecodeError as exc:
            errors.append(
                DefinitionError(Location(name, 1, 1), "", f"not UTF-8 text: {exc.reason}")
            )
    if not texts and not errors:
        where = ", ".join(str(p) for p in paths) or "(nothing)"
        errors.append(DefinitionError(Location(where), "", "no app files (*.yaml) found"))
    return texts, errors


def parse_sources(texts: Mapping[str, str]) -> tuple[list[Source], list[DefinitionError]]:
    """Parse each text and check its structure; only structurally sound sources come back."""
    sources: list[Source] = []
    errors: list[DefinitionError] = []
    for name, text in texts.items():
        loaded = load_source(name, text)
        if isinstance(loaded, DefinitionError):
            errors.append(loaded)
            continue
        problems = list(structure_problems(loaded))
        errors.extend(loaded.error(path, message) for path, message in problems)
        parts = {_part_of(path) for path, _ in problems}
        if None not in parts:  # nothing wrong, or only in parts that can be left out
            sources.append(replace(loaded, dropped=frozenset(parts)))  # type: ignore[arg-type]
    return sources, errors


def _part_of(path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The part that can be left out when `path` breaks the schema, so that the rest of
    the file is still checked: one field's definition, or a whole later section."""
    if len(path) >= 4 and path[0] == "entities" and path[2] == "fields":
        return path[:4]
    if path and path[0] in SECTIONS and not SECTIONS[path[0]].first:
        return path[:1]
    return None


def structure_errors(source: Source) -> Iterable[DefinitionError]:
    """Every place where the file does not follow the schema, most specific error first."""
    for path, message in structure_problems(source):
        yield source.error(path, message)


def structure_problems(source: Source) -> Iterable[tuple[tuple[Any, ...], str]]:
    if not isinstance(source.data, dict):
        yield (), "an app file must be a mapping with 'app:' and 'entities:'"
        return
    for error in _validator().iter_errors(source.data):
        leaf = _deepest(error)
        path = tuple(leaf.absolute_path)
        # Point at the offending key, not at the mapping that holds it.
        if "propertyNames" in leaf.absolute_schema_path:
            path = (*path, leaf.instance)
        elif leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            known = leaf.schema.get("properties", {})
            path = (*path, *[k for k in leaf.instance if k not in known][:1])
        elif leaf.validator == "enum" and path:
            path = (*path, "=")  # the wrong value, not its key
        kind = SECTIONS.get(str(path[0])) if path else None
        crumbs = kind.crumbs(source.data, path) if kind else ()
        yield path, crumb_text(crumbs) + _message(leaf)


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    return error


def _field_type_of(schema: Any) -> str | None:
    """The field type whose definition `schema` is (the `field_<type>` $defs), if any."""
    defs = app_schema()["$defs"]
    name = str(schema.get("title", "")).removesuffix(" field") if isinstance(schema, dict) else ""
    return name if name in FIELD_TYPES and defs.get(f"field_{name}") is schema else None


def _misplaced(key: str, ftype: str) -> str | None:
    """'to' on a string field: say which types take it, rather than call it unknown."""
    takers = [n for n, t in FIELD_TYPES.items() if key in t.options]
    if not takers:
        return None
    entered = [n for n in takers if not FIELD_TYPES[n].derived] or takers
    if len(entered) > 2:
        return f"'{key}' does not apply to {ftype} fields"
    return f"'{key}' applies only to {' and '.join(entered)} fields"


def _message(error: jsonschema.ValidationError) -> str:
    defs = app_schema()["$defs"]
    ftype = _field_type_of(error.schema)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        parts = []
        for name in sorted(set(error.instance) - set(known)):
            misplaced = _misplaced(name, ftype) if ftype else None
            if misplaced:
                parts.append(misplaced)
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(f"unknown key '{name}'{hint}; known keys: {', '.join(sorted(known))}")
        return "; ".join(parts)
    if error.validator == "required" and ftype:
        missing = next(k for k in error.validator_value if k not in error.instance)
        need = FIELD_TYPES[ftype].needs.get(missing, missing)
        return f"a {ftype} field needs '{need}'"
    for name, noun in (("field_type", "a field type"), ("result_type", "a result type")):
        if error.validator == "enum" and error.schema is defs[name]:
            hint = did_you_mean(str(error.instance), error.validator_value)
            return f"{error.instance!r} is not {noun}{hint}"
    if error.validator == "pattern" and error.schema is defs["identifier"]:
        return f"{error.instance!r} is not a valid name: {error.schema['description']}"
    if error.validator == "propertyNames":
        return f"{error.instance!r} is not a valid name"
    return error.message
