"""The `matching:` section: rules that pair source records (bank lines) with targets (invoices).

A rule is data the engine interprets (engine.rules runs it): how the customer must be
recognised, which references must name the invoice, how far the amount may differ and
what happens to a difference, whether one payment may settle several invoices or part of
one, and whether a match is applied (`auto`) or proposed (`suggest`). `differences:`
classify what is left unmatched. Everything is checked here, when the app loads, with
errors that say which rule they are in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine import i18n, patterns
from engine.appdef.matching_schema import DEFS, DIFFERENCE_CLASSES, THEN
from engine.appdef.model import Entity, frozen_map
from engine.appdef.sections import SectionContext, SectionKind, register_section, text
from engine.appdef.yamlsource import Path
from engine.errors import Location
from engine.expr import Expression
from engine.rules.references import Extractor

__all__ = ["THEN", "CustomerFinding", "Find", "MatchRule", "Matching"]

# The names a `differences:` condition reads besides source.* and target.*.
DIFFERENCE_NAMES = frozenset(
    {"paid", "expected", "difference", "already_paid", "other_customer", "customer_found"}
)
DEFAULT_SEARCH = ("memo", "reference")


@dataclass(frozen=True)
class Find:
    """Look for `pattern` in the source's `in` field; the text found equals target's `equals`."""

    pattern: str | None
    in_field: str
    equals: str


@dataclass(frozen=True)
class Reference:
    """A named way of reading a reference: where to look, how, and which target field it names."""

    name: str
    extractor: Extractor
    target_field: str
    in_fields: tuple[str, ...]


@dataclass(frozen=True)
class Mapping_:
    """A pattern in the source's text that names one customer (a parent paying for others)."""

    pattern: str
    in_fields: tuple[str, ...]
    customer: str


@dataclass(frozen=True)
class CustomerFinding:
    entity: str  # qualified name of the customer entity
    target_field: str  # the target's ref to it
    name: str
    aliases: str | None
    iban: str | None
    counterparty: str | None
    counterparty_iban: str | None
    fuzzy_threshold: Decimal
    mappings: tuple[Mapping_, ...] = ()


@dataclass(frozen=True)
class Tolerance:
    """How far a payment may differ from what is open: an amount, a percentage, or both
    (the larger allowance holds); nothing means exactly."""

    absolute: Decimal = Decimal(0)
    percent: Decimal = Decimal(0)

    def allowance(self, expected: Decimal) -> Decimal:
        return max(self.absolute, abs(expected) * self.percent / 100)

    def describe(self) -> str:
        if self.percent:
            return f"{self.percent.normalize():f} %"
        return f"{self.absolute:f}"


EXACT = Tolerance()


@dataclass(frozen=True)
class MatchRule:
    name: str  # the key an allocation or suggestion keeps; `label` is what people read
    location: Location
    then: str  # auto | suggest
    find: Find | None = None
    accept: Expression | None = None
    when: Expression | None = None
    customer: tuple[str, ...] = ()  # ways the customer may be recognised; () = not needed
    references: tuple[Reference, ...] = ()
    typos: int = 0
    under: Tolerance = EXACT
    over: Tolerance = EXACT
    write_off: bool = False  # an under-payment within tolerance is written off
    reason: str = "small_difference"
    several: bool = False
    partial: str | None = None  # referenced | oldest
    label: str = ""  # an i18n.Text from the YAML; "" shows the name


@dataclass(frozen=True)
class DifferenceRule:
    name: str
    location: Location
    klass: str  # technical_error | process_gap | dispute
    when: Expression
    reason: i18n.Text


@dataclass(frozen=True)
class Matching:
    source: str  # qualified entity names
    target: str
    rules: tuple[MatchRule, ...]
    location: Location
    customers: CustomerFinding | None = None
    references: Mapping[str, Reference] = field(default_factory=frozen_map)
    differences: tuple[DifferenceRule, ...] = ()
    credit_notes: str | None = None
    version: str = ""  # a hash of the section as written: which rules made an allocation

    def rule_label(self, name: str) -> str:
        """What people read for the rule an allocation or suggestion names: its `label:` in
        their language, or the name itself (a rule since renamed or removed keeps its name)."""
        for rule in self.rules:
            if rule.name == name:
                return rule.label or name
        return name


def crumbs(data: Any, path: Path) -> tuple[str, ...]:
    if len(path) > 2 and path[1] in ("rules", "differences") and isinstance(path[2], int):
        noun = "rule" if path[1] == "rules" else "difference"
        try:
            return (f"{noun} `{data['matching'][path[1]][path[2]]['name']}`",)
        except (KeyError, IndexError, TypeError):
            return (f"{noun} #{path[2] + 1}",)
    if len(path) > 2 and path[1] == "references":
        return (f"reference `{path[2]}`",)
    return ()


def version_of(raw: Mapping[str, Any]) -> str:
    """The rules' version: a relabelled rule decides as before, so labels do not count."""
    rules = [
        {k: v for k, v in rule.items() if k != "label"} if isinstance(rule, Mapping) else rule
        for rule in raw.get("rules") or ()
    ]
    text_ = json.dumps({**raw, "rules": rules}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text_.encode()).hexdigest()[:12]


def fields_of(raw: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None:
        return default
    return (raw,) if isinstance(raw, str) else tuple(raw)


def build(ctx: SectionContext, raw: Mapping[str, Any]) -> Matching | None:
    source = ctx.entity(("matching", "source", "="), raw["source"])
    target = ctx.entity(("matching", "target", "="), raw["target"])
    if source is None or target is None:
        return None
    ok = _needs(ctx, source, target)
    customers = None
    if "customers" in raw or any(_needs_customer(r) for r in raw["rules"]):
        customers = build_customers(
            ctx.within("customers"), raw.get("customers") or {}, target, source
        )
        ok &= customers is not None
    references: dict[str, Reference] = {}
    for name, spec in (raw.get("references") or {}).items():
        built = build_reference(ctx.within(f"reference `{name}`"), name, spec, source, target)
        if built is None:
            ok = False
        else:
            references[name] = built
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(raw["rules"]):
        path: Path = ("matching", "rules", i)
        rule_ctx = ctx.within(f"rule `{spec['name']}`")
        if spec["name"] in seen:
            rule_ctx.fail((*path, "name", "="), "another rule has this name")
        seen.add(spec["name"])
        rule = build_rule(rule_ctx, path, spec, source, target, references)
        if rule is not None:
            rules.append(rule)
    differences = []
    for i, spec in enumerate(raw.get("differences") or ()):
        built_d = build_difference(
            ctx.within(f"difference `{spec['name']}`"), i, spec, source, target
        )
        if built_d is not None:
            differences.append(built_d)
    credit_notes = None
    if "credit_notes" in raw:
        notes = ctx.entity(("matching", "credit_notes", "="), raw["credit_notes"])
        ok &= notes is not None
        credit_notes = notes.qualname if notes is not None else None
    if not ok:
        return None
    return Matching(
        source.qualname,
        target.qualname,
        tuple(rules),
        ctx.locate(("matching",)),
        customers,
        frozen_map(references),
        tuple(differences),
        credit_notes,
        version_of(raw),
    )


def _needs_customer(rule: Mapping[str, Any]) -> bool:
    return "customer" in rule or rule.get("several") or rule.get("partial") == "oldest"


def _needs(ctx: SectionContext, source: Entity, target: Entity) -> bool:
    """The fields every run reads: what the source pays, what the target has open."""
    ok = True
    if "amount" not in source.fields:
        ctx.fail(("matching", "source", "="), f"{source.name} has no field 'amount' to allocate")
        ok = False
    if "open_amount" not in target.fields and "amount" not in target.fields:
        ctx.fail(("matching", "target", "="), f"{target.name} has no field 'open_amount'")
        ok = False
    return ok


def build_customers(
    ctx: SectionContext, raw: Mapping[str, Any], target: Entity, source: Entity
) -> CustomerFinding | None:
    path: Path = ("matching", "customers")
    entity_name = raw.get("entity", "customer")
    ref_field = next(
        (
            f
            for f in target.fields.values()
            if f.ref and f.ref.split(".")[-1] == str(entity_name).split(".")[-1]
        ),
        None,
    )
    if ref_field is None or ref_field.ref is None:
        ctx.fail((*path, "entity", "="), f"{target.name} has no ref to '{entity_name}'")
        return None
    assert ctx.appset is not None
    customer = ctx.appset.entity(ref_field.ref)
    ok = True

    def optional(entity: Entity, key: str, default: str) -> str | None:
        nonlocal ok
        name = raw.get(key, default)
        if name in entity.fields:
            return str(name)
        if key in raw:
            ok &= ctx.field((*path, key, "="), entity, name) is not None
        return None

    name = optional(customer, "name", "name")
    if name is None:
        ctx.fail((*path, "name", "="), f"{customer.name} has no field 'name'")
        return None
    mappings = []
    for i, spec in enumerate(raw.get("mappings") or ()):
        mpath: Path = (*path, "mappings", i)
        ok &= _pattern(ctx, (*mpath, "pattern", "="), spec["pattern"])
        in_fields = fields_of(spec.get("in"), ("counterparty", "memo"))
        for f in in_fields:
            ok &= ctx.field((*mpath, "in", "="), source, f) is not None
        mappings.append(Mapping_(spec["pattern"], in_fields, str(spec["customer"])))
    found = CustomerFinding(
        entity=customer.qualname,
        target_field=ref_field.name,
        name=name,
        aliases=optional(customer, "aliases", "aliases"),
        iban=optional(customer, "iban", "iban"),
        counterparty=optional(source, "counterparty", "counterparty"),
        counterparty_iban=optional(source, "counterparty_iban", "counterparty_iban"),
        fuzzy_threshold=Decimal(str(raw.get("fuzzy_threshold", 88))),
        mappings=tuple(mappings),
    )
    return found if ok else None


def _pattern(ctx: SectionContext, path: Path, pattern: str) -> bool:
    try:
        patterns.check(pattern)
    except patterns.PatternError as exc:
        ctx.fail(path, str(exc))
        return False
    return True


def build_reference(
    ctx: SectionContext, name: str, raw: Mapping[str, Any], source: Entity, target: Entity
) -> Reference | None:
    path: Path = ("matching", "references", name)
    kind = raw.get("kind", "pattern")
    ok = ctx.field((*path, "target", "="), target, raw["target"]) is not None
    in_fields = fields_of(raw.get("in"), DEFAULT_SEARCH)
    for f in in_fields:
        ok &= ctx.field((*path, "in", "="), source, f) is not None
    if kind == "pattern" and "pattern" not in raw:
        ctx.fail(path, "a reference of kind pattern needs a `pattern`")
        ok = False
    if "pattern" in raw:
        ok &= _pattern(ctx, (*path, "pattern", "="), raw["pattern"])
    if not ok:
        return None
    return Reference(name, Extractor(kind, raw.get("pattern")), raw["target"], in_fields)


def tolerance(raw: Any) -> Tolerance:
    """`0.50` -> an amount; `'1%'` -> a percentage (the schema checked the form)."""
    written = str(raw).strip()
    if written.endswith("%"):
        return Tolerance(percent=Decimal(written[:-1].strip()))
    return Tolerance(absolute=Decimal(written))


def build_rule(
    ctx: SectionContext,
    path: Path,
    spec: Mapping[str, Any],
    source: Entity,
    target: Entity,
    references: Mapping[str, Reference],
) -> MatchRule | None:
    ok = True
    find = None
    if "find" in spec:
        fctx, fpath = ctx.within("find"), (*path, "find")
        raw = spec["find"]
        ok &= fctx.field((*fpath, "in", "="), source, raw["in"]) is not None
        ok &= fctx.field((*fpath, "equals", "="), target, raw["equals"]) is not None
        if "pattern" in raw:
            ok &= _pattern(fctx, (*fpath, "pattern", "="), raw["pattern"])
        find = Find(raw.get("pattern"), raw["in"], raw["equals"])
    refs: list[Reference] = []
    in_override = fields_of(spec["in"], ()) if "in" in spec else None
    for f in in_override or ():
        ok &= ctx.field((*path, "in", "="), source, f) is not None
    for i, name in enumerate(spec.get("reference") or ()):
        known = references.get(name)
        if known is None:
            hint = f"; the references are: {', '.join(references)}" if references else ""
            ctx.fail((*path, "reference", i, "="), f"no reference named '{name}'{hint}")
            ok = False
            continue
        refs.append(
            Reference(
                known.name, known.extractor, known.target_field, in_override or known.in_fields
            )
        )
    if find is not None:
        kind = "pattern" if find.pattern else "whole"
        refs.append(Reference("find", Extractor(kind, find.pattern), find.equals, (find.in_field,)))
    if not refs and "customer" not in spec and find is None:
        ctx.fail(path, "a rule needs a `reference`, a `customer` or a `find` to find candidates")
        ok = False
    if spec.get("partial") == "referenced" and not refs:
        ctx.fail((*path, "partial", "="), "`partial: referenced` needs a `reference`")
        ok = False
    if spec.get("difference") == "write_off" and "reason" not in spec:
        ctx.fail((*path, "difference", "="), "a write-off needs a `reason`")
        ok = False
    accept = when = None
    if "accept" in spec:
        accept = ctx.within("accept").expression(
            (*path, "accept", "="), spec["accept"], {"source": source, "target": target}
        )
        ok &= accept is not None
    if "when" in spec:
        when = ctx.within("when").expression((*path, "when", "="), spec["when"], {"source": source})
        ok &= when is not None
    amount = spec.get("amount", "exact")
    under = tolerance(amount.get("under", 0)) if isinstance(amount, Mapping) else EXACT
    over = tolerance(amount.get("over", 0)) if isinstance(amount, Mapping) else EXACT
    if not ok:
        return None
    return MatchRule(
        name=spec["name"],
        location=ctx.locate(path),
        then=spec["then"],
        find=find,
        accept=accept,
        when=when,
        customer=tuple(spec.get("customer") or ()),
        references=tuple(refs),
        typos=int(spec.get("typos", 0)),
        under=under,
        over=over,
        write_off=spec.get("difference") == "write_off",
        reason=spec.get("reason", "small_difference"),
        several=bool(spec.get("several", False)),
        partial=spec.get("partial"),
        label=text(spec.get("label"), spec["name"]),
    )


def build_difference(
    ctx: SectionContext, i: int, spec: Mapping[str, Any], source: Entity, target: Entity
) -> DifferenceRule | None:
    path: Path = ("matching", "differences", i)
    when = ctx.within("when").expression((*path, "when", "="), spec["when"], None)
    if when is None:
        return None
    assert ctx.appset is not None
    from engine.appdef.paths import resolve_path

    scope = {"source": source, "target": target}
    for chain in sorted(when.paths):
        if chain[0] in scope and len(chain) > 1:
            problem = resolve_path(ctx.appset, scope[chain[0]], chain[1:])
        elif chain[0] in DIFFERENCE_NAMES and len(chain) == 1:
            problem = None
        else:
            names = ", ".join(sorted({*DIFFERENCE_NAMES, "source.*", "target.*"}))
            problem = f"'{'.'.join(chain)}' is not one of {names}"
        if problem:
            ctx.within("when").fail((*path, "when", "="), f"in {when.source!r}: {problem}")
            return None
    assert spec["class"] in DIFFERENCE_CLASSES
    return DifferenceRule(
        spec["name"], ctx.locate(path), spec["class"], when, text(spec.get("reason"), spec["name"])
    )


MATCHING = register_section(
    SectionKind(
        key="matching",
        description="Matching rules: which source records pay which targets.",
        schema={"$ref": "#/$defs/matching"},
        defs=DEFS,
        build=build,
        crumbs=crumbs,
    )
)
