"""Records from CSV, XLSX or JSON files, all or nothing, in bounded memory.

A file of a million invoices is read a chunk of rows at a time: each chunk's cells are
read by their field types, its refs resolved in one query per ref column (a customer
given by name), and the chunk goes through `Repository.bulk_create`, every chunk inside
one transaction. So memory holds one chunk, not the file, and the first problem in the
last chunk still rolls back everything the earlier chunks wrote. Every problem is
reported with the line (CSV), sheet row (XLSX) or record number (JSON) the user sees.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from array import array
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypedDict

from engine.appdef import Entity
from engine.appdef.build import did_you_mean
from engine.errors import FormworkError
from engine.gcpause import collecting_between_chunks
from engine.i18n import _
from engine.recordio.common import FORMATS, ImportFailed, RowError, key_field, shown
from engine.storage import BulkValidationError, Repository
from engine.storage.repository import SYSTEM
from engine.tabular import Table, encoding_name, open_table

CHUNK = 10_000  # rows validated and written at a time: ~3 KB of memory each
MAX_ERRORS = 1000  # past this many problems, reading stops: the file needs fixing first
REF_CACHE = 100_000  # names remembered per ref column between chunks
DIGITS = re.compile(r"[0-9]{1,18}")


class Progress(Protocol):
    """What an import tells the person waiting for it (the CLI draws a bar)."""

    def note(self, message: str) -> None: ...

    def update(self, done: int, total: int, rows: int) -> None: ...


class _Where(TypedDict, total=False):
    """Where a column is first seen: a CSV line or sheet row, or a JSON record's position."""

    line: int
    record: int


class _Row(NamedTuple):
    values: dict[str, Any]  # column -> raw value (text for CSV and XLSX, JSON values for JSON)
    line: int | None = None
    record: int | None = None


def import_records(
    repo: Repository,
    entity: Entity | str,
    path: str | Path,
    fmt: str | None = None,
    *,
    name: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
) -> int:
    """Create one record per row of the file at `path`, all or none; returns how many.

    Raises ImportFailed with every problem found; `name` is the file as the user named
    it (the path by default). `encoding` (CSV) is detected when not given.
    """
    ent = repo.entity(entity)
    fmt = fmt or Path(path).suffix.lower().lstrip(".")
    name = name or str(path)
    if fmt == "json":
        rows, columns, errors = _read_json(Path(path).read_bytes(), name)
        errors += _column_errors(ent, columns, name)
        if errors:
            raise ImportFailed(sorted(errors, key=lambda e: e.line or e.record or 0))
        return _Importer(repo, ent, name).run(iter(rows), chunk_size, progress)
    if fmt not in FORMATS:
        raise FormworkError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    try:
        table = open_table(path, fmt, encoding, sheet)
    except LookupError:
        raise FormworkError(_("unknown encoding %(encoding)r", encoding=encoding)) from None
    with table:
        if table.detected and encoding_name(table.encoding or "") != "UTF-8" and progress:
            progress.note(
                _(
                    "%(file)s is not UTF-8: reading it as %(encoding)s (detected; choose "
                    "another with --encoding)",
                    file=name,
                    encoding=encoding_name(table.encoding or ""),
                )
            )
        importer = _Importer(repo, ent, name, table)
        header: list[tuple[str, _Where]] = [
            (h, {"line": table.header_line}) for h in table.header if h
        ]
        errors = importer.problems() + _column_errors(ent, header, name, table.sheet)
        if errors:
            raise ImportFailed(sorted(errors, key=lambda e: e.line or 0))
        lines = (_Row(values, line=line) for line, values in table)
        return importer.run(lines, chunk_size, progress)


def _read_json(
    data: bytes, name: str
) -> tuple[list[_Row], list[tuple[str, _Where]], list[RowError]]:
    """Records of a JSON file (a list of objects, field name -> value), read whole."""
    try:
        items = json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = _("is not UTF-8 text: JSON files must be UTF-8")
        return [], [], [RowError(name, message, line=line)]
    except json.JSONDecodeError as exc:
        message = _(
            "is not valid JSON: %(error)s (column %(column)s)", error=exc.msg, column=exc.colno
        )
        return [], [], [RowError(name, message, line=exc.lineno)]
    if not isinstance(items, list):
        return [], [], [RowError(name, _("must hold a JSON list of records ([{...}, ...])"))]
    rows: list[_Row] = []
    errors: list[RowError] = []
    columns: dict[str, _Where] = {}
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(name, _("is not an object of field: value"), record=i))
            continue
        for key in item:
            columns.setdefault(key, {"record": i})
        rows.append(_Row(dict(item), record=i))
    return rows, list(columns.items()), errors


def _column_errors(
    ent: Entity, columns: list[tuple[str, _Where]], name: str, sheet: str | None = None
) -> list[RowError]:
    """Unknown and repeated columns, located at the header or the first record."""
    errors = []
    seen: set[str] = set()
    for column, where in columns:
        if column in seen:
            message = _("column '%(column)s' appears twice", column=column)
            errors.append(RowError(name, message, sheet=sheet, **where))
        seen.add(column)
        if column not in ent.fields and column not in SYSTEM:
            hint = did_you_mean(column, ent.fields)
            message = _(
                "unknown column '%(column)s': %(entity)s has no such field%(hint)s",
                column=column,
                entity=ent.name,
                hint=hint,
            )
            errors.append(RowError(name, message, sheet=sheet, **where))
    return errors


class _Importer:
    """One import: chunks in, errors collected across chunks, one transaction around all."""

    def __init__(self, repo: Repository, ent: Entity, name: str, table: Table | None = None):
        self.repo, self.ent, self.name, self.table = repo, ent, name, table
        self.sheet = table.sheet if table else None
        self.errors: list[RowError] = []
        self.count = 0
        # Ids written so far and the line of each, to name the line of a value that an
        # earlier chunk of this same file already used (ids only grow in a transaction).
        self.ids, self.lines = array("q"), array("q")
        self.refs: dict[str, dict[str, int]] = {}
        self.unique = [f.name for f in ent.fields.values() if f.unique]
        self.skip = {f.name for f in ent.fields.values() if f.computed} | set(SYSTEM)

    def problems(self) -> list[RowError]:
        """The file's own faults found since the last call (bad bytes, broken quoting)."""
        if self.table is None:
            return []
        found = [
            RowError(self.name, p.message, line=p.line, sheet=self.sheet)
            for p in self.table.problems
        ]
        self.table.problems.clear()
        return found

    def run(self, rows: Iterator[_Row], chunk_size: int, progress: Progress | None) -> int:
        stopped = None
        with self.repo.deferred_refresh(), collecting_between_chunks() as collect:
            while chunk := list(itertools.islice(rows, chunk_size)):
                self.chunk(chunk)
                collect()
                self.errors += self.problems()
                if progress and self.table:
                    progress.update(self.table.position, self.table.size, self.count)
                if len(self.errors) >= MAX_ERRORS:
                    stopped = chunk[-1].line
                    break
            self.errors += self.problems()
            if self.errors:
                # Rows with unreadable cells were validated without them; roll everything back.
                errors = sorted(self.errors, key=lambda e: e.line or e.record or 0)
                raise ImportFailed(errors, stopped)
        return self.count

    def chunk(self, rows: Sequence[_Row]) -> None:
        failed: dict[tuple[int, str], RowError] = {}

        def fail(index: int, field: str, message: str) -> None:
            row = rows[index]
            failed.setdefault(
                (index, field),
                RowError(self.name, message, field, row.line, row.record, self.sheet),
            )

        records = [self.typed(row) for row in rows]
        self.resolve_refs(records, fail)
        try:
            ids = self.repo.bulk_create(self.ent, records)
        except BulkValidationError as exc:
            for i, errs in exc.rows.items():
                self.explain(i, errs, records[i], rows, failed, fail)
        else:
            self.count += len(ids)
            self.ids.extend(ids)
            self.lines.extend(r.line or r.record or 0 for r in rows)
        names = list(self.ent.fields)
        order = sorted(failed, key=lambda k: (k[0], names.index(k[1]) if k[1] in names else -1))
        self.errors += [failed[k] for k in order]

    def explain(
        self,
        i: int,
        errs: dict[str, str],
        record: dict[str, Any],
        rows: Sequence[_Row],
        failed: dict[tuple[int, str], RowError],
        fail: Any,
    ) -> None:
        """The Repository's errors of one row, as the user needs them: with the cell shown
        when it could not be read, without the blanks that follow from a bad cell."""
        unreadable = {f for f in errs if self.unreadable(record, f)}
        bad = set(errs) | {f for j, f in failed if j == i}
        for field, message in errs.items():
            if field in unreadable:
                fail(i, field, f"{shown(record[field])} {message}")
            elif not self.follows_on(field, bad):
                fail(i, field, self.relocate(message, rows, record.get(field), field))

    def unreadable(self, record: dict[str, Any], name: str) -> bool:
        """Whether the cell is text its field type cannot read (not a date, not a number)."""
        field = self.ent.fields.get(name)
        if field is None or field.ref or record.get(name) is None:
            return False
        try:
            field.type.coerce(record[name], field)
        except ValueError:
            return True
        return False

    def follows_on(self, name: str, bad: set[str]) -> bool:
        """A blank left by a default that reads a bad cell (currency from a bad customer)."""
        field = self.ent.fields.get(name)
        expr = field.default_expr if field is not None else None
        return expr is not None and any(n in bad for n in expr.names)

    def relocate(self, message: str, rows: Sequence[_Row], value: Any, field: str) -> str:
        """Say where in the file, not in the chunk or the database, a value was used before.

        The Repository counts rows from 1 in the chunk; the user counts lines in the file.
        A value an earlier chunk of this file wrote is "used twice", at that chunk's line.
        """

        def where(match: re.Match[str]) -> str:
            row = rows[int(match.group(1)) - 1]
            return self.also(row.line, row.record)

        message = re.sub(r"\(also in row (\d+)\)", where, message)
        if field in self.unique and value is not None and len(self.ids):
            found = self.repo.ids_by(self.ent, field, [value]).get(value)
            at = bisect.bisect_left(self.ids, found) if found is not None else len(self.ids)
            if at < len(self.ids) and self.ids[at] == found:
                line = self.lines[at]
                earlier = self.also(line, None) if self.table else self.also(None, line)
                return _("%(value)s is used twice %(where)s", value=value, where=earlier)
        return message

    def also(self, line: int | None, record: int | None) -> str:
        if line is None:
            return _("(also in record %(record)s)", record=record)
        if self.sheet:
            return _("(also in row %(row)s)", row=line)
        return _("(also on line %(line)s)", line=line)

    def typed(self, row: _Row) -> dict[str, Any]:
        """The row's values for `bulk_create`, which reads each by its field's type.

        Blank cells are blanks; refs are left for `resolve_refs`; id and computed columns
        (as exported) are the engine's to set.
        """
        skip = self.skip
        return {
            column: None
            if raw is None or (type(raw) is str and (not raw or raw.isspace()))
            else raw
            for column, raw in row.values.items()
            if column not in skip
        }

    def resolve_refs(self, records: list[dict[str, Any]], fail: Any) -> None:
        """A ref is the target's unique name (a customer's name) or, failing that, its id.

        Names are looked up once per chunk and remembered for the chunks that follow.
        """
        for field in self.ent.fields.values():
            if not field.ref:
                continue
            target = self.repo.entity(field.ref)
            key = key_field(target)
            known = self.refs.setdefault(field.name, {})
            given = [r.get(field.name) for r in records]
            if key is not None:
                texts = {v.strip() for v in given if isinstance(v, str)}
                if len(known) + len(texts) > REF_CACHE:
                    known.clear()  # a bound on memory: a million names need not stay
                if wanted := texts - known.keys():
                    known.update(self.repo.ids_by(target, key.name, wanted))
            for i, raw in enumerate(given):
                if raw is None:
                    continue
                text = raw.strip() if isinstance(raw, str) else str(raw)
                if isinstance(raw, str) and text in known:
                    records[i][field.name] = known[text]
                elif (isinstance(raw, int) and not isinstance(raw, bool)) or DIGITS.fullmatch(text):
                    records[i][field.name] = int(text)  # the Repository checks that it exists
                else:
                    del records[i][field.name]
                    fail(i, field.name, _ref_message(target, key, raw))


def _ref_message(target: Entity, key: Any, raw: Any) -> str:
    what = target.label.lower()
    if key is None:
        return _("%(value)s is not a %(entity)s id", value=shown(raw), entity=what)
    field = key.label.lower()
    if isinstance(raw, str):
        return _(
            "no %(entity)s has %(field)s %(value)s", entity=what, field=field, value=shown(raw)
        )
    return _(
        "%(value)s is not a %(entity)s %(field)s or id", value=shown(raw), entity=what, field=field
    )
