"""References found in remittance text, reduced to one normal form.

A payer writes an invoice number as `INV-000123`, `INV000123`, `inv 123` or `#000123`;
the normal form keeps the significant part (`123`: upper case, letters and digits only,
leading zeros of numbers dropped), computed the same way for the invoice's own number,
so one dictionary lookup finds the invoice. ISO 11649 creditor references (`RF18 5390
0754 7034`) count only when their check digits are right; their payload is then
normalised like any other reference. `within_one_typo` tells a one-character slip.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import regex
from rapidfuzz.distance import OSA

from engine import patterns

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")
# Keys shorter than this are not matched with a typo: one slip in "12" is any number.
MIN_TYPO_LENGTH = 4
# Texts whose references an extractor remembers (then it starts afresh): a few MB at most.
KEYS_CACHE_SIZE = 20_000


@functools.lru_cache(maxsize=65536)
def normal_reference(text: str | None) -> str:
    """`INV-000123` -> `INV123`; `000123` -> `123`: what two spellings of one number share."""
    if not text:
        return ""
    compact = _NOT_ALNUM.sub("", text.upper())
    return _LEADING_ZEROS.sub("", compact)


# -- ISO 11649 creditor references -----------------------------------------------------------

# RF, two check digits, then the reference: one token, or groups of up to four characters
# separated by single spaces (the printed form), each group ending at a word's end.
_RF = re.compile(
    r"\bRF ?(\d{2}) ?([0-9A-Z]{1,21}(?![0-9A-Z])(?: [0-9A-Z]{1,4}(?![0-9A-Z]))*)", re.IGNORECASE
)


def _numeric(text: str) -> int:
    """Letters as numbers (A=10 ... Z=35), as ISO 7064 MOD 97-10 reads them."""
    return int("".join(str(int(c, 36)) for c in text))


def rf_valid(reference: str) -> bool:
    """Whether `RF18539007547034` (spaces allowed) has the right check digits."""
    compact = re.sub(r"\s+", "", reference).upper()
    if not re.fullmatch(r"RF\d{2}[0-9A-Z]{1,21}", compact):
        return False
    return _numeric(compact[4:] + compact[:4]) % 97 == 1


def rf_reference(payload: str) -> str:
    """The creditor reference for `payload` (`539007547034` -> `RF18539007547034`)."""
    compact = re.sub(r"\s+", "", payload).upper()
    check = 98 - _numeric(compact + "RF00") % 97
    return f"RF{check:02d}{compact}"


def rf_payloads(text: str) -> Iterator[str]:
    """The payloads of the valid creditor references in `text`.

    Written in groups of four, a reference may be followed by more short words; the
    longest run of whole groups with valid check digits counts.
    """
    if "rf" not in text and "RF" not in text and "Rf" not in text and "rF" not in text:
        return
    for found in _RF.finditer(text):
        check, groups = found.group(1), found.group(2).upper().split(" ")
        for end in range(len(groups), 0, -1):
            body = "".join(groups[:end])
            if len(body) <= 21 and rf_valid(f"RF{check}{body}"):
                yield body
                break


# -- patterns written in the rules -------------------------------------------------------------


@dataclass(frozen=True)
class Extractor:
    """One way of reading references out of a text: a pattern, RF references, or the
    whole text (an end-to-end id compared as it is)."""

    kind: str  # pattern | rf | whole
    pattern: str | None = None

    def raw(self, text: str | None) -> list[str]:
        """The references as written in `text`, in order of appearance."""
        if not text:
            return []
        if self.kind == "rf":
            return list(rf_payloads(text))
        if self.kind == "whole":
            return [text.strip()]
        try:
            found = list(self._compiled.finditer(text, timeout=patterns.TIMEOUT_SECONDS))
        except TimeoutError:
            return []  # a pattern that runs away on one text finds nothing in it
        return [_group(m) for m in found]

    @functools.cached_property
    def _compiled(self) -> regex.Pattern[str]:
        """The pattern compiled once per extractor (a run reads it on every line)."""
        assert self.pattern is not None
        return patterns.compiled(self.pattern)

    def keys(self, text: str | None) -> list[str]:
        """The normal forms of the references in `text`, first seen first, no repeats.

        Remembered per text: a statement repeats many (`NOTPROVIDED`, `Payment`, a
        monthly fee's memo), and a pattern's search costs more than a dictionary probe."""
        if not text:
            return []
        cache = self._keys_cache
        known = cache.get(text)
        if known is None:
            if len(cache) >= KEYS_CACHE_SIZE:
                cache.clear()
            known = cache[text] = tuple(self._read_keys(text))
        return list(known)

    @functools.cached_property
    def _keys_cache(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _read_keys(self, text: str) -> list[str]:
        found: dict[str, None] = {}
        for raw in self.raw(text):
            key = normal_reference(raw)
            if key:
                found[key] = None
        return list(found)

    def target_keys(self, value: str | None) -> list[str]:
        """The normal forms under which a target's own reference (the invoice number) is
        found: the pattern's part of it when the pattern finds one; else the whole value,
        and its number without a letter prefix (an RF payload of `INV-000123` may be
        `INV000123` or `000123`)."""
        if not value:
            return []
        if self.kind == "pattern":
            first = self._first_key(value)  # each number once: not worth remembering
            if first:
                return [first]
        whole = normal_reference(value)
        digits = _PREFIX.sub("", whole)
        return [whole] if digits in ("", whole) else [whole, digits]

    def _first_key(self, value: str) -> str | None:
        """The first normal form the pattern reads in `value`: one search, where reading
        all of them walks the whole value again (an index reads 160,000 numbers)."""
        try:
            found = self._compiled.search(value, timeout=patterns.TIMEOUT_SECONDS)
        except TimeoutError:
            return None
        if found is None:
            return None
        key = normal_reference(_group(found))
        if key:
            return key
        keys = self._read_keys(value)  # the first match reads as nothing: the next ones
        return keys[0] if keys else None


_PREFIX = re.compile(r"^[A-Z]+(?=[0-9]+$)")


def _group(found: regex.Match[str]) -> str:
    """The first group that took part in the match, else the whole match."""
    for group in found.groups():
        if group:
            return group
    return found.group(0)


def within_one_typo(a: str, b: str) -> bool:
    """One character wrong, missing, extra, or two neighbours swapped (not in short keys)."""
    if min(len(a), len(b)) < MIN_TYPO_LENGTH:
        return a == b
    return OSA.distance(a, b, score_cutoff=1) <= 1


_DIGITS = "0123456789"
_ALNUM = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def one_typo_away(key: str) -> set[str]:
    """Every key one typo from `key`: a character wrong, missing, extra, or two neighbours
    swapped (digits only for a number). Looked up in the index of exact keys, these find
    the invoices a slip could have meant without an index of their own."""
    if len(key) < MIN_TYPO_LENGTH:
        return set()
    alphabet = _DIGITS if key.isdigit() else _ALNUM
    found = {key[:i] + key[i + 1 :] for i in range(len(key))}
    found |= {key[:i] + key[i + 1] + key[i] + key[i + 2 :] for i in range(len(key) - 1)}
    for i in range(len(key) + 1):
        for c in alphabet:
            found.add(key[:i] + c + key[i:])
            if i < len(key):
                found.add(key[:i] + c + key[i + 1 :])
    found.discard(key)
    return {k for k in found if len(k) >= MIN_TYPO_LENGTH and not k.startswith("0")}
