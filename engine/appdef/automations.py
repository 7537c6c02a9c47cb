"""The `automations:` section: a trigger (the clock or a record event) and actions to take."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.appdef.model import Entity, frozen_map
from engine.appdef.paths import resolve_path
from engine.appdef.sections import SectionContext, SectionKind, named_map, register_section
from engine.appdef.yamlsource import Path
from engine.errors import Location
from engine.expr import Expression

EVENTS = ("created", "updated", "deleted")


@dataclass(frozen=True)
class Trigger:
    entity: str  # qualified: the records the automation runs for
    daily_at: dt.time | None = None
    events: tuple[str, ...] = ()  # record events
    when: Expression | None = None


@dataclass(frozen=True)
class Action:
    """One step: `kind` names it (send_email, update, create), `args` are its options."""

    kind: str
    args: Mapping[str, Any]
    location: Location
    expressions: Mapping[str, Expression] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Automation:
    name: str
    trigger: Trigger
    actions: tuple[Action, ...]
    location: Location


_VALUES = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"$ref": "#/$defs/identifier"},
    "additionalProperties": {"$ref": "#/$defs/expression"},
}
ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "send_email": {
            "type": "object",
            "required": ["to", "template"],
            "additionalProperties": False,
            "properties": {
                "to": {"type": "string", "description": "a template, e.g. '{customer.email}'"},
                "template": {"$ref": "#/$defs/identifier"},
            },
        },
        "update": {**_VALUES, "description": "field: expression, on the record"},
        "create": {
            "type": "object",
            "required": ["entity", "values"],
            "additionalProperties": False,
            "properties": {"entity": {"type": "string"}, "values": _VALUES},
        },
    },
}
AUTOMATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["trigger", "do"],
    "additionalProperties": False,
    "properties": {
        "trigger": {
            "type": "object",
            "required": ["for_each"],
            "additionalProperties": False,
            "properties": {
                "for_each": {"type": "string", "description": "the entity it runs for"},
                "daily_at": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                "events": {"type": "array", "items": {"enum": list(EVENTS)}, "uniqueItems": True},
                "when": {"$ref": "#/$defs/expression"},
            },
        },
        "do": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/action"}},
    },
}


def crumbs(data: Any, path: Path) -> tuple[str, ...]:
    out: tuple[str, ...] = (f"automation `{path[1]}`",) if len(path) > 1 else ()
    if len(path) > 2:
        out += ("trigger",) if path[2] == "trigger" else ()
    if len(path) > 3 and path[2] == "do" and isinstance(path[3], int):
        out += (f"action #{path[3] + 1}",)
    return out


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Mapping[str, Automation]:
    built = {}
    for name, spec in raw.items():
        path: Path = ("automations", name)
        actx = ctx.within(f"automation `{name}`")
        trigger = build_trigger(actx.within("trigger"), (*path, "trigger"), spec["trigger"])
        if trigger is None:
            continue
        entity = ctx.appset.entity(trigger.entity) if ctx.appset else None
        actions = [
            build_action(actx.within(f"action #{i + 1}"), (*path, "do", i), step, entity)
            for i, step in enumerate(spec["do"])
        ]
        if all(a is not None for a in actions):
            built[name] = Automation(name, trigger, tuple(actions), ctx.locate(path))  # type: ignore[arg-type]
    return frozen_map(built)


def build_trigger(ctx: SectionContext, path: Path, raw: Mapping[str, Any]) -> Trigger | None:
    entity = ctx.entity((*path, "for_each", "="), raw["for_each"])
    if entity is None:
        return None
    when = None
    if "when" in raw:
        when = ctx.expression((*path, "when", "="), raw["when"], entity)
        if when is None:
            return None
    daily = dt.time.fromisoformat(raw["daily_at"]) if "daily_at" in raw else None
    if daily is None and not raw.get("events"):
        ctx.fail(path, "a trigger needs 'daily_at' or 'events'")
        return None
    return Trigger(entity.qualname, daily, tuple(raw.get("events", ())), when)


def build_action(
    ctx: SectionContext, path: Path, raw: Mapping[str, Any], entity: Entity | None
) -> Action | None:
    ((kind, args),) = raw.items()
    where = (*path, kind)
    assert entity is not None
    if kind == "send_email":
        ok = template_ok(ctx, (*where, "to", "="), args["to"], entity)
        return Action(kind, frozen_map(args), ctx.locate(where)) if ok else None
    target = entity
    values = args
    if kind == "create":
        found = ctx.entity((*where, "entity", "="), args["entity"])
        if found is None:
            return None
        target, values, where = found, args["values"], (*where, "values")
    exprs = {}
    for fname, text in values.items():
        if ctx.field((*where, fname), target, fname) is None:
            return None
        expr = ctx.within(fname).expression((*where, fname, "="), text, entity)
        if expr is None:
            return None
        exprs[fname] = expr
    return Action(kind, frozen_map(args), ctx.locate(path), frozen_map(exprs))


def template_ok(ctx: SectionContext, path: Path, template: str, entity: Entity) -> bool:
    assert ctx.appset is not None
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        ctx.fail(path, f"bad template: {exc}")
        return False
    for _, placeholder, _, _ in parts:
        if placeholder:
            problem = resolve_path(ctx.appset, entity, tuple(placeholder.split(".")))
            if problem:
                ctx.fail(path, f"in {template!r}: {problem}")
                return False
    return True


AUTOMATIONS = register_section(
    SectionKind(
        key="automations",
        description="Automations: on a schedule or a record event, for each record, do steps.",
        schema=named_map("automation"),
        defs={"automation": AUTOMATION_SCHEMA, "action": ACTION_SCHEMA},
        build=build,
        crumbs=crumbs,
    )
)
