"""Regular expressions for decimal strings within bounds.

JSON Schema bounds (`minimum`, `maximum`) apply to numbers only, and the API writes money
and decimals as strings ("100.50") so that they stay exact. These patterns carry a
field's `min` and `max` into its write schema anyway, so that a client generated from
the document, and a fuzzer, know that an allocation of "0" is refused before sending it.

Each pattern judges only the value of a string that already has the decimal grammar
(`-?digits(.digits)?`, which the field's own pattern checks): the two go into an
`allOf` together. Leading zeros in the whole part are allowed, as `Decimal` reads them.
Digits are `[0-9]`, never `\\d`: Python's `re` reads that as any Unicode digit, and the
server and a client must agree on every string.
"""

from __future__ import annotations

from decimal import Decimal


def _digits_between(low: int, high: int) -> str:
    """One digit from `low` to `high`, or "" when there is none."""
    if low > high:
        return ""
    return str(low) if low == high else f"[{low}-{high}]"


def _whole_above(whole: str) -> str:
    """Whole numbers written without leading zeros that are above `whole`."""
    longer = rf"[1-9][0-9]{{{len(whole)},}}"
    same = []
    for i, digit in enumerate(whole):
        higher = _digits_between(int(digit) + 1, 9)
        if higher:
            rest = len(whole) - i - 1
            same.append(whole[:i] + higher + (rf"[0-9]{{{rest}}}" if rest else ""))
    return "|".join([longer, *same])


def _whole_below(whole: str) -> str:
    """Whole numbers above zero, written without leading zeros, that are below `whole`."""
    out = []
    if len(whole) > 1:
        out.append(rf"[1-9][0-9]{{0,{len(whole) - 2}}}")
    for i, digit in enumerate(whole):
        lower = _digits_between(1 if i == 0 else 0, int(digit) - 1)
        if lower:
            rest = len(whole) - i - 1
            out.append(whole[:i] + lower + (rf"[0-9]{{{rest}}}" if rest else ""))
    return "|".join(out)


def _fraction_at_least(fraction: str) -> str:
    """A fraction part (with its point, or none for .0) worth at least `.fraction`."""
    if not fraction.strip("0"):
        return r"(?:\.[0-9]+)?"
    alternatives = []
    for i, digit in enumerate(fraction):
        higher = _digits_between(int(digit) + 1, 9)
        if higher:
            alternatives.append(fraction[:i] + higher + r"[0-9]*")
    alternatives.append(fraction.rstrip("0") + "[0-9]*")
    return r"\.(?:" + "|".join(alternatives) + ")"


def _fraction_at_most(fraction: str) -> str:
    """A fraction part (with its point, or none) worth at most `.fraction`."""
    alternatives = []
    for i, digit in enumerate(fraction):
        lower = _digits_between(0, int(digit) - 1)
        if lower:
            alternatives.append(fraction[:i] + lower + r"[0-9]*")
    significant = fraction.rstrip("0")
    prefixes = "".join(f"(?:{d}" for d in significant) + ")?" * len(significant)
    alternatives.append("0*" if not significant else f"{prefixes}0*")
    return r"(?:\.(?:" + "|".join(alternatives) + "))?"


def _parts(bound: Decimal) -> tuple[str, str]:
    """The whole part (no leading zeros) and the fraction digits of a bound >= 0."""
    whole, _, fraction = format(abs(bound), "f").partition(".")
    return whole.lstrip("0") or "0", fraction or "0"


def _magnitude_at_least(bound: Decimal) -> str:
    whole, fraction = _parts(bound)
    above = _whole_above(whole) if whole != "0" else r"[1-9][0-9]*"
    equal = "0+" if whole == "0" else "0*" + whole
    return rf"(?:0*(?:{above})(?:\.[0-9]+)?|{equal}{_fraction_at_least(fraction)})"


def _magnitude_at_most(bound: Decimal) -> str:
    whole, fraction = _parts(bound)
    below = _whole_below(whole) if whole != "0" else ""
    smaller = rf"0*(?:{below})(?:\.[0-9]+)?|" if below else ""
    zero = r"0+(?:\.[0-9]+)?|" if whole != "0" else ""
    equal = "0+" if whole == "0" else "0*" + whole
    return rf"(?:{smaller}{zero}{equal}{_fraction_at_most(fraction)})"


def at_least(bound: Decimal) -> str:
    """A pattern for decimal strings worth `bound` or more."""
    if bound > 0:
        return rf"^{_magnitude_at_least(bound)}$"
    return rf"^(?:[^-]|-{_magnitude_at_most(bound)}$)"


def at_most(bound: Decimal) -> str:
    """A pattern for decimal strings worth `bound` or less."""
    if bound >= 0:
        return rf"^(?:-|{_magnitude_at_most(bound)}$)"
    return rf"^-{_magnitude_at_least(bound)}$"
