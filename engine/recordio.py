"""Records in and out of CSV and JSON files (`formwork records export/import`).

Export writes every record with refs as the target's unique name where it has one
(an invoice's customer by name), so a person can read and edit the file. Import is
all or nothing: every row is parsed, refs are resolved in one query per column, all
rows go through `Repository.bulk_create` in one transaction, and every problem is
reported with the line (CSV) or record number (JSON) the user sees in the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypedDict

from engine.appdef import Entity, Field
from engine.appdef.build import did_you_mean
from engine.errors import FormworkError
from engine.fieldtypes import json_value
from engine.storage import BulkValidationError, Filter, Repository
from engine.storage.repository import SYSTEM

FORMATS = ("csv", "json")
PAGE = 1000
MAX_SHOWN = 50
DIGITS = re.compile(r"[0-9]{1,18}")


class _Where(TypedDict, total=False):
    """Where a column is first seen: a CSV line, or a JSON record's position."""

    line: int
    record: int


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, located as the user sees it."""

    file: str
    message: str
    field: str = ""
    line: int | None = None  # CSV: physical line, the header being line 1
    record: int | None = None  # JSON: 1-based position in the list

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.record is not None:
            where += f": record {self.record}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


class ImportFailed(FormworkError):
    """Nothing was imported; `errors` says every reason, row by row."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = MAX_SHOWN) -> list[str]:
        shown = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            shown.append(f"... and {len(self.errors) - limit} more")
        return shown


def format_of(path: str | Path, given: str | None = None) -> str:
    """The format asked for, else the one the file name says."""
    if given:
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise FormworkError(
        f"cannot tell the format of {path} from its name; use --format csv or --format json"
    )


def key_field(entity: Entity) -> Field | None:
    """The unique text field that names a record for people (customer.name), if any."""
    for field in entity.fields.values():
        if field.unique and not field.computed and field.type.import_key:
            return field
    return None


# -- export -----------------------------------------------------------------------------------


def export_records(repo: Repository, entity: Entity | str, fmt: str, out: TextIO) -> int:
    """Write every record of `entity` to `out`; returns how many."""
    ent = repo.entity(entity)
    columns = ["id", *ent.fields]
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in _exported(repo, ent):
            writer.writerow([_csv_text(row[c]) for c in columns])
            count += 1
    elif fmt == "json":
        out.write("[")
        for row in _exported(repo, ent):
            out.write(",\n " if count else "\n ")
            json.dump({c: json_value(row[c]) for c in columns}, out, ensure_ascii=False)
            count += 1
        out.write("\n]\n" if count else "]\n")
    else:
        raise FormworkError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
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


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(json_value(value))


# -- import -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    values: dict[str, Any]  # column -> raw value (text for CSV, JSON values for JSON)
    line: int | None = None
    record: int | None = None


# What a reader returns: columns (each with where it is named), rows, structural errors.
_Read = tuple[list[tuple[str, _Where]], list[_Row], list[RowError]]


def import_records(
    repo: Repository, entity: Entity | str, data: bytes, fmt: str, name: str
) -> list[int]:
    """Create one record per row of `data`, all or none; returns the new ids.

    Raises ImportFailed with every problem found; `name` is the file as the user named it.
    """
    ent = repo.entity(entity)
    reader = _read_csv if fmt == "csv" else _read_json if fmt == "json" else None
    if reader is None:
        raise FormworkError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    text = _decode(data, name)
    columns, rows, errors = reader(text, name)
    errors += _column_errors(ent, columns, name, rows)
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line or e.record or 0))
    return _Importer(repo, ent, name).run(rows)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            [RowError(name, "is not UTF-8 text; save the file as UTF-8 and try again", line=line)]
        ) from None


def _read_csv(text: str, name: str) -> _Read:
    """Header and rows of a CSV file, comma or semicolon separated, with their line numbers."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[_Row] = []
    errors: list[RowError] = []
    header: list[str] | None = None
    header_line = 1
    try:
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_line = [c.strip() for c in cells], line
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                errors.append(
                    RowError(
                        name,
                        f"has {len(cells)} cells but the header has {len(header)} columns",
                        line=line,
                    )
                )
                continue
            values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
            rows.append(_Row(values, line=line))
    except csv.Error as exc:
        errors.append(RowError(name, f"is not valid CSV: {exc}", line=reader.line_num))
    if header is None and not errors:
        errors.append(RowError(name, "is empty: expected a header line with field names", line=1))
    columns: list[tuple[str, _Where]] = [(h, {"line": header_line}) for h in header or []]
    return columns, rows, errors


def _read_json(text: str, name: str) -> _Read:
    """Records of a JSON file: a list of objects, field name -> value."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        where = f" (column {exc.colno})"
        return [], [], [RowError(name, f"is not valid JSON: {exc.msg}{where}", line=exc.lineno)]
    if not isinstance(data, list):
        return [], [], [RowError(name, "must hold a JSON list of records ([{...}, ...])")]
    rows: list[_Row] = []
    errors: list[RowError] = []
    columns: dict[str, _Where] = {}
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(name, "is not an object of field: value", record=i))
            continue
        for key in item:
            columns.setdefault(key, {"record": i})
        rows.append(_Row(dict(item), record=i))
    return list(columns.items()), rows, errors


def _column_errors(
    ent: Entity, columns: list[tuple[str, _Where]], name: str, rows: list[_Row]
) -> list[RowError]:
    """Unknown, unnamed and repeated columns, located at the header or the first record."""
    errors = []
    seen: set[str] = set()
    for position, (column, where) in enumerate(columns, start=1):
        if column == "":
            if any(str(r.values.get("", "")).strip() for r in rows):
                errors.append(RowError(name, f"column {position} has values but no name", **where))
            continue
        if column in seen:
            errors.append(RowError(name, f"column '{column}' appears twice", **where))
        seen.add(column)
        if column not in ent.fields and column not in SYSTEM:
            hint = did_you_mean(column, ent.fields)
            message = f"unknown column '{column}': {ent.name} has no such field{hint}"
            errors.append(RowError(name, message, **where))
    return errors


class _Importer:
    def __init__(self, repo: Repository, ent: Entity, name: str):
        self.repo, self.ent, self.name = repo, ent, name
        self.errors: dict[tuple[int, str], RowError] = {}

    def fail(self, index: int, row: _Row, field: str, message: str) -> None:
        self.errors.setdefault(
            (index, field), RowError(self.name, message, field, row.line, row.record)
        )

    def run(self, rows: Sequence[_Row]) -> list[int]:
        records = [self.typed(i, row) for i, row in enumerate(rows)]
        self.resolve_refs(rows, records)
        with self.repo.transaction():
            ids: list[int] = []
            try:
                ids = self.repo.bulk_create(self.ent, records)
            except BulkValidationError as exc:
                for i, errs in exc.rows.items():
                    for field, message in errs.items():
                        if not self.follows_on(i, field):
                            self.fail(i, rows[i], field, self.relocate(message, rows))
            if self.errors:
                # Rows with unreadable cells were validated without them; roll everything back.
                raise ImportFailed([self.errors[k] for k in sorted(self.errors, key=self.order)])
        return ids

    def follows_on(self, index: int, name: str) -> bool:
        """A blank left by a default that reads a bad cell (currency from a bad customer)."""
        field = self.ent.fields.get(name)
        expr = field.default_expr if field is not None else None
        return expr is not None and any((index, n) in self.errors for n in expr.names)

    def order(self, key: tuple[int, str]) -> tuple[int, int]:
        names = list(self.ent.fields)
        return key[0], names.index(key[1]) if key[1] in names else -1

    def relocate(self, message: str, rows: Sequence[_Row]) -> str:
        """The Repository counts rows from 1 in the list; the user counts lines in the file."""

        def where(match: re.Match[str]) -> str:
            row = rows[int(match.group(1)) - 1]
            return f"(also on line {row.line})" if row.line else f"(also in record {row.record})"

        return re.sub(r"\(also in row (\d+)\)", where, message)

    def typed(self, index: int, row: _Row) -> dict[str, Any]:
        """Values read by each field's type; refs are left for `resolve_refs`."""
        values: dict[str, Any] = {}
        for column, raw in row.values.items():
            field = self.ent.fields.get(column)
            if field is None or field.computed:
                continue  # system columns and computed values are the engine's to set
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                values[column] = None
            elif field.ref:
                values[column] = raw
            else:
                try:
                    values[column] = field.type.coerce(raw, field)
                except ValueError as exc:
                    self.fail(index, row, column, f"{_shown(raw)} {exc}")
        return values

    def resolve_refs(self, rows: Sequence[_Row], records: list[dict[str, Any]]) -> None:
        """A ref is the target's unique name (a customer's name) or, failing that, its id."""
        for field in self.ent.fields.values():
            if not field.ref:
                continue
            target = self.repo.entity(field.ref)
            key = key_field(target)
            given = [r.get(field.name) for r in records]
            texts = {str(v).strip() for v in given if isinstance(v, str)}
            found = self.repo.ids_by(target, key.name, texts) if key and texts else {}
            for i, raw in enumerate(given):
                if raw is None:
                    continue
                text = str(raw).strip()
                if isinstance(raw, str) and text in found:
                    records[i][field.name] = found[text]
                elif (isinstance(raw, int) and not isinstance(raw, bool)) or DIGITS.fullmatch(text):
                    records[i][field.name] = int(text)  # the Repository checks that it exists
                else:
                    del records[i][field.name]
                    what = target.label.lower()
                    if key is None:
                        message = f"{_shown(raw)} is not a {what} id"
                    elif isinstance(raw, str):
                        message = f"no {what} has {key.label.lower()} {_shown(raw)}"
                    else:
                        message = f"{_shown(raw)} is not a {what} {key.label.lower()} or id"
                    self.fail(i, rows[i], field.name, message)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(json_value(value))
    if isinstance(text, str) and len(text) > 60:
        text = text[:57] + "..."
    return repr(text)
