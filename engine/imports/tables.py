"""CSV and XLSX statements: the profile says which column holds what.

Rows stream from engine.tabular (encodings, delimiter, XLSX sheets); this module reads
each row's cells by the profile: dates in its formats, amounts in its decimal format,
the sign by its convention (one signed amount; credit and debit columns; or an amount
with an indicator column), text cells without their padding. The lines before the
header and the rows after the table (`footer_lines`) are searched with the profile's
`stated` patterns for what the file says about itself (balances, totals, a count).
Every problem names its line; reading goes on, so that one pass lists them all.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import regex

from engine import patterns
from engine.appdef.imports import Column
from engine.i18n import _
from engine.imports import values
from engine.imports.formats import StatementFormat, register
from engine.imports.model import Balance, Entry, Statement
from engine.recordio.common import ImportFailed, RowError
from engine.tabular import Table, open_table

MAX_ERRORS = 1000
TEXT_JOIN = " "


class _Tabular(StatementFormat):
    """One statement: the whole file. Its entries stream; problems gather in `errors`."""

    # Formats every file of the kind may use besides the profile's (XLSX date cells).
    typed_dates: tuple[str, ...] = ()

    @property
    def date_formats(self) -> tuple[str, ...]:
        return (*self.profile.date_formats, *self.typed_dates)

    def statements(self) -> Iterator[Statement]:
        p = self.profile
        try:
            table = open_table(self.path, self.name, p.encoding, p.sheet, skip=p.skip_lines,
                               header=p.header, delimiter=p.delimiter)  # fmt: skip
        except LookupError:
            raise self.fail(_("unknown encoding %(encoding)r", encoding=p.encoding)) from None
        self.table = table
        self.errors: list[RowError] = []
        with table:
            self._take_problems()
            if self.errors:
                raise ImportFailed(self.errors)
            self.size = table.size
            self.where = self._columns(table)
            if self.errors:
                raise ImportFailed(self.errors)
            statement = Statement(iter(()), account=p.account, currency=p.currency,
                                  line=table.header_line)  # fmt: skip
            for line, cells in table.preamble:
                self._stated(statement, line, cells)
            self.statement = statement
            statement.entries = self._entries(table, statement)
            yield statement

    def _take_problems(self) -> None:
        sheet = self.table.sheet
        self.errors += [RowError(self.file, pr.message, line=pr.line, sheet=sheet)
                        for pr in self.table.problems]  # fmt: skip
        self.table.problems.clear()

    def _columns(self, table: Table) -> dict[str, tuple[str, ...]]:
        """Each field's column(s) as header names; an error for a column the file lacks."""
        p = self.profile
        wanted: dict[str, tuple[Column, ...]] = dict(p.columns)
        for name in ("amount", "credit", "debit"):
            if getattr(p, name) is not None:
                wanted[f"<{name}>"] = (getattr(p, name),)
        if p.indicator is not None:
            wanted["<indicator>"] = (p.indicator.column,)
        found: dict[str, tuple[str, ...]] = {}
        for target, columns in wanted.items():
            names = []
            for column in columns:
                header = self._header(table, column)
                if header is None:
                    known = ", ".join(h for h in table.header if h)
                    self.errors.append(RowError(
                        self.file, _("no column %(column)r; the columns are: %(columns)s",
                                     column=column, columns=known),
                        line=table.header_line, sheet=table.sheet))  # fmt: skip
                else:
                    names.append(header)
            found[target] = tuple(names)
        return found

    @staticmethod
    def _header(table: Table, column: Column) -> str | None:
        if isinstance(column, int):
            return table.header[column - 1] if column <= len(table.header) else None
        return column if column in table.header else None

    def _entries(self, table: Table, statement: Statement) -> Iterator[Entry]:
        footer: collections.deque[tuple[int, dict[str, str]]] = collections.deque()
        rows = 0
        for line, row in table:
            self.position = table.position
            footer.append((line, row))
            if len(footer) <= self.profile.footer_lines:
                continue
            at, cells = footer.popleft()
            rows += 1
            entry = self._entry(at, cells)
            self._take_problems()
            if entry is not None:
                yield entry
            if len(self.errors) >= MAX_ERRORS:
                break
        self._take_problems()
        for line, cells in footer:
            self._stated(statement, line, list(cells.values()))
        statement.stated["rows"] = Decimal(rows)
        if self.errors:
            raise ImportFailed(self.errors)

    def _entry(self, line: int, row: dict[str, str]) -> Entry | None:
        p = self.profile
        where = self.where
        problems: list[tuple[str, str]] = []

        def cell(target: str) -> str:
            return TEXT_JOIN.join(c for c in (values.clean(row.get(n)) for n in where[target]) if c)

        result: dict[str, Any] = {}
        for target in p.columns:
            text = cell(target)
            if not text:
                continue
            try:
                if target in ("date", "value_date"):
                    result[target] = values.date(text, self.date_formats)
                else:
                    result[target] = text
            except values.ValueProblem as exc:
                problems.append((target, str(exc)))
        try:
            amount = self._amount(cell)
        except values.ValueProblem as exc:
            problems.append(("amount", str(exc)))
            amount = None
        if "date" not in result and not any(t == "date" for t, _m in problems):
            problems.append(("date", _("is empty")))
        for target, message in problems:
            self.errors.append(RowError(self.file, message, target, line, sheet=self.table.sheet))
        if problems:
            return None
        if amount is None:
            self.statement.ignored += 1
            return None
        result["amount"] = amount
        result.setdefault("currency", p.currency)
        result.setdefault("account", p.account)
        return Entry(result, line)

    def _amount(self, cell: Any) -> Decimal | None:
        """The signed amount by the profile's convention; None for a row that moves no money."""
        p = self.profile
        fmt = p.decimal_format
        if p.amount is not None:
            text = cell("<amount>")
            if not text:
                raise values.ValueProblem(_("is empty"))
            amount = values.amount(text, fmt)
            if p.indicator is None:
                return amount
            mark = cell("<indicator>")
            if mark in p.indicator.credit:
                return abs(amount)
            if mark in p.indicator.debit:
                return -abs(amount)
            if mark in p.indicator.ignore:
                return None
            known = ", ".join(repr(m) for m in (*p.indicator.credit, *p.indicator.debit))
            raise values.ValueProblem(
                _("%(mark)r says neither credit nor debit (expected %(known)s)", mark=mark,
                  known=known))  # fmt: skip
        credit = cell("<credit>") if p.credit is not None else ""
        debit = cell("<debit>") if p.debit is not None else ""
        if credit and debit:
            raise values.ValueProblem(_("has both a credit and a debit amount"))
        if not credit and not debit:
            raise values.ValueProblem(_("has neither a credit nor a debit amount"))
        return abs(values.amount(credit, fmt)) if credit else -abs(values.amount(debit, fmt))

    def _stated(self, statement: Statement, line: int, cells: list[str]) -> None:
        """What a line outside the table says (a balance, totals, a count), by `stated`."""
        text = "\t".join(values.clean(c) for c in cells)
        for pattern in self.profile.stated:
            try:
                match = regex.search(pattern, text, timeout=patterns.TIMEOUT_SECONDS)
            except TimeoutError:
                continue
            if match is None:
                continue
            for name, found in match.groupdict().items():
                if found is None:
                    continue
                try:
                    value = (Decimal(int(found)) if name == "count"
                             else values.amount(found, self.profile.decimal_format))  # fmt: skip
                except (ValueError, values.ValueProblem):
                    self.errors.append(RowError(self.file, _("%(value)r is not a number",
                                                             value=found), line=line))  # fmt: skip
                    continue
                if name == "opening_balance":
                    statement.opening = Balance(value)
                elif name == "closing_balance":
                    statement.closing = Balance(value)
                else:
                    statement.stated[name] = value


@register
class CSV(_Tabular):
    name = "csv"


@register
class XLSX(_Tabular):
    name = "xlsx"
    typed_dates = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")  # date and date-time cells, as read
