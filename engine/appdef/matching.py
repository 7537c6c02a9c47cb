"""The `matching:` section: rules that pair source records (bank lines) with targets (invoices).

A rule is data the engine interprets: where to find a reference (`find`), when a candidate
is acceptable (`accept`, an expression over `source` and `target`) and what to do with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import patterns
from engine.appdef.model import Entity
from engine.appdef.sections import SectionContext, SectionKind, register_section
from engine.appdef.yamlsource import Path
from engine.errors import Location
from engine.expr import Expression

THEN = ("auto", "suggest")


@dataclass(frozen=True)
class Find:
    """Look for `pattern` in the source's `in` field; the text found equals target's `equals`."""

    pattern: str | None
    in_field: str
    equals: str


@dataclass(frozen=True)
class MatchRule:
    name: str
    location: Location
    then: str  # auto | suggest
    find: Find | None = None
    accept: Expression | None = None


@dataclass(frozen=True)
class Matching:
    source: str  # qualified entity names
    target: str
    rules: tuple[MatchRule, ...]
    location: Location


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["source", "target", "rules"],
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "description": "the entity matched from, e.g. bank_line"},
        "target": {"type": "string", "description": "the entity matched to, e.g. invoice"},
        "rules": {
            "type": "array",
            "minItems": 1,
            "description": "tried in order; the first rule that accepts a candidate wins",
            "items": {"$ref": "#/$defs/match_rule"},
        },
    },
}

RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "then"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "find": {
            "type": "object",
            "required": ["in", "equals"],
            "additionalProperties": False,
            "properties": {
                "pattern": {"type": "string", "description": "a regular expression"},
                "in": {"type": "string", "description": "the source field searched"},
                "equals": {"type": "string", "description": "the target field it must equal"},
            },
        },
        "accept": {
            "$ref": "#/$defs/expression",
            "description": "true when a candidate is acceptable; reads source.* and target.*",
        },
        "then": {"enum": list(THEN)},
    },
}


def crumbs(data: Any, path: Path) -> tuple[str, ...]:
    if len(path) > 2 and path[1] == "rules" and isinstance(path[2], int):
        try:
            return (f"rule `{data['matching']['rules'][path[2]]['name']}`",)
        except (KeyError, IndexError, TypeError):
            return (f"rule #{path[2] + 1}",)
    return ()


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Matching | None:
    source = ctx.entity(("matching", "source", "="), raw["source"])
    target = ctx.entity(("matching", "target", "="), raw["target"])
    if source is None or target is None:
        return None
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(raw["rules"]):
        path: Path = ("matching", "rules", i)
        rule_ctx = ctx.within(f"rule `{spec['name']}`")
        if spec["name"] in seen:
            rule_ctx.fail((*path, "name", "="), "another rule has this name")
        seen.add(spec["name"])
        built = build_rule(rule_ctx, path, spec, source, target)
        if built is not None:
            rules.append(built)
    return Matching(source.qualname, target.qualname, tuple(rules), ctx.locate(("matching",)))


def build_rule(
    ctx: SectionContext, path: Path, spec: Mapping[str, Any], source: Entity, target: Entity
) -> MatchRule | None:
    ok = True
    find = None
    if "find" in spec:
        fctx, fpath = ctx.within("find"), (*path, "find")
        raw = spec["find"]
        ok &= fctx.field((*fpath, "in", "="), source, raw["in"]) is not None
        ok &= fctx.field((*fpath, "equals", "="), target, raw["equals"]) is not None
        if "pattern" in raw:
            try:
                patterns.check(raw["pattern"])
            except patterns.PatternError as exc:
                fctx.fail((*fpath, "pattern", "="), str(exc))
                ok = False
        find = Find(raw.get("pattern"), raw["in"], raw["equals"])
    accept = None
    if "accept" in spec:
        accept = ctx.within("accept").expression(
            (*path, "accept", "="), spec["accept"], {"source": source, "target": target}
        )
        ok &= accept is not None
    if not ok:
        return None
    return MatchRule(spec["name"], ctx.locate(path), spec["then"], find, accept)


MATCHING = register_section(
    SectionKind(
        key="matching",
        description="Matching rules: which source records pay which targets.",
        schema={"$ref": "#/$defs/matching"},
        defs={"matching": SCHEMA, "match_rule": RULE_SCHEMA},
        build=build,
        crumbs=crumbs,
    )
)
