"""OFX and QFX files (SGML 1.x and XML 2.x), read with ofxparse.

OFX has no opening balance, only the ledger balance at the end (LEDGERBAL), so there
is nothing to check a statement's entries against; the closing balance is kept.
ofxparse gives no line numbers: a transaction's line is the line of its <STMTTRN>,
counted in the file, and a value it cannot read is looked up in the file to name its
line.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import warnings
from collections.abc import Iterator
from typing import Any

from engine.i18n import _
from engine.imports.formats import StatementFormat, register
from engine.imports.model import Balance, Entry, Statement

TRANSACTION = re.compile(r"<STMTTRN>", re.IGNORECASE)
QUOTED = re.compile(r"'([^']+)'")


@register
class OFX(StatementFormat):
    name = "ofx"

    def statements(self) -> Iterator[Statement]:
        import ofxparse

        text = self.text()
        lines = [text.count("\n", 0, m.start()) + 1 for m in TRANSACTION.finditer(text)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # BeautifulSoup's notes on the SGML it is given
                parsed = ofxparse.OfxParser.parse(io.BytesIO(self.path.read_bytes()))
        except Exception as exc:
            raise self._located(text, exc) from None
        self.position = self.size
        seen = 0
        for account in parsed.accounts:
            statement = account.statement
            transactions = list(getattr(statement, "transactions", []))
            entries = [
                Entry(self._values(t, account), lines[seen + i] if seen + i < len(lines) else None)
                for i, t in enumerate(transactions)
            ]
            seen += len(transactions)
            balance = getattr(statement, "balance", None)
            end = getattr(statement, "end_date", None)
            yield Statement(
                iter(entries),
                account=str(account.account_id),
                currency=(account.curdef or "").upper() or None,
                closing=Balance(balance, _day(end)) if balance is not None else None,
                line=lines[seen - len(transactions)] if transactions else None,
            )

    def _located(self, text: str, exc: Exception) -> Exception:
        """The parser's complaint, at the line of the value it names (when it names one)."""
        message = str(exc) or type(exc).__name__
        line = None
        quoted = QUOTED.search(message)
        if quoted:
            for number, content in enumerate(text.splitlines(), start=1):
                if quoted.group(1) in content:
                    line = number
                    break
        return self.fail(_("cannot be read as OFX: %(error)s", error=message), line)

    @staticmethod
    def _values(t: Any, account: Any) -> dict[str, Any]:
        payee = html.unescape(str(t.payee or "")).strip()
        memo = html.unescape(str(t.memo or "")).strip()
        reference = str(t.id or "").strip() or None
        if str(getattr(t, "checknum", None) or "0") != "0":
            memo = f"{memo} (check {t.checknum})".strip()
        return {
            "date": _day(t.date),
            "amount": t.amount,
            "currency": (account.curdef or "").upper() or None,
            "counterparty": payee or None,
            "memo": memo or None,
            "reference": reference,
            "account": str(account.account_id),
        }


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None
