"""Invoice references as payers write them: many spellings, typos, ISO 11649 RF references.

An invoice is numbered `INV-000123`; a payer writes `INV-000123`, `INV000123`, `inv 123`,
`#000123`, or the RF creditor reference printed on the invoice (`RF18000123`, its check
digits computed as ISO 11649 says, sometimes printed in groups of four), and now and then
gets one digit wrong. A wrong digit in an RF reference breaks its check digits, which is
how a matcher can tell it was mistyped.
"""

from __future__ import annotations

import random
from collections.abc import Callable

PREFIX = "INV"
SPELLINGS = ("canonical", "no_dash", "lower_unpadded", "hash", "rf", "rf_grouped")
SPELLING_WEIGHTS = (40, 18, 17, 10, 9, 6)


def number_width(total: int) -> int:
    """Digits of the invoice numbers: six, or more when there are a million invoices or more."""
    return max(6, len(str(total)))


def invoice_number(n: int, width: int) -> str:
    return f"{PREFIX}-{n:0{width}d}"


def _numeric(text: str) -> int:
    """Letters as ISO 7064 numbers (A=10 ... Z=35), digits as themselves."""
    return int("".join(str(int(ch, 36)) for ch in text.upper()))


def rf_reference(payload: str) -> str:
    """The ISO 11649 creditor reference of `payload` (1-21 letters or digits)."""
    if not (1 <= len(payload) <= 21 and payload.isalnum()):
        raise ValueError(f"an RF payload is 1-21 letters or digits, not {payload!r}")
    check = 98 - _numeric(payload + "RF00") % 97
    return f"RF{check:02d}{payload.upper()}"


def rf_valid(reference: str) -> bool:
    """Whether an RF reference (spaces allowed) has the right check digits."""
    ref = reference.replace(" ", "").upper()
    if not (ref.startswith("RF") and 5 <= len(ref) <= 25 and ref.isalnum()):
        return False
    return _numeric(ref[4:] + ref[:4]) % 97 == 1


def grouped(reference: str) -> str:
    """Printed in groups of four, as on a payment slip: RF18 0001 23."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


# Each spelling from the invoice's number and its zero-padded digits.
_SPELL: dict[str, Callable[[int, str], str]] = {
    "canonical": lambda n, digits: f"{PREFIX}-{digits}",
    "no_dash": lambda n, digits: f"{PREFIX}{digits}",
    "lower_unpadded": lambda n, digits: f"{PREFIX.lower()} {n}",
    "hash": lambda n, digits: f"#{digits}",
    "rf": lambda n, digits: rf_reference(digits),
    "rf_grouped": lambda n, digits: grouped(rf_reference(digits)),
}
assert tuple(_SPELL) == SPELLINGS


def spell(n: int, width: int, style: str) -> str:
    """Invoice `n` written in one of SPELLINGS."""
    try:
        return _SPELL[style](n, f"{n:0{width}d}")
    except KeyError:
        raise ValueError(f"unknown spelling {style!r}") from None


def typo(text: str, rng: random.Random) -> str:
    """One digit of `text` changed, or two neighbouring different digits swapped."""
    places = [i for i, ch in enumerate(text) if ch.isdigit()]
    swaps = [i for i in places if i + 1 in places and text[i] != text[i + 1]]
    if swaps and rng.random() < 0.5:
        i = rng.choice(swaps)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    i = rng.choice(places)
    digit = rng.choice([d for d in "0123456789" if d != text[i]])
    return text[:i] + digit + text[i + 1 :]


def typo_in_digits(n: int, width: int, style: str, rng: random.Random) -> str:
    """The spelling of `n` with one wrong digit in the number (for RF: in the payload, so
    the check digits no longer fit)."""
    written = spell(n, width, style)
    if style.startswith("rf"):
        compact = written.replace(" ", "")
        wrong = compact[:4] + typo(compact[4:], rng)
        return grouped(wrong) if style == "rf_grouped" else wrong
    head, digits = _split_digits(written)
    return head + typo(digits, rng)


def _split_digits(written: str) -> tuple[str, str]:
    i = len(written)
    while i and written[i - 1].isdigit():
        i -= 1
    return written[:i], written[i:]


MEMOS = (
    "{refs}",
    "Payment {refs}",
    "Rechnung {refs} vom {date}",
    "Zahlung {refs} Kd-Nr {customer}",
    "EREF+{e2e} SVWZ+{refs}",
    "Invoice {refs} thank you",
    "Facture {refs}",
    "Fattura n. {refs}",
    "货款 {refs}",
    "{refs} / {customer}",
)
NO_REF_MEMOS = (
    "Payment",
    "Zahlung Kd-Nr {customer}",
    "Überweisung",
    "EREF+{e2e} SVWZ+Lieferung {date}",
    "货款",
    "Monthly fee",
    "Abschlag {date}",
    "",
)
OTHER_MEMOS = (
    "Zinsen {date}",
    "Erstattung Rechnung {other}",
    "Gutschrift Bonus",
    "Card settlement {e2e}",
    "Refund order {other}",
    "Steuererstattung",
    "Miete Stellplatz",
)
