"""camt.053 (ISO 20022 bank-to-customer statement) files, read with lxml, a <Stmt> at a time.

Any version (001.02 to 001.12): elements are found by their local names along the ISO
20022 structure, so a namespace change between versions changes nothing. The file is
parsed incrementally and each statement is freed once read, so memory holds one
statement. Credit or debit is the entry's CdtDbtInd, whatever RvslInd says. A batch
booking whose transactions are given (several TxDtls whose amounts add up to the
entry) becomes one line per transaction, each carrying the booking's reference and
total. The balance check adds entries in the account's currency: an entry booked in
another currency counts with the amount in the account's currency that it gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from engine.i18n import _
from engine.imports.formats import StatementFormat, register
from engine.imports.model import Balance, Entry, Statement

Element = Any  # lxml's _Element


def _name(el: Element) -> str:
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _all(el: Element | None, path: str) -> list[Element]:
    """The descendants along `path` (local names, `/`-separated)."""
    found = [el] if el is not None else []
    for step in path.split("/"):
        found = [c for e in found for c in e if _name(c) == step]
    return found


def _one(el: Element | None, path: str) -> Element | None:
    found = _all(el, path)
    return found[0] if found else None


def _text(el: Element | None, path: str) -> str | None:
    found = _one(el, path)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


@register
class Camt053(StatementFormat):
    name = "camt053"

    def statements(self) -> Iterator[Statement]:
        parser = etree.iterparse(
            str(self.path), events=("end",), tag="{*}Stmt", resolve_entities=False,
            no_network=True, load_dtd=False,
        )  # fmt: skip
        try:
            for _event, stmt in parser:
                statement = self._statement(stmt)
                yield statement
                self.position = min(self.size, self.position + 1)
                stmt.clear()
                while stmt.getprevious() is not None:
                    del stmt.getparent()[0]
        except etree.XMLSyntaxError as exc:
            raise self.fail(_("is not well-formed XML: %(error)s", error=exc.msg),
                            exc.lineno) from None  # fmt: skip

    def _statement(self, stmt: Element) -> Statement:
        acct = _one(stmt, "Acct")
        account = _text(acct, "Id/IBAN") or _text(acct, "Id/Othr/Id")
        currency = _text(acct, "Ccy")
        balances: dict[str, Balance] = {}
        for bal in _all(stmt, "Bal"):
            code = _text(bal, "Tp/CdOrPrtry/Cd")
            amount = self._amount(bal, stmt)
            date = _date(_text(bal, "Dt/Dt") or _text(bal, "Dt/DtTm"))
            if code and amount is not None:
                balances.setdefault(code, Balance(amount, date))
                currency = currency or _one(bal, "Amt").get("Ccy")  # type: ignore[union-attr]
        ref = _text(stmt, "Id")
        entries = [
            e
            for n, ntry in enumerate(_all(stmt, "Ntry"), start=1)
            for e in self._entries(ntry, account, currency, f"{ref or account}#{n}")
        ]
        return Statement(
            iter(entries),
            account=account,
            currency=currency,
            number=_text(stmt, "ElctrncSeqNb") or _text(stmt, "LglSeqNb"),
            reference=ref,
            opening=balances.get("OPBD") or balances.get("PRCD"),
            closing=balances.get("CLBD"),
            line=stmt.sourceline,
        )

    def _amount(self, el: Element, where: Element, path: str = "Amt") -> Decimal | None:
        """The signed amount of a balance or entry (CdtDbtInd DBIT is negative)."""
        found = _one(el, path)
        if found is None:
            return None
        try:
            value = Decimal((found.text or "").strip())
        except InvalidOperation:
            raise self.fail(_("%(value)r is not an amount", value=found.text),
                            found.sourceline) from None  # fmt: skip
        if not value.is_finite():
            raise self.fail(_("%(value)r is not an amount", value=found.text), found.sourceline)
        return -value if _text(el, "CdtDbtInd") == "DBIT" else value

    def _entries(
        self, ntry: Element, account: str | None, currency: str | None, fallback: str
    ) -> list[Entry]:
        """The lines of one <Ntry>: one, or one per transaction of a batch booking."""
        amt = _one(ntry, "Amt")
        if amt is None:
            raise self.fail(_("the entry has no amount (Amt)"), ntry.sourceline)
        amount = self._amount(ntry, ntry)
        assert amount is not None
        sign = -1 if amount < 0 else 1
        entry_currency = amt.get("Ccy") or currency
        booked = _date(_text(ntry, "BookgDt/Dt") or _text(ntry, "BookgDt/DtTm"))
        valued = _date(_text(ntry, "ValDt/Dt") or _text(ntry, "ValDt/DtTm"))
        if booked is None and valued is None:
            raise self.fail(_("the entry has no booking date (BookgDt)"), ntry.sourceline)
        common = {
            "date": booked or valued,
            "value_date": valued,
            "account": account,
            "booking": _text(ntry, "AcctSvcrRef") or _text(ntry, "NtryRef"),
        }
        own = None  # the amount in the account's currency, when the entry is in another
        if entry_currency != currency:
            for path in ("AmtDtls/InstdAmt/Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/CntrValAmt/Amt"):
                found = _one(ntry, path)
                if found is not None and found.get("Ccy") == currency:
                    own = sign * Decimal(found.text.strip())
                    break
        details = _all(ntry, "NtryDtls/TxDtls")
        parts = [self._tx_amount(tx, entry_currency) for tx in details]
        split = len(details) > 1 and all(p is not None for p in parts)
        split = split and sum(p for p in parts if p is not None) == abs(amount)
        if not split:
            tx = details[0] if details else None
            values = {**common, **self._tx(tx, ntry), "amount": amount, "currency": entry_currency}
            if own is not None:
                values["account_amount"] = own
            return [Entry(values, ntry.sourceline)]
        common["booking"] = common["booking"] or fallback
        return [
            Entry(
                {
                    **common,
                    **self._tx(tx, ntry),
                    "amount": sign * part,
                    "currency": entry_currency,
                    "booking_amount": amount,
                },
                tx.sourceline,
            )
            for tx, part in zip(details, parts, strict=True)
            if part is not None
        ]

    @staticmethod
    def _tx_amount(tx: Element, currency: str | None) -> Decimal | None:
        for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
            found = _one(tx, path)
            if found is not None and found.get("Ccy", currency) == currency:
                try:
                    return Decimal((found.text or "").strip())
                except InvalidOperation:
                    return None
        return None

    @staticmethod
    def _tx(tx: Element | None, ntry: Element) -> dict[str, Any]:
        """Counterparty, remittance and references of one transaction (or of the entry)."""
        credit = _text(ntry, "CdtDbtInd") != "DBIT"
        party, acct = ("Dbtr", "DbtrAcct") if credit else ("Cdtr", "CdtrAcct")
        parties = _one(tx, "RltdPties")
        name = _text(parties, f"{party}/Nm") or _text(parties, f"{party}/Pty/Nm")
        iban = _text(parties, f"{acct}/Id/IBAN") or _text(parties, f"{acct}/Id/Othr/Id")
        remittance = [(u.text or "").strip() for u in _all(tx, "RmtInf/Ustrd")]
        creditor_ref = _text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
        memo = " ".join(r for r in [*remittance, creditor_ref or ""] if r)
        memo = memo or _text(tx, "AddtlTxInf") or _text(ntry, "AddtlNtryInf") or ""
        end_to_end = _text(tx, "Refs/EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        reference = creditor_ref or end_to_end or _text(tx, "Refs/AcctSvcrRef")
        return {
            "counterparty": name,
            "counterparty_iban": iban,
            "memo": memo or None,
            "reference": reference,
            "end_to_end_id": end_to_end,
        }


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
