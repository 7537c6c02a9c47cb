"""The published JSON Schema of an app file, assembled from the two registries.

Top-level sections come from `engine.appdef.sections`, field types and the keys each one
accepts from `engine.fieldtypes`, so the schema an editor completes from is the one the
loader checks with. `formwork schema --write` rewrites the published copy.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import engine.appdef.builtin_sections  # noqa: F401 (they register themselves)
from engine.appdef.model import ROLES
from engine.appdef.sections import SECTIONS
from engine.fieldtypes import FIELD_TYPES

SCHEMA_FILE = "formwork-app.schema.json"

# Keys every field takes, whatever its type.
COMMON_FIELD_KEYS: dict[str, Any] = {
    "label": {"$ref": "#/$defs/text"},
    "help": {"$ref": "#/$defs/text"},
    "required": {"type": "boolean"},
    "unique": {"type": "boolean"},
    "index": {"type": "boolean"},
    "readonly": {"type": "boolean"},
    "default": {
        "description": "A literal value, or an expression string starting with '=' (e.g. "
        "'= issue_date + days(30)'), or any expression for date and ref fields"
    },
}

BASE_DEFS: dict[str, Any] = {
    "identifier": {
        "type": "string",
        "pattern": "^[a-z][a-z0-9_]{0,47}$",
        "description": "lower case letters, digits and _, starting with a letter",
    },
    # Labels, help texts, titles and messages: one text, or one per language. (Keywords
    # of one JSON type each, not oneOf, so that a wrong value gets a precise message.)
    "text": {
        "type": ["string", "object"],
        "description": "A text, or the text per language: {en: Invoice, zh: 发票}",
        "minProperties": 1,
        "propertyNames": {"pattern": "^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"},
        "additionalProperties": {"type": "string"},
    },
    "role": {"enum": list(ROLES)},
    "roles": {"type": "array", "items": {"$ref": "#/$defs/role"}, "uniqueItems": True},
    "permissions": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            action: {"$ref": "#/$defs/roles"} for action in ("read", "create", "update", "delete")
        },
    },
    "expression": {
        "type": ["string", "number"],
        "description": "A Formwork expression, e.g. issue_date + days(30)",
    },
    "choice_options": {
        "type": ["array", "object"],
        "description": "The values a choice takes: [open, in_progress], or with the labels "
        "people see, [{value: in_progress, label: {en: In progress, zh: 进行中}}] or "
        "{in_progress: {zh: 进行中}}; a value without a label shows as 'In progress'",
        "minItems": 1,
        "uniqueItems": True,
        "items": {
            "type": ["string", "object"],
            "required": ["value"],
            "additionalProperties": False,
            "properties": {"value": {"type": "string"}, "label": {"$ref": "#/$defs/text"}},
        },
        "minProperties": 1,
        "additionalProperties": {"$ref": "#/$defs/text"},
    },
}


def field_defs() -> dict[str, Any]:
    """`field` dispatches on `type` to one definition per registered field type."""
    defs: dict[str, Any] = {
        "field_type": {
            "enum": list(FIELD_TYPES),
            "description": ", ".join(FIELD_TYPES),
        },
        "result_type": {
            "enum": [n for n, t in FIELD_TYPES.items() if t.can_be_result],
            "description": "the type of a computed field's value (default decimal)",
        },
        "field": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"$ref": "#/$defs/field_type"}},
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": {"$ref": f"#/$defs/field_{name}"},
                }
                for name in FIELD_TYPES
            ],
        },
    }
    for name, ftype in FIELD_TYPES.items():
        options = dict(ftype.options)
        if "result" in options:
            options["result"] = {**options["result"], "$ref": "#/$defs/result_type"}
        defs[f"field_{name}"] = {
            "title": f"{name} field",
            "description": (type(ftype).__doc__ or "").strip().split("\n")[0],
            "type": "object",
            "required": ["type", *ftype.needs],
            "additionalProperties": False,
            "properties": {"type": {"const": name}, **COMMON_FIELD_KEYS, **options},
        }
    return defs


def build_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "app": {
            "$ref": "#/$defs/identifier",
            "description": "The app's name; used in URLs, table names and refs (app.entity).",
        },
        "title": {"$ref": "#/$defs/text"},
        "description": {"$ref": "#/$defs/text"},
        "uses": {
            "type": "array",
            "items": {"$ref": "#/$defs/identifier"},
            "uniqueItems": True,
            "description": "Other apps whose entities this app may reference as app.entity.",
        },
        "permissions": {
            "$ref": "#/$defs/permissions",
            "description": "Defaults for every entity of the app.",
        },
    }
    defs = {**BASE_DEFS, **field_defs()}
    for kind in SECTIONS.values():
        properties[kind.key] = {**kind.schema, "description": kind.description}
        for name, fragment in kind.defs.items():
            if name in defs:
                raise RuntimeError(f"section {kind.key!r} redefines $defs/{name}")
            defs[name] = fragment
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://formwork.dev/schema/app.json",
        "title": "Formwork app definition",
        "description": "One YAML file under apps/ describes one app: its entities (tables, "
        "forms, lists, API), imports, matching rules, automations and reports.",
        "type": "object",
        "required": ["app", *[k.key for k in SECTIONS.values() if k.first]],
        "additionalProperties": False,
        "properties": properties,
        "$defs": defs,
    }


def published_text() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def write_published(path: Path | None = None) -> Path:
    """Rewrite the schema file shipped with the package (editors point at it)."""
    target = path or Path(str(resources.files("engine.appdef").joinpath(SCHEMA_FILE)))
    target.write_text(published_text(), encoding="utf-8")
    return target
