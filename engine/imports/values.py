"""Amounts and dates as banks write them: `1.234,50`, `+31070,11`, `9/4/2018`, `20YYMMDD`.

Amounts are read with Babel's `parse_decimal` in strict mode under the locale whose
separators the profile's `decimal_format` shows, so a misplaced grouping (`1,23,4.5`)
is an error rather than a silent guess. Anything that is not plainly a number
(`$120`, `1e5`, `NaN`) is refused: money is never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from babel.numbers import NumberFormatError, parse_decimal

from engine.i18n import _

# decimal_format (an example of how the file writes 1234.56) -> Babel locale, group separators
DECIMAL_FORMATS: dict[str, tuple[str, str]] = {
    "1234.56": ("en", ""),
    "1,234.56": ("en", ","),
    "1234,56": ("de", ""),
    "1.234,56": ("de", "."),
    "1 234,56": ("fr", " \u00a0\u202f"),
    "1'234.56": ("de_CH", "'\u2019"),
}
PLAIN = re.compile(r"[+-]?[0-9][0-9.,' \u00a0\u202f\u2019]*|[+-]?[.,][0-9]+")
DASHES = re.compile(r"-+")


class ValueProblem(ValueError):
    """A cell that cannot be read; the message says what was expected."""


def clean(text: str | None) -> str:
    """A cell without its padding (spaces, tabs); a cell of only dashes is empty."""
    text = (text or "").strip(" \t\r\n\u00a0\u3000")
    return "" if DASHES.fullmatch(text) else text


def amount(text: str, decimal_format: str = "1234.56") -> Decimal:
    """The Decimal a cell writes in `decimal_format`; ValueProblem when it is not one."""
    locale, groups = DECIMAL_FORMATS[decimal_format]
    given = text.strip()
    compact = given.replace(" ", "") if " " not in groups else given
    if not PLAIN.fullmatch(compact):
        raise ValueProblem(_("%(value)r is not an amount", value=given))
    if locale == "fr":
        compact = re.sub("[ \u00a0]", "\u202f", compact)
    elif locale == "de_CH":
        compact = compact.replace("\u2019", "'")
    elif not groups and locale == "en" and "," in compact:
        raise ValueProblem(_("%(value)r is not an amount like %(example)s", value=given,
                             example=decimal_format))  # fmt: skip
    try:
        value = parse_decimal(compact, locale, strict=True)
    except NumberFormatError:
        raise ValueProblem(
            _("%(value)r is not an amount like %(example)s", value=given, example=decimal_format)
        ) from None
    if not value.is_finite():
        raise ValueProblem(_("%(value)r is not an amount", value=given))
    return value


def date(text: str, formats: tuple[str, ...]) -> dt.date:
    """The date a cell writes in one of `formats` (strptime codes); ValueProblem otherwise."""
    given = text.strip()
    for fmt in formats:
        try:
            return dt.datetime.strptime(given, fmt).date()
        except ValueError:
            continue
    raise ValueProblem(
        _("%(value)r is not a date like %(formats)s", value=given, formats=" or ".join(formats))
    )
