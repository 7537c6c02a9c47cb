"""The `imports:` section: named import profiles (a bank statement format into an entity).

A profile says how a file becomes records: its format, and for CSV/XLSX which column
holds which field, how dates and amounts are written, which sign convention the bank
uses (one signed amount, separate credit and debit columns, or an amount with a
credit/debit indicator), the encoding, the lines before the header and after the
table, and what the file itself states (balances, totals, a count) to check against.
Reading and writing are engine.imports' job; this module only builds the definition.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

from engine import patterns
from engine.appdef.model import Entity, frozen_map
from engine.appdef.sections import (
    SectionContext,
    SectionKind,
    label_of,
    named_crumbs,
    named_map,
    register_section,
)
from engine.appdef.yamlsource import Path
from engine.errors import Location
from engine.i18n import Text

FORMATS = ("csv", "xlsx", "mt940", "camt053", "ofx")
TABULAR = ("csv", "xlsx")
DECIMAL_FORMATS = ("1234.56", "1,234.56", "1234,56", "1.234,56", "1 234,56", "1'234.56")
STATED = ("opening_balance", "closing_balance", "credits", "debits", "count")
# What a line entity needs: where a line's identity is remembered, and what it books.
REQUIRED_FIELDS = ("date", "amount", "import_key")
STATEMENT_FIELDS = ("import_key",)

Column = str | int  # a header, or a 1-based position


@dataclass(frozen=True)
class Indicator:
    """A column saying whether an unsigned amount is money in or out (借贷: 贷 Cr / 借 Dr)."""

    column: Column
    credit: tuple[str, ...]
    debit: tuple[str, ...]
    ignore: tuple[str, ...] = ()  # rows that move no money (支付宝 不计收支)


@dataclass(frozen=True)
class ImportProfile:
    name: str
    entity: str  # qualified
    format: str
    location: Location
    columns: Mapping[str, tuple[Column, ...]]  # field -> the column(s) it is read from
    key: tuple[str, ...] = ()  # fields that identify a row: a second import adds nothing
    encoding: str | None = None  # None: detected
    delimiter: str | None = None
    skip_lines: int = 0  # lines before the header (titles, account details)
    footer_lines: int = 0  # rows after the table (totals, a balance)
    header: bool = True
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    decimal_format: str = "1234.56"
    amount: Column | None = None
    credit: Column | None = None
    debit: Column | None = None
    indicator: Indicator | None = None
    currency: str | None = None  # when the file names none
    account: str | None = None
    stated: tuple[str, ...] = ()  # patterns whose named groups are what the file states
    statement_entity: str | None = None  # qualified; a record per statement imported
    strict: bool = False  # refuse a file whose balances do not add up
    sheet: str | None = None
    label: Text | str = ""  # a Text from the YAML

    @property
    def tabular(self) -> bool:
        return self.format in TABULAR


COLUMN: dict[str, Any] = {
    "oneOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 1}],
    "description": "a column by its header, or by its position (1 is the first)",
}

PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "format"],
    "additionalProperties": False,
    "properties": {
        "label": {"$ref": "#/$defs/text"},
        "entity": {"type": "string", "description": "the entity the rows become"},
        "format": {"enum": list(FORMATS)},
        "statements": {
            "type": "string",
            "description": "the entity that records each statement imported (balances, "
            "warnings, file); the line entity refers to it by its field `statement`",
        },
        "columns": {
            "type": "object",
            "description": "CSV/XLSX: field: the column it is read from (several are joined)",
            "propertyNames": {"$ref": "#/$defs/identifier"},
            "additionalProperties": {
                "oneOf": [COLUMN, {"type": "array", "items": COLUMN, "minItems": 1}]
            },
        },
        "amount": {**COLUMN, "description": "CSV/XLSX: the signed amount column"},
        "credit": {**COLUMN, "description": "CSV/XLSX: the column of money in"},
        "debit": {**COLUMN, "description": "CSV/XLSX: the column of money out"},
        "indicator": {
            "type": "object",
            "required": ["column", "credit", "debit"],
            "additionalProperties": False,
            "description": "CSV/XLSX: a column saying whether `amount` is money in or out",
            "properties": {
                "column": COLUMN,
                "credit": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "debit": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "ignore": {"type": "array", "items": {"type": "string"}},
            },
        },
        "key": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "fields identifying a row, so that a re-import adds nothing "
            "(default: the bank's reference, else date, amount, counterparty and memo)",
        },
        "encoding": {
            "type": "string",
            "description": "e.g. utf-8, utf-8-sig, gbk, gb18030, iso-8859-1, cp1252 "
            "(default: detected)",
        },
        "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
        "skip_lines": {"type": "integer", "minimum": 0, "description": "lines before the header"},
        "footer_lines": {"type": "integer", "minimum": 0, "description": "rows after the table"},
        "header": {"type": "boolean", "description": "false: no header line, columns by position"},
        "date_format": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ],
            "description": "strptime codes, e.g. '%d.%m.%Y' (default '%Y-%m-%d')",
        },
        "decimal_format": {
            "enum": list(DECIMAL_FORMATS),
            "description": "how the file writes one thousand two hundred and thirty-four and "
            "56 hundredths",
        },
        "currency": {"type": "string", "description": "the currency when the file names none"},
        "account": {"type": "string", "description": "our account when the file names none"},
        "stated": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": "CSV/XLSX: patterns searched in the lines before and after the "
            "table; their named groups (opening_balance, closing_balance, credits, debits, "
            "count) are what the file says, checked against its rows",
        },
        "strict": {
            "type": "boolean",
            "description": "refuse a file whose balances or totals do not add up "
            "(default: import it with a warning)",
        },
        "sheet": {"type": "string", "description": "XLSX: the sheet (default: the first)"},
    },
}


def _columns(value: Any) -> tuple[Column, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


def _check_required(
    ctx: SectionContext, path: Path, entity: Entity, needed: tuple[str, ...]
) -> bool:
    missing = [f for f in needed if f not in entity.fields]
    if missing:
        ctx.fail(path, f"{entity.name} needs the field(s) {', '.join(missing)} to import into")
    return not missing


def _check_tabular(ctx: SectionContext, path: Path, spec: Mapping[str, Any]) -> bool:
    keys = ("columns", "amount", "credit", "debit", "indicator", "skip_lines", "footer_lines",
            "header", "date_format", "decimal_format", "stated", "delimiter", "sheet")  # fmt: skip
    if spec["format"] not in TABULAR:
        wrong = [k for k in keys if k in spec]
        for k in wrong:
            ctx.fail((*path, k), f"only a csv or xlsx profile reads columns; {spec['format']} "
                     "files say what each value is")  # fmt: skip
        return not wrong
    ok = True
    if "date" not in spec.get("columns", {}):
        ctx.fail((*path, "columns"), "needs the column of `date`")
        ok = False
    if "amount" not in spec and "credit" not in spec and "debit" not in spec:
        ctx.fail(path, "needs `amount` (one signed column) or `credit` and `debit` columns")
        ok = False
    if "indicator" in spec and "amount" not in spec:
        ctx.fail((*path, "indicator"), "an indicator says the sign of `amount`: name it too")
        ok = False
    for i, pattern in enumerate(spec.get("stated", ())):
        try:
            patterns.check(pattern)
            groups = set(regex.compile(pattern).groupindex)
        except (patterns.PatternError, regex.error) as exc:
            ctx.fail((*path, "stated", i, "="), f"bad pattern: {exc}")
            ok = False
            continue
        unknown = groups - set(STATED)
        if unknown or not groups:
            ctx.fail((*path, "stated", i, "="), "name what the pattern finds with groups "
                     f"among {', '.join(STATED)}, e.g. (?P<closing_balance>[0-9.,-]+)")  # fmt: skip
            ok = False
    return ok


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
        ok &= _check_required(pctx, (*path, "entity", "="), entity, REQUIRED_FIELDS)
        ok &= _check_tabular(pctx, path, spec)
        if "encoding" in spec:
            try:
                codecs.lookup(spec["encoding"])
            except LookupError:
                pctx.fail((*path, "encoding", "="), f"unknown encoding {spec['encoding']!r}")
                ok = False
        statements = None
        if "statements" in spec:
            target = pctx.entity((*path, "statements", "="), spec["statements"])
            ok &= target is not None
            if target is not None:
                ok &= _check_required(pctx, (*path, "statements", "="), target, STATEMENT_FIELDS)
                ref = entity.fields.get("statement")
                if ref is None or ref.ref != target.qualname:
                    pctx.fail((*path, "statements", "="), f"{entity.name} needs a field "
                              f"`statement` referring to {target.name}")  # fmt: skip
                    ok = False
                statements = target.qualname
        if not ok:
            continue
        formats = spec.get("date_format", "%Y-%m-%d")
        indicator = spec.get("indicator")
        profiles[name] = ImportProfile(
            name=name,
            entity=entity.qualname,
            format=spec["format"],
            location=ctx.locate(path),
            columns=frozen_map({f: _columns(c) for f, c in columns.items()}),
            key=tuple(spec.get("key", ())),
            encoding=spec.get("encoding"),
            delimiter=spec.get("delimiter"),
            skip_lines=spec.get("skip_lines", 0),
            footer_lines=spec.get("footer_lines", 0),
            header=spec.get("header", True),
            date_formats=tuple(formats) if isinstance(formats, list) else (formats,),
            decimal_format=spec.get("decimal_format", "1234.56"),
            amount=spec.get("amount"),
            credit=spec.get("credit"),
            debit=spec.get("debit"),
            indicator=Indicator(
                indicator["column"],
                tuple(indicator["credit"]),
                tuple(indicator["debit"]),
                tuple(indicator.get("ignore", ())),
            )
            if indicator
            else None,
            currency=spec.get("currency"),
            account=spec.get("account"),
            stated=tuple(spec.get("stated", ())),
            statement_entity=statements,
            strict=spec.get("strict", False),
            sheet=spec.get("sheet"),
            label=label_of(spec, name),
        )
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
