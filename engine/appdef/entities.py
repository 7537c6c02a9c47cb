"""The `entities:` section: tables, with their fields, checks, list settings and forms."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from engine.appdef.fields import build_field
from engine.appdef.model import (
    ACTIONS,
    DEFAULT_PERMISSIONS,
    SYSTEM_COLUMNS,
    Check,
    Entity,
    Field,
    Section,
    frozen_map,
)
from engine.appdef.sections import (
    SectionContext,
    SectionKind,
    did_you_mean,
    label_of,
    named_map,
    register_section,
    text,
)
from engine.appdef.yamlsource import Path
from engine.i18n import Text

ENTITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["fields"],
    "additionalProperties": False,
    "properties": {
        "label": {"$ref": "#/$defs/text"},
        "plural": {"$ref": "#/$defs/text"},
        "description": {"$ref": "#/$defs/text"},
        "display": {
            "type": "string",
            "description": "Template showing a record, e.g. '{number} ({customer})'",
        },
        "fields": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"$ref": "#/$defs/identifier"},
            "additionalProperties": {"$ref": "#/$defs/field"},
        },
        "checks": {"type": "array", "items": {"$ref": "#/$defs/check"}},
        "list": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "sort": {"type": "string", "description": "a field, '-field' for descending"},
                "filters": {"type": "array", "items": {"type": "string"}},
                "page_size": {"type": "integer", "minimum": 5, "maximum": 500},
            },
        },
        "search": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Fields searched by the list's search box",
        },
        "sections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title", "fields"],
                "additionalProperties": False,
                "properties": {
                    "title": {"$ref": "#/$defs/text"},
                    "fields": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
        },
        "permissions": {"$ref": "#/$defs/permissions"},
        "indexes": {
            "type": "array",
            "description": "Extra indexes over several fields, e.g. [[status, due_date]] for a "
            "list filtered by status and sorted by due date",
            "items": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "uniqueItems": True,
            },
        },
    },
}

CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["when", "message"],
    "additionalProperties": False,
    "properties": {
        "when": {
            "$ref": "#/$defs/expression",
            "description": "The record is refused when this is true",
        },
        "message": {"$ref": "#/$defs/text"},
        "field": {"type": "string", "description": "The field the message is shown beside"},
    },
}


def build_entities(ctx: SectionContext, raw: Mapping[str, Any]) -> Mapping[str, Entity]:
    return frozen_map({name: build_entity(ctx, name, spec) for name, spec in raw.items()})


def build_entity(ctx: SectionContext, name: str, raw: Mapping[str, Any]) -> Entity:
    builder, src, app = ctx.builder, ctx.source, ctx.app
    base: Path = ("entities", name)
    fields: dict[str, Field] = {}
    for fname, fraw in raw["fields"].items():
        if (*base, "fields", fname) in src.dropped:  # its schema error is reported already
            builder.broken.add(f"{app}.{name}.{fname}")
            continue
        if fname in SYSTEM_COLUMNS:
            ctx.fail(
                (*base, "fields", fname),
                f"'{fname}' is a name Formwork uses itself ({', '.join(SYSTEM_COLUMNS)})",
            )
            continue
        built = build_field(ctx, (*base, "fields", fname), fname, fraw)
        if built is not None:
            fields[fname] = built
        else:  # reported once; expressions naming it are not reported again
            builder.broken.add(f"{app}.{name}.{fname}")
    all_names = [*fields, "id"]
    known = set(raw["fields"]) | {"id"}

    def known_field(path: Path, fname: str, what: str) -> bool:
        if fname in known:
            return True
        ctx.fail(path, f"{what} '{fname}' is not a field of {name}{did_you_mean(fname, all_names)}")
        return False

    for fname, f in fields.items():
        if f.currency_field and known_field(
            (*base, "fields", fname, "currency", "="), f.currency_field, "currency field"
        ):
            named = fields.get(f.currency_field)
            if named is not None and not named.value_type.holds_currency:
                ctx.fail(
                    (*base, "fields", fname, "currency", "="),
                    f"currency field '{f.currency_field}' is not a currency field",
                )

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
        listed = known_field((*base, "search", i), col, "search field") and col in fields
        if listed and not fields[col].value_type.text_like:
            ctx.fail((*base, "search", i), f"search field '{col}' is not a text field")
    indexes = []
    for i, cols in enumerate(raw.get("indexes", ())):
        found = [
            known_field((*base, "indexes", i, j), col, "index field") for j, col in enumerate(cols)
        ]
        if all(found):
            indexes.append(tuple(cols))
    sections = []
    for i, sec in enumerate(raw.get("sections", ())):
        for j, col in enumerate(sec["fields"]):
            known_field((*base, "sections", i, "fields", j), col, "section field")
        sections.append(Section(text(sec["title"]), tuple(sec["fields"])))
    checks = []
    for i, chk in enumerate(raw.get("checks", ())):
        when = builder.expression(src, (*base, "checks", i, "when", "="), chk["when"])
        if chk.get("field"):
            known_field((*base, "checks", i, "field", "="), chk["field"], "check field")
        if when is not None:
            checks.append(
                Check(
                    when,
                    text(chk["message"]),
                    chk.get("field"),
                    src.locate((*base, "checks", i, "when", "=")),
                )
            )
    display = raw.get("display") or default_display(fields)
    for _, placeholder, _, _ in (
        string.Formatter().parse(display)
        if template_ok(ctx, (*base, "display", "="), display)
        else ()
    ):
        if placeholder is not None:
            known_field((*base, "display", "="), placeholder.split(".")[0], "display placeholder")
    permissions = dict(DEFAULT_PERMISSIONS)
    for level in (builder.by_app[app].data.get("permissions", {}), raw.get("permissions", {})):
        for action in ACTIONS:
            if action in level:
                permissions[action] = frozenset(level[action])
    label = label_of(raw, name)
    return Entity(
        app=app, name=name, location=src.locate(base), label=label,
        plural=text(raw["plural"], _plural(label)) if "plural" in raw else _plural_of(label),
        display=display,
        fields=frozen_map(fields), checks=tuple(checks),
        list_columns=columns or tuple(list(fields)[:6]), list_filters=filters,
        default_sort=default_sort, page_size=list_raw.get("page_size", 50), search=search,
        indexes=tuple(indexes),
        sections=tuple(sections), permissions=frozen_map(permissions),
        description=text(raw.get("description")),
    )  # fmt: skip


def template_ok(ctx: SectionContext, path: Path, template: str) -> bool:
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        ctx.fail(path, f"bad display template: {exc}")
        return False
    return True


def default_display(fields: Mapping[str, Field]) -> str:
    for candidate in ("name", "number", "title", "code"):
        if candidate in fields:
            return "{" + candidate + "}"
    names = [f for f in fields.values() if f.type.names_a_record]
    return "{" + names[0].name + "}" if names else "#{id}"


def _plural_of(label: Text) -> Text:
    """The English label made plural; other languages' labels stand as they are (发票)."""
    if not label.by_language:
        return Text(_plural(label))
    return Text(
        {k: _plural(v) if k.split("_")[0] == "en" else v for k, v in label.by_language.items()}
    )


def _plural(label: str) -> str:
    if label.endswith("y") and label[-2:-1] not in "aeiou":
        return label[:-1] + "ies"
    if label.endswith(("s", "x", "ch", "sh")):
        return label + "es"
    return label + "s"


ENTITIES = register_section(
    SectionKind(
        key="entities",
        description="The app's records: tables, forms, lists and API.",
        schema=named_map("entity", minProperties=1),
        defs=frozen_map({"entity": ENTITY_SCHEMA, "check": CHECK_SCHEMA}),
        build=build_entities,
        first=True,
    )
)
