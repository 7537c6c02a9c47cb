"""Money helpers: Decimal only, rounded by the currency's own number of places."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from babel.numbers import get_currency_precision, list_currencies


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in currency_codes()


@cache
def places(currency: str | None) -> int:
    """Decimal places of a currency: JPY 0, EUR 2, KWD 3; 2 when unknown."""
    if not currency or currency not in currency_codes():
        return 2
    return get_currency_precision(currency)


@cache
def quantum(currency: str | None) -> Decimal:
    return Decimal(1).scaleb(-places(currency))


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def fits_currency(amount: Decimal, currency: str | None) -> bool:
    """True when `amount` has no more decimal places than the currency allows."""
    return round_money(amount, currency) == amount
