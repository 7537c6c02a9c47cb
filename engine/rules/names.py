"""Company names as banks write them, reduced to one comparable form.

Banks upper-case names, spell umlauts out (MUELLER for Müller), drop or abbreviate legal
forms (GmbH, Ltd., 有限公司) and cut names at 27 or 35 characters (the SEPA and SWIFT
field widths). `normal_name` undoes what can be undone, so that an exact dictionary
lookup finds most customers and fuzzy matching only has the rest to do.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The widths at which bank formats cut a counterparty's name.
CUT_WIDTHS = (27, 35)

_SPELT_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})

# Legal forms, as whole words after punctuation became spaces: dropped, so "Müller GmbH",
# "MUELLER GMBH" and "Mueller" compare equal. Longest first (mbh after gmbh's words).
_LEGAL_WORDS = (
    "gesellschaft mit beschraenkter haftung",
    "aktiengesellschaft",
    "kommanditgesellschaft",
    "limited liability company",
    "public limited company",
    "private limited",
    "incorporated",
    "corporation",
    "company",
    "limited",
    "gmbh co kg",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "kgaa",
    "ohg",
    "gbr",
    "ug",
    "ek",
    "e k",
    "ev",
    "e v",
    "se",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "aps",
    "ltd",
    "llc",
    "llp",
    "plc",
    "inc",
    "corp",
    "co",
    "pte",
    "pty",
    "kk",
)
# "Schmidt & Söhne", "Schmidt und Soehne", "Schmidt and Sons": the connector says nothing.
_CONNECTORS = ("und", "and", "et", "y", "e")
_LEGAL = re.compile(
    r"\b(?:" + "|".join(re.escape(w) for w in (*_LEGAL_WORDS, *_CONNECTORS)) + r")\b"
)
# Chinese legal forms are suffixes with no word boundary: 上海某某贸易有限公司.
_CJK_LEGAL = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团公司|公司)$")
_NOT_WORD = re.compile(r"[^\w]+|_")
_SPACES = re.compile(r"\s+")


def spelt_out(text: str) -> str:
    """Lower case, umlauts spelt out (ü -> ue), other accents dropped (é -> e)."""
    lowered = text.casefold().translate(_SPELT_OUT)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=65536)
def normal_name(text: str | None) -> str:
    """The comparable form of a name: `Müller & Söhne GmbH` -> `mueller soehne`."""
    if not text:
        return ""
    plain = spelt_out(text.strip())
    plain = _CJK_LEGAL.sub("", plain)
    plain = _NOT_WORD.sub(" ", plain.replace("&", " "))
    plain = _LEGAL.sub(" ", f" {plain} ")
    plain = _SPACES.sub(" ", plain).strip()
    return plain or _SPACES.sub(" ", _NOT_WORD.sub(" ", spelt_out(text))).strip()


def cut_forms(name: str) -> set[str]:
    """The normal forms of `name` as a bank may have cut it: at each width, before and
    after spelling umlauts out (the bank may do either first)."""
    forms = set()
    for width in CUT_WIDTHS:
        for written in (name, name.upper(), spelt_out(name)):
            if len(written) > width:
                forms.add(normal_name(written[:width]))
    forms.discard("")
    return forms


def is_cut(text: str | None) -> bool:
    """Whether a counterparty's name has exactly a width at which banks cut names."""
    return bool(text) and len(text.strip()) in CUT_WIDTHS  # type: ignore[union-attr]


def normal_iban(text: str | None) -> str:
    """An IBAN without spaces, upper case: the form schwifty stores."""
    return "".join((text or "").split()).upper()


def aliases_of(text: str | None) -> list[str]:
    """The aliases of a customer: one per line (a name or an IBAN it pays from)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def looks_like_iban(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", normal_iban(text)))
