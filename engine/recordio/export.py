"""Every record of an entity to CSV, JSON or XLSX, readable and safe to open in a spreadsheet.

Refs are written as the target's unique name where it has one (an invoice's customer by
name), so a person can read and edit the file. Records are read a page at a time (keyset
paging), so an export of a million records holds one page in memory.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
to Excel and LibreOffice (`=cmd|' /C calc'!A0` runs a program through DDE), so CSV
cells like that get a leading `'` (the OWASP recipe) unless `raw` asks for the exact
text. A plain number such as `-12.50` is left alone: it is a number to a spreadsheet,
never a formula, and money must stay readable as money. XLSX cells are typed: text is
always a string cell, which a spreadsheet never evaluates, so XLSX needs no prefix.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any, TextIO

from engine.appdef import Entity, Field
from engine.errors import FormworkError
from engine.fieldtypes import json_value
from engine.recordio.common import FORMATS, key_field, text_value
from engine.storage import Filter, Repository

PAGE = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutralised(text: str) -> str:
    """A CSV cell a spreadsheet shows as text instead of running it as a formula."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def export_records(
    repo: Repository, entity: Entity | str, fmt: str, out: TextIO | IO[bytes], raw: bool = False
) -> int:
    """Write every record of `entity` to `out` (binary for xlsx); returns how many.

    `raw` writes CSV cells exactly as stored, formulas included, for a round trip.
    """
    ent = repo.entity(entity)
    columns = ["id", *ent.fields]
    if fmt == "csv":
        return _csv(repo, ent, columns, out, raw)  # type: ignore[arg-type]
    if fmt == "json":
        return _json(repo, ent, columns, out)  # type: ignore[arg-type]
    if fmt == "xlsx":
        return _xlsx(repo, ent, columns, out)  # type: ignore[arg-type]
    raise FormworkError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def _csv(repo: Repository, ent: Entity, columns: list[str], out: TextIO, raw: bool) -> int:
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in _exported(repo, ent):
        cells = [text_value(row[c]) for c in columns]
        writer.writerow(cells if raw else [neutralised(c) for c in cells])
        count += 1
    return count


def _json(repo: Repository, ent: Entity, columns: list[str], out: TextIO) -> int:
    count = 0
    out.write("[")
    for row in _exported(repo, ent):
        out.write(",\n " if count else "\n ")
        json.dump({c: json_value(row[c]) for c in columns}, out, ensure_ascii=False)
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _xlsx(repo: Repository, ent: Entity, columns: list[str], out: IO[bytes]) -> int:
    """One sheet named after the entity; numbers, dates and booleans as typed cells."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(ent.name[:31])
    sheet.append(columns)

    def cell(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | Decimal) or type(value) is dt.date:
            return value
        text = text_value(value)  # datetimes too: Excel cells cannot hold a time zone
        c = WriteOnlyCell(sheet, value=text)
        c.data_type = "s"  # never a formula, even when the text starts with "="
        return c

    count = 0
    for row in _exported(repo, ent):
        sheet.append([cell(row[c]) for c in columns])
        count += 1
    book.save(out)
    return count


def _exported(repo: Repository, ent: Entity) -> Iterator[dict[str, Any]]:
    """Records in id order, a page at a time (keyset paging), with refs made readable."""
    last = 0
    while True:
        page = repo.query(ent, [Filter("id", "gt", last)], sort=[("id", False)], limit=PAGE)
        if not page.rows:
            return
        for field in ent.fields.values():
            if not field.ref:
                continue
            target = repo.entity(field.ref)
            key = key_field(target)
            if key is None:
                continue
            names = _key_values(repo, target, key, [r[field.name] for r in page.rows])
            for row in page.rows:
                if row[field.name] is not None:
                    row[field.name] = names.get(row[field.name], row[field.name])
        yield from page.rows
        if not page.has_more:
            return
        last = page.rows[-1]["id"]


def _key_values(
    repo: Repository, target: Entity, key: Field, ids: Iterable[int | None]
) -> dict[int, Any]:
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, Any] = {}
    for start in range(0, len(wanted), PAGE):
        chunk = wanted[start : start + PAGE]
        page = repo.query(target, [Filter("id", "in", chunk)], limit=PAGE)
        found.update({r["id"]: r[key.name] for r in page.rows})
    return found
