"""One import: a file read by its profile's format, deduplicated, checked, written.

Everything happens in one transaction through the Repository, so validation, audit
and record events are the ones every write gets, and a problem anywhere (a bad row,
a refused record, a balance that does not add up under `strict: true`) leaves the
database as it was. A dry run does all of it and rolls back.

Deduplication is a shared step after reading: each line gets a key, stored in the
line's `import_key`: a hash of the profile's `key` fields (by default the account,
dates, amount, counterparty, memo and references), with the occurrence number of the
same content within the file, so that two identical lines of one day stay two lines,
and a bank's re-export of an overlapping period adds only the lines not seen before.
A statement (a record of `statements:`) is keyed by its account, its bank ids and
balances and its first line, so the same statement imported twice is one record.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from engine import clock
from engine.appdef.imports import ImportProfile
from engine.errors import FormworkError
from engine.i18n import _
from engine.imports.formats import reader
from engine.imports.model import Entry, Statement
from engine.recordio.common import ImportFailed, RowError
from engine.storage import BulkValidationError, Repository

CHUNK = 5000
PREVIEW = 50
DEFAULT_KEY = ("account", "date", "value_date", "amount", "currency", "counterparty",
               "counterparty_iban", "memo", "reference", "booking")  # fmt: skip


class Progress(Protocol):
    def note(self, message: str) -> None: ...

    def update(self, done: int, total: int, rows: int) -> None: ...


@dataclass
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    profile: str
    file: str
    dry_run: bool = False
    read: int = 0  # lines read from the file
    created: int = 0
    skipped: int = 0  # already imported
    ignored: int = 0  # rows that move no money
    statements: int = 0  # statement records created
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)  # lines created, first ones

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "file": self.file, "dry_run": self.dry_run,
            "read": self.read, "created": self.created, "skipped": self.skipped,
            "ignored": self.ignored, "statements": self.statements,
            "warnings": [str(w) for w in self.warnings], "errors": [str(e) for e in self.errors],
        }  # fmt: skip


class _DryRun(Exception):
    """Raised inside the transaction of a dry run, so that it rolls back."""


def find_profile(repo: Repository, name: str) -> ImportProfile:
    """The profile `app.profile` (or `profile`, when one app has it)."""
    app, _dot, profile = name.rpartition(".")
    found = [
        (a.name, p)
        for a in repo.db.appset.apps.values()
        if not app or a.name == app
        for n, p in a.imports.items()
        if n == profile
    ]
    if len(found) == 1:
        return found[0][1]
    known = sorted(f"{a.name}.{n}" for a in repo.db.appset.apps.values() for n in a.imports)
    raise FormworkError(
        _("no import profile %(name)r; the profiles are: %(known)s", name=name,
          known=", ".join(known) or _("(none)"))
    )  # fmt: skip


def import_file(
    repo: Repository,
    profile: ImportProfile,
    path: str | Path,
    *,
    name: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
) -> ImportResult:
    """Import the file at `path` by `profile`, all or nothing; ImportFailed names every
    problem by its line. `name` is the file as the user knows it (an upload's name)."""
    path = Path(path)
    name = name or path.name
    run = _Run(repo, profile, path, name, dry_run, progress, chunk_size)
    try:
        with repo.transaction():
            run.all()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return run.result


class _Run:
    """Two passes over the file: the first reads it whole, adds up each statement and
    checks what the file states (so a bad row or, with `strict`, a balance that does not
    add up refuses the file before anything is written, and a statement's record is
    written once, complete); the second writes the lines a chunk at a time."""

    def __init__(
        self,
        repo: Repository,
        profile: ImportProfile,
        path: Path,
        name: str,
        dry_run: bool,
        progress: Progress | None,
        chunk_size: int,
    ):
        self.repo, self.profile, self.path, self.name = repo, profile, path, name
        self.progress, self.chunk_size = progress, chunk_size
        self.source = reader(profile, path, name)
        self.result = ImportResult(profile.name, name, dry_run)
        self.lines = repo.entity(profile.entity)
        self.statements = (
            repo.entity(profile.statement_entity) if profile.statement_entity else None
        )
        self.errors: list[RowError] = []
        self.seen: Counter[str] = Counter()
        self.user = repo.user
        self.passes = 0

    def lock(self) -> None:
        """One import into an entity at a time, so that two uploads of one statement at once
        cannot both find its lines new. SQLite: the write transaction (BEGIN IMMEDIATE) is
        the lock; PostgreSQL: a transaction-scoped advisory lock, waited for."""
        if self.repo.db.dialect != "postgresql":
            return
        digest = hashlib.sha256(f"formwork import {self.lines.qualname}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        self.repo.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def all(self) -> None:
        self.lock()
        try:
            states = [self.summarise(s) for s in self._statements()]
            if not self.errors:
                self.seen.clear()
                for statement, state in zip(self._statements(), states, strict=True):
                    self.write(statement, state)
        except ImportFailed as exc:
            self.errors += exc.errors
        if self.errors:
            errors = sorted(self.errors, key=lambda e: e.line or 0)
            self.result.errors = [str(e) for e in errors]
            raise ImportFailed(errors)

    def _statements(self) -> Iterator[Statement]:
        if self.passes:
            self.source = reader(self.profile, self.path, self.name)
        self.passes += 1
        yield from self.source.statements()

    def _entries(self, statement: Statement) -> Iterator[tuple[Entry, str]]:
        for entry in statement.entries:
            if entry.values.get("currency") is None:
                entry.values["currency"] = statement.currency
            entry.values.setdefault("account", statement.account)
            yield entry, self.key(entry)

    def _progress(self, done: int) -> None:
        if self.progress:
            half = self.source.size / 2
            position = half * (self.passes - 1) + self.source.position / 2
            self.progress.update(int(position), self.source.size, done)

    # -- the first pass: totals and checks --------------------------------------------------

    def summarise(self, statement: Statement) -> _State:
        state = _State(statement)
        for entry, key in self._entries(statement):
            if state.key is None:
                state.key = self.statement_key(statement, key)
            state.add(entry)
            if state.count % self.chunk_size == 0:
                self._progress(0)
        if state.key is None:
            state.key = self.statement_key(statement, "")
        state.warnings = self.check(statement, state)
        if self.profile.strict and state.warnings:
            self.errors += [RowError(self.name, w, line=statement.line) for w in state.warnings]
        return state

    # -- the second pass: the writes --------------------------------------------------------

    def write(self, statement: Statement, state: _State) -> None:
        pending: list[tuple[Entry, str]] = []
        for entry, key in self._entries(statement):
            pending.append((entry, key))
            self.result.read += 1
            if len(pending) >= self.chunk_size:
                self.flush(pending, state)
                pending = []
        self.flush(pending, state)
        self.result.ignored += statement.ignored
        self.result.read += statement.ignored
        self.result.warnings += state.warnings
        empty = self.statements is not None and state.record is None and not state.count
        if empty and self.existing_statement(state.key) is None:  # an empty statement, new
            state.record = self.create_statement(state)

    def flush(self, pending: list[tuple[Entry, str]], state: _State) -> None:
        if not pending:
            return
        keys = [k for _e, k in pending]
        known = self.repo.ids_by(self.lines, "import_key", keys)
        new = [(e, k) for e, k in pending if k not in known]
        self.result.skipped += len(pending) - len(new)
        if not new:
            return
        if self.statements is not None and state.record is None:
            state.record = self.existing_statement(state.key)
            if state.record is None:
                state.record = self.create_statement(state)
        records = [self.values(e, k, state.record) for e, k in new]
        try:
            self.repo.bulk_create(self.lines, records)
        except BulkValidationError as exc:
            for i, errs in sorted(exc.rows.items()):
                for fname, message in errs.items():
                    self.errors.append(RowError(self.name, message, fname, new[i][0].line))
            return
        self.result.created += len(records)
        room = PREVIEW - len(self.result.preview)
        shown = zip(records[:room], new, strict=False)
        self.result.preview += [{**r, "line": e.line} for r, (e, _k) in shown]
        self._progress(self.result.read)

    def values(self, entry: Entry, key: str, statement: int | None) -> dict[str, Any]:
        fields = self.lines.fields
        values = {k: v for k, v in entry.values.items() if k in fields and v is not None}
        values["import_key"] = key
        if statement is not None:
            values["statement"] = statement
        return values

    # -- keys -------------------------------------------------------------------------------

    def key(self, entry: Entry) -> str:
        names: Iterable[str] = self.profile.key or DEFAULT_KEY
        if self.profile.key:
            names = ("account", *names)
        content = "\x1f".join(_plain(entry.values.get(n)) for n in names)
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
        self.seen[digest] += 1
        return f"{digest}:{self.seen[digest]}"

    def statement_key(self, statement: Statement, first: str) -> str:
        parts = [self.profile.format, statement.account, statement.currency, statement.reference,
                 statement.number, statement.opening and statement.opening.amount,
                 statement.opening and statement.opening.date,
                 statement.closing and statement.closing.amount,
                 statement.closing and statement.closing.date, first]  # fmt: skip
        content = "\x1f".join(_plain(p) for p in parts)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()[:40]

    # -- the statement record ---------------------------------------------------------------

    def existing_statement(self, key: str | None) -> int | None:
        assert self.statements is not None
        return self.repo.ids_by(self.statements, "import_key", [key]).get(key) if key else None

    def create_statement(self, state: _State) -> int:
        assert self.statements is not None
        s = state.statement
        values = {
            "import_key": state.key, "account": s.account, "currency": s.currency,
            "number": s.number or s.reference, "file": self.name,
            "profile": self.profile.name, "imported_at": clock.now(), "imported_by": self.user,
            "opening_balance": s.opening.amount if s.opening else None,
            "closing_balance": s.closing.amount if s.closing else None,
            "entries": state.count, "credit_sum": state.credits, "debit_sum": state.debits,
            "start_date": state.first, "end_date": state.last,
            "warnings": "\n".join(state.warnings) or None,
        }  # fmt: skip
        fields = self.statements.fields
        record = {k: v for k, v in values.items() if k in fields and v is not None}
        try:
            (new,) = self.repo.bulk_create(self.statements, [record])
        except BulkValidationError as exc:
            for errs in exc.rows.values():
                for fname, message in errs.items():
                    self.errors.append(RowError(self.name, message, fname, s.line))
            raise ImportFailed(self.errors) from None
        self.result.statements += 1
        return int(new)

    # -- checks -----------------------------------------------------------------------------

    def check(self, statement: Statement, state: _State) -> list[str]:
        """What the file states about itself and its entries contradict, as warnings."""
        name = statement.number or statement.reference or statement.account or self.name
        found: list[str] = []
        if statement.opening is not None and statement.closing is not None:
            computed = statement.opening.amount + state.net
            if computed != statement.closing.amount:
                found.append(_(
                    "statement %(statement)s: opening balance %(opening)s plus the entries "
                    "(%(net)s) is %(computed)s, but the file states a closing balance of "
                    "%(closing)s (%(difference)s apart)", statement=name,
                    opening=statement.opening.amount, net=state.net, computed=computed,
                    closing=statement.closing.amount,
                    difference=statement.closing.amount - computed))  # fmt: skip
        stated = statement.stated
        if "credits" in stated and abs(stated["credits"]) != state.credits:
            found.append(_(
                "statement %(statement)s: the file states credits of %(stated)s, but its rows "
                "add up to %(actual)s", statement=name, stated=abs(stated["credits"]),
                actual=state.credits))  # fmt: skip
        if "debits" in stated and abs(stated["debits"]) != state.debits:
            found.append(_(
                "statement %(statement)s: the file states debits of %(stated)s, but its rows "
                "add up to %(actual)s", statement=name, stated=abs(stated["debits"]),
                actual=state.debits))  # fmt: skip
        if "count" in stated and "rows" in stated and stated["count"] != stated["rows"]:
            found.append(_(
                "statement %(statement)s: the file states %(stated)s records, but holds "
                "%(actual)s rows", statement=name, stated=stated["count"],
                actual=stated["rows"]))  # fmt: skip
        return found


class _State:
    """Running totals of one statement as its entries stream past."""

    def __init__(self, statement: Statement):
        self.statement = statement  # as the first pass read it: its balances and stated totals
        self.key: str | None = None
        self.record: int | None = None
        self.warnings: list[str] = []
        self.count = 0
        self.credits = Decimal(0)
        self.debits = Decimal(0)
        self.net = Decimal(0)  # in the account's currency
        self.first: Any = None
        self.last: Any = None

    def add(self, entry: Entry) -> None:
        amount = entry.values.get("account_amount", entry.amount)
        self.count += 1
        if amount >= 0:
            self.credits += amount
        else:
            self.debits -= amount
        self.net += amount
        date = entry.values.get("date")
        if date is not None:
            self.first = date if self.first is None else min(self.first, date)
            self.last = date if self.last is None else max(self.last, date)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value).strip()
