"""The `reports:` section: report views that compile to one SQL query each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
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
from engine.expr import Expression

CHARTS = ("table", "bar", "stacked_bar", "line", "pie")


@dataclass(frozen=True)
class Buckets:
    """Rows grouped by how many days have passed since `days_past`, cut at `edges`."""

    days_past: str
    edges: tuple[Decimal, ...]


@dataclass(frozen=True)
class Report:
    name: str
    entity: str  # qualified
    measure: Expression
    location: Location
    where: Expression | None = None
    group_by: tuple[str, ...] = ()
    buckets: Buckets | None = None
    chart: str = "table"
    title: str = ""


REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "measure"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string"},
        "entity": {"type": "string", "description": "the entity reported on"},
        "where": {"$ref": "#/$defs/expression", "description": "only the records it is true of"},
        "group_by": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ],
            "description": "a field, or several",
        },
        "buckets": {
            "type": "object",
            "required": ["days_past", "edges"],
            "additionalProperties": False,
            "properties": {
                "days_past": {"type": "string", "description": "a date field"},
                "edges": {"type": "array", "items": {"type": "number"}, "minItems": 1},
            },
        },
        "measure": {"$ref": "#/$defs/expression", "description": "e.g. sum(open_amount)"},
        "chart": {"enum": list(CHARTS)},
    },
}


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Mapping[str, Report]:
    reports = {}
    for name, spec in raw.items():
        path: Path = ("reports", name)
        rctx = ctx.within(f"report `{name}`")
        entity = rctx.entity((*path, "entity", "="), spec["entity"])
        if entity is None:
            continue
        group = spec.get("group_by", ())
        group_by = (group,) if isinstance(group, str) else tuple(group)
        listed = isinstance(group, list)
        gctx = rctx.within("group_by")
        ok = all(
            [
                gctx.field((*path, "group_by", *((i,) if listed else ("=",))), entity, g)
                is not None
                for i, g in enumerate(group_by)
            ]
        )
        buckets = None
        if "buckets" in spec:
            bctx = rctx.within("buckets")
            dpath = (*path, "buckets", "days_past", "=")
            date = bctx.field(dpath, entity, spec["buckets"]["days_past"])
            if date is not None and not date.value_type.is_date:
                bctx.fail(dpath, f"'{date.name}' is not a date field")
                date = None
            ok &= date is not None
            edges = tuple(Decimal(str(e)) for e in spec["buckets"]["edges"])
            if list(edges) != sorted(set(edges)):
                bctx.fail((*path, "buckets", "edges"), "edges must rise, each once")
                ok = False
            buckets = Buckets(spec["buckets"]["days_past"], edges)
        where = None
        if "where" in spec:
            where = rctx.within("where").expression((*path, "where", "="), spec["where"], entity)
            ok &= where is not None
        measure = rctx.within("measure").expression(
            (*path, "measure", "="), spec["measure"], entity
        )
        if ok and measure is not None:
            reports[name] = Report(
                name, entity.qualname, measure, ctx.locate(path), where, group_by, buckets,
                spec.get("chart", "table"),
                spec.get("title") or name.replace("_", " ").capitalize(),
            )  # fmt: skip
    return frozen_map(reports)


REPORTS = register_section(
    SectionKind(
        key="reports",
        description="Report views: grouped, bucketed measures over one entity.",
        schema=named_map("report"),
        defs={"report": REPORT_SCHEMA},
        build=build,
        crumbs=named_crumbs("report"),
    )
)
