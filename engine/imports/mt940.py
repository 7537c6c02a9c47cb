"""MT940 (SWIFT customer statement) files, read with the mt-940 package, tag by tag.

The package parses each tag; this module feeds it one statement (`:20:` to the next
`:20:`) at a time, tag by tag, so that a tag that does not parse is named by its line,
and so that every statement keeps its own balances. Around it, what real files do:
SWIFT block wrappers (`{1:...}{4:` ... `-}{5:...}`), SOH/ETX bytes, `-` lines inside
`:86:`, `:28C:` and `:61:` lines wrapped mid-token, counterparty IBANs in the `:61:`
customer reference, and a trailing `:86:` after the closing balance (statement
information, not a transaction's). A value date that does not exist (30 February)
is an error here, where the package would quietly move it to the 29th.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from typing import Any

import mt940
import mt940.tags

from engine.i18n import _
from engine.imports.formats import StatementFormat, register
from engine.imports.model import Balance, Entry, Statement

logging.getLogger("mt940").addHandler(logging.NullHandler())  # it logs every failed match
logging.getLogger("mt940").propagate = False

TAG = re.compile(r"^:(?P<tag>[0-9]{2}[A-Z]?|NS):")
BLOCKS = re.compile(r"^(\{[1-3]:[^}]*\})*\{4:")  # {1:...}{2:...}{3:...}{4:
END = re.compile(r"^-\}|\{5:")
BALANCE_TAGS = ("62F", "62M", "64", "65")
UNWRAPPED = ("20", "25", "28C", "60F", "60M", "62F", "62M", "64", "65")
SUBFIELD = re.compile(r"/(EREF|CNTP|REMI|ORDP|BENM|NAME|ADDR|MARF|CSID|RTRN|PREF|ISDT|TRCD|"
                      r"SUM|BUSP|OCMT|IREF|PURP|ULTC|ULTD|CHGS|EXCH|BENM)/")  # fmt: skip


# `:61:` as banks write it: a customer reference longer than 16 characters (SNS puts the
# counterparty IBAN there) and supplementary details over several lines. Named Statement
# like the package's own class, whose name its processors are looked up by.
_Line: type[mt940.tags.Statement] = type(
    "Statement",
    (mt940.tags.Statement,),
    {
        "pattern": mt940.tags.Statement.pattern.replace("{0,16}", "{0,34}").replace(
            "(\\n?(?P<extra_details>.*))?", "(\\n?(?P<extra_details>(?s:.*)))?"
        )
    },
)


def _strict_date(transactions: Any, tag: Any, tag_dict: dict[str, Any], *args: Any) -> Any:
    """The value date as written, or an error: never a nearby date that was not written."""
    year, month, day = (int(tag_dict[k]) for k in ("year", "month", "day"))
    try:
        dt.date(2000 + year, month, day)
    except ValueError:
        raise ValueError(
            _("value date %(date)s does not exist", date=f"{year:02}{month:02}{day:02}")
        ) from None
    return tag_dict


@register
class MT940(StatementFormat):
    name = "mt940"

    def statements(self) -> Iterator[Statement]:
        for number, tags in self._messages(self.text()):
            yield self._statement(number, tags)

    def _messages(self, text: str) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
        """(line of `:20:`, [(line, tag, content)]) for every statement in the file."""
        tags: list[tuple[int, str, list[str]]] = []
        start = 0
        closed = True
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.replace("\x01", "").replace("\x03", "").rstrip()
            line = BLOCKS.sub("", line)
            if END.search(line):
                line = line[: END.search(line).start()]  # type: ignore[union-attr]
                closed = True
            match = TAG.match(line)
            if match:
                if match["tag"] == "20" and tags:
                    yield start, [(n, t, "\n".join(c)) for n, t, c in tags]
                    tags = []
                if match["tag"] == "20":
                    start = number
                tags.append((number, match["tag"], [line[match.end() :]]))
                closed = False
            elif tags and line.strip() and line.strip() != "-" and not closed:
                tags[-1][2].append(line)
            self.position += len(raw) + 1
        if tags:
            yield start, [(n, t, "\n".join(c)) for n, t, c in tags]

    def _statement(self, start: int, tags: list[tuple[int, str, str]]) -> Statement:
        parsed = mt940.models.Transactions(
            processors={"pre_statement": [_strict_date]},
            tags={61: _Line()},
            options=mt940.Options.all(),
        )
        lines: list[int] = []
        previous = ""
        for line, tag, content in tags:
            if tag == "86" and previous in BALANCE_TAGS:
                continue  # information about the statement, e.g. ING's /SUM/ record
            if tag in UNWRAPPED:
                content = content.replace("\n", "")
            previous = tag
            try:
                parsed.parse(f":{tag}:{content}")
            except (ValueError, RuntimeError, KeyError, TypeError) as exc:
                reason = exc.args[0] if isinstance(exc, ValueError) and exc.args else None
                message = str(reason) if isinstance(reason, str) and "Unable" not in reason else (
                    _(":%(tag)s: cannot be read: %(text)r", tag=tag, text=content[:60])
                )  # fmt: skip
                raise self.fail(message, line) from None
            if tag == "61":
                lines.append(line)
        data = parsed.data
        opening = data.get("final_opening_balance") or data.get("intermediate_opening_balance")
        closing = data.get("final_closing_balance") or data.get("intermediate_closing_balance")
        if "account_identification" not in data or opening is None:
            raise self.fail(_("the statement has no account (:25:) or opening balance (:60F:)"),
                            start)  # fmt: skip
        if closing is None:
            last = tags[-1][0]
            raise self.fail(
                _("the statement starting on line %(start)s has no closing balance (:62F:): "
                  "the file is cut short", start=start),
                last,
            )  # fmt: skip
        number = "/".join(str(data[k]) for k in ("statement_number", "sequence_number")
                          if data.get(k))  # fmt: skip
        account = str(data["account_identification"]).strip()
        entries = [
            Entry(self._values(t.data, account), line)
            for t, line in zip(parsed.transactions, lines, strict=True)
        ]
        return Statement(
            iter(entries),
            account=account,
            currency=parsed.currency,
            number=number or None,
            reference=_text(data.get("transaction_reference")),
            opening=_balance(opening),
            closing=_balance(closing),
            line=start,
        )

    @staticmethod
    def _values(data: dict[str, Any], account: str) -> dict[str, Any]:
        details = str(data.get("transaction_details") or "")
        fields = _subfields(details)
        iban = data.get("applicant_iban") or _cntp(fields.get("CNTP"), 0)
        name = data.get("applicant_name") or _cntp(fields.get("CNTP"), 2) or fields.get("NAME")
        extra = str(data.get("extra_details") or "").strip()
        if not iban and re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", extra):
            iban = extra  # Rabobank: the counterparty IBAN on the :61: continuation line
        customer = str(data.get("customer_reference") or "").strip()
        if not iban and re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", customer):
            iban, customer = customer, ""  # SNS: the counterparty IBAN as customer reference
        if not name and extra and extra != iban and not extra.startswith("/"):
            name = extra
        purpose = " ".join(str(data[k]) for k in ("purpose", "additional_purpose")
                           if data.get(k))  # fmt: skip
        remittance = re.sub(r"^(USTD|STRD)/+", "", fields.get("REMI") or "")
        memo = purpose or remittance or details.strip()
        reference = (
            data.get("end_to_end_reference")
            or fields.get("EREF")
            or (customer if customer.upper() not in ("", "NONREF", "EREF", "PREF") else None)
            or data.get("bank_reference")
        )
        booked = data.get("entry_date") or data["date"]
        return {
            "date": dt.date(booked.year, booked.month, booked.day),
            "value_date": dt.date(data["date"].year, data["date"].month, data["date"].day),
            "amount": data["amount"].amount,
            "currency": data["amount"].currency,
            "counterparty": _text(name),
            "counterparty_iban": _text(iban),
            "memo": memo.replace("\n", " ").strip() or None,
            "reference": _text(reference),
            "account": account,
        }


def _balance(balance: Any) -> Balance:
    d = balance.date
    return Balance(balance.amount.amount, dt.date(d.year, d.month, d.day))


def _subfields(details: str) -> dict[str, str]:
    """`/EREF/x//CNTP/a/b/c///REMI/y/` (ING, Rabobank) as {code: value}."""
    flat = details.replace("\n", "")
    found: dict[str, str] = {}
    parts = SUBFIELD.split(flat)
    for code, value in zip(parts[1::2], parts[2::2], strict=False):
        found.setdefault(code, value.strip("/ "))
    return found


def _cntp(value: str | None, index: int) -> str | None:
    """IBAN (0), BIC (1) or name (2) of a `/CNTP/IBAN/BIC/NAME/CITY` subfield."""
    if not value:
        return None
    parts = value.split("/")
    return parts[index].strip() or None if len(parts) > index else None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
