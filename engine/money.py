"""Money helpers: Decimal only, rounded by the currency's own number of places."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from babel.numbers import get_currency_precision, list_currencies


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in currency_codes()


# ISO 4217 minor units where CLDR's (Babel's) display digits drop them: banks book HUF
# with fillér (a Raiffeisen statement's fee of HUF 3892.77), so amounts keep 2 places.
ISO_MINOR_UNITS = {"HUF": 2}


@cache
def places(currency: str | None) -> int:
    """Decimal places of a currency: JPY 0, EUR 2, KWD 3; 2 when unknown."""
    if not currency or currency not in currency_codes():
        return 2
    return ISO_MINOR_UNITS.get(currency, get_currency_precision(currency))


@cache
def quantum(currency: str | None) -> Decimal:
    return Decimal(1).scaleb(-places(currency))


# Symbols that name one currency; $ and ¥ name several, so they name none.
SYMBOLS = {"€": "EUR", "£": "GBP"}
_CODE = re.compile(r"^\s*([A-Za-z]{3})(?![A-Za-z])|(?<![A-Za-z])([A-Za-z]{3})\s*$")


def named_currency(text: str) -> str | None:
    """The currency a money text names (`JPY 1000`, `1000 eur`, `€12`), if any."""
    found = _CODE.search(text)
    if found:
        code = (found.group(1) or found.group(2)).upper()
        return code if is_currency(code) else None
    return next((code for symbol, code in SYMBOLS.items() if symbol in text), None)


class Amount(Decimal):
    """An amount whose text named its currency: the Repository refuses it on a record
    in another currency, instead of taking JPY 1000 for 1000 EUR."""

    currency: str

    def __new__(cls, value: Any, currency: str) -> Amount:
        amount = super().__new__(cls, value)
        amount.currency = currency
        return amount


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def fits_currency(amount: Decimal, currency: str | None) -> bool:
    """True when `amount` has no more decimal places than the currency allows."""
    return round_money(amount, currency) == amount
