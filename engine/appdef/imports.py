"""The `imports:` section: named import profiles (a bank statement format into an entity)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.appdef.model import frozen_map
from engine.appdef.sections import (
    SectionContext,
    SectionKind,
    named_crumbs,
    named_map,
    register_section,
)
from engine.appdef.yamlsource import Path
from engine.errors import Location

FORMATS = ("csv", "xlsx", "mt940", "camt053", "ofx")


@dataclass(frozen=True)
class ImportProfile:
    name: str
    entity: str  # qualified
    format: str
    location: Location
    columns: Mapping[str, str]  # field -> the file's column (header) it is read from
    key: tuple[str, ...] = ()  # fields that identify a row: a second import adds nothing
    encoding: str | None = None  # None: detected
    delimiter: str | None = None
    skip_rows: int = 0


PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "format"],
    "additionalProperties": False,
    "properties": {
        "entity": {"type": "string", "description": "the entity the rows become"},
        "format": {"enum": list(FORMATS)},
        "columns": {
            "type": "object",
            "description": "field: the file's column it is read from",
            "propertyNames": {"$ref": "#/$defs/identifier"},
            "additionalProperties": {"type": "string"},
        },
        "key": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "fields identifying a row, so that a re-import adds nothing",
        },
        "encoding": {"type": "string", "description": "e.g. utf-8, gb18030, cp1252"},
        "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
        "skip_rows": {"type": "integer", "minimum": 0},
    },
}


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Mapping[str, ImportProfile]:
    profiles = {}
    for name, spec in raw.items():
        path: Path = ("imports", name)
        pctx = ctx.within(f"import `{name}`")
        entity = pctx.entity((*path, "entity", "="), spec["entity"])
        if entity is None:
            continue
        columns = spec.get("columns", {})
        ok = all(
            [pctx.field((*path, "columns", f), entity, f) is not None for f in columns]
            + [
                pctx.field((*path, "key", i), entity, f) is not None
                for i, f in enumerate(spec.get("key", ()))
            ]
        )
        if ok:
            profiles[name] = ImportProfile(
                name, entity.qualname, spec["format"], ctx.locate(path),
                frozen_map(columns), tuple(spec.get("key", ())), spec.get("encoding"),
                spec.get("delimiter"), spec.get("skip_rows", 0),
            )  # fmt: skip
    return frozen_map(profiles)


IMPORTS = register_section(
    SectionKind(
        key="imports",
        description="Import profiles: how a statement or spreadsheet becomes records.",
        schema=named_map("import_profile"),
        defs={"import_profile": PROFILE_SCHEMA},
        build=build,
        crumbs=named_crumbs("import"),
    )
)
