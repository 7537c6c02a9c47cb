"""A field definition, built key by key: each key of the YAML mapping has a small function.

As jsonschema's keywords do, each function takes the draft and the key's value and yields
the problems it finds, each with the path of the key it concerns. Which keys a type accepts
and which it needs is the field type's own business (`FieldType.options`, `.needs`), and the
published JSON Schema already refuses the rest; these functions check what a schema cannot.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine import patterns
from engine.appdef.model import Field, frozen_map
from engine.appdef.sections import SectionContext, did_you_mean, label_of, text
from engine.appdef.yamlsource import Path
from engine.expr import ExpressionError, compile_expression
from engine.fieldtypes import FIELD_TYPES, FieldType

Problem = tuple[Path, str]  # the key's path inside the field, and what is wrong


@dataclass
class FieldDraft:
    """A field while it is built: the Field arguments gathered so far."""

    ctx: SectionContext
    path: Path
    name: str
    raw: Mapping[str, Any]
    type: FieldType
    attrs: dict[str, Any] = field(default_factory=dict)
    broken: bool = False


Keyword = Callable[[FieldDraft, Any], Iterator[Problem]]


def _copy(attr: str, convert: Callable[[Any], Any] = lambda v: v) -> Keyword:
    def keyword(draft: FieldDraft, value: Any) -> Iterator[Problem]:
        draft.attrs[attr] = convert(value)
        yield from ()

    return keyword


def _options(draft: FieldDraft, value: Any) -> Iterator[Problem]:
    """`[open, in_progress]`, `[{value: in_progress, label: ...}]` or `{in_progress: label}`:
    the values, and the labels people see (by default the value made readable)."""
    result = FIELD_TYPES.get(draft.raw.get("result", ""))
    if draft.type.derived and (result is None or "options" not in result.options):
        yield ("options",), "'options' applies only to choice fields"
        return
    if isinstance(value, Mapping):
        pairs = [(str(v), label) for v, label in value.items()]
    else:
        pairs = [(str(o["value"]), o.get("label")) if isinstance(o, Mapping) else (str(o), None)
                 for o in value]  # fmt: skip
    draft.attrs["options"] = tuple(v for v, _ in pairs)
    draft.attrs["option_labels"] = frozen_map(
        {v: text(label, v.replace("_", " ").capitalize()) for v, label in pairs}
    )


def _to(draft: FieldDraft, target: Any) -> Iterator[Problem]:
    builder, ctx = draft.ctx.builder, draft.ctx
    resolved = builder.resolve_ref(ctx.app, ctx.uses, target)
    if resolved is None:
        names = [*builder.entity_names.get(ctx.app, ())]
        names += [f"{u}.{e}" for u in ctx.uses for e in builder.entity_names.get(u, ())]
        why = ""
        if "." in target and target.partition(".")[0] not in (ctx.app, *ctx.uses):
            why = f" (app '{target.partition('.')[0]}' is not in this app's 'uses')"
        yield ("to", "="), f"ref to unknown entity '{target}'{why or did_you_mean(target, names)}"
        return
    draft.attrs["ref"] = resolved


def _expr(draft: FieldDraft, text: Any) -> Iterator[Problem]:
    expr = draft.ctx.builder.expression(draft.ctx.source, (*draft.path, "expr", "="), text)
    if expr is None:
        draft.broken = True
    elif expr.time_dependent and draft.raw.get("refresh") != "daily":
        yield (
            ("expr", "="),
            (
                "a computed field is stored, so it cannot use today() or days_until() "
                "unless it says `refresh: daily`; or use them in checks, automations or reports"
            ),
        )
    else:
        draft.attrs["expr"] = expr


def _pattern(draft: FieldDraft, pattern: Any) -> Iterator[Problem]:
    try:  # the regex engine that checks values, with its size bounds
        patterns.check(pattern)
    except patterns.PatternError as exc:
        yield ("pattern", "="), str(exc)
        return
    draft.attrs["pattern"] = pattern


# Keys read before the Field exists (`label` is read by label_of, `type` chose the type);
# order matters only for the order of the errors.
SHAPE_KEYWORDS: Mapping[str, Keyword] = {
    "help": _copy("help", text),
    "required": _copy("required", bool),
    "unique": _copy("unique", bool),
    "index": _copy("index", bool),
    "readonly": _copy("readonly", bool),
    "options": _options,
    "to": _to,
    "on_delete": _copy("on_delete"),
    "expr": _expr,
    "result": _copy("result"),
    "currency": _copy("currency_field"),
    "refresh": _copy("refresh"),
    "pattern": _pattern,
    "pattern_message": _copy("pattern_message"),
}

ValueKeyword = Callable[[FieldDraft, Field, Any], Iterator[Problem]]


def _bound(key: str) -> ValueKeyword:
    def keyword(draft: FieldDraft, built: Field, value: Any) -> Iterator[Problem]:
        vtype = built.value_type
        if vtype.length_bounds:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                yield (key, "="), f"'{key}' of a text field is a length (a whole number)"
                return
            draft.attrs[f"{key}_length"] = value
        elif vtype.takes_bounds:
            try:
                draft.attrs[key] = vtype.coerce(value, built)
            except ValueError as exc:
                yield (key, "="), f"'{key}' {exc}"
        else:
            yield (key,), f"'{key}' does not apply to {vtype.name} fields"

    return keyword


def _default(draft: FieldDraft, built: Field, raw: Any) -> Iterator[Problem]:
    """A literal default is coerced now; '= expr' (or, for non-text types, text that is
    not a literal of the type) is an expression evaluated when a record is created."""
    builder, src = draft.ctx.builder, draft.ctx.source
    path = (*draft.path, "default", "=")
    if isinstance(raw, str) and raw.startswith("="):
        expr = builder.expression(src, path, raw[1:])
        if expr:
            draft.attrs["default_expr"] = expr
        return
    try:
        value = built.type.coerce(raw, built)
        problem = built.type.validate(value, built)
    except ValueError as exc:
        if isinstance(raw, str) and not built.type.text_like:
            try:  # not a literal: an expression, unless it is not one either
                bare_name = isinstance(compile_expression(raw).tree.body, ast.Name)
            except ExpressionError:
                yield ("default", "="), f"default {raw!r} {exc}"
                return
            if bare_name:  # `default: abc` is more likely a bad literal than a field
                builder.not_literal[(src.file, path)] = f"default {raw!r} {exc}"
            expr = builder.expression(src, path, raw)
            if expr:
                draft.attrs["default_expr"] = expr
            return
        problem = str(exc)
    if problem:
        yield ("default", "="), f"default {raw!r} {problem}"
        return
    draft.attrs["default"] = value


# Keys read once the Field exists, because their values are read by its type.
VALUE_KEYWORDS: Mapping[str, ValueKeyword] = {
    "min": _bound("min"),
    "max": _bound("max"),
    "default": _default,
}


def build_field(ctx: SectionContext, path: Path, name: str, raw: Mapping[str, Any]) -> Field | None:
    """The Field, or None (with its errors reported) when it cannot be used at all."""
    ftype = FIELD_TYPES.get(raw["type"])
    if ftype is None:  # the schema's enum catches this; kept for definitions built from code
        ctx.fail((*path, "type", "="), f"'{raw['type']}' is not a field type")
        return None
    draft = FieldDraft(ctx, path, name, raw, ftype)
    errors = 0
    for problem_path, message in ftype.definition_problems(raw):
        ctx.fail((*path, *problem_path), message)
        errors += 1
    for key, value in raw.items():
        keyword = SHAPE_KEYWORDS.get(key)
        for subpath, message in keyword(draft, value) if keyword else ():
            ctx.fail((*path, *subpath), message)
            errors += 1
    if errors or draft.broken:
        return None
    draft.attrs["label"] = label_of(raw, name)  # `label:`, or the name made readable
    if ftype.derived:
        draft.attrs.setdefault("result", ftype.default_result)  # type: ignore[attr-defined]
    built = Field(name=name, type=ftype, location=ctx.locate(path), **draft.attrs)
    for key, value_keyword in VALUE_KEYWORDS.items():  # bounds first: the default must fit them
        if key in raw:
            draft.attrs = {}
            for subpath, message in value_keyword(draft, built, raw[key]):
                ctx.fail((*path, *subpath), message)
            built = replace(built, **draft.attrs)
    return built
