"""Who paid: the customer of a bank line, found by IBAN, name, alias, mapping or similarity.

Built once per run from all customers (one query). Exact lookups are dictionary probes on
normal forms (engine.rules.names); a name cut by the bank at 27 or 35 characters is
found through an index of each customer's name cut the same way; fuzzy similarity
(RapidFuzz) runs only when nothing exact is found, and once per distinct counterparty.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz, process

from engine import patterns
from engine.appdef.matching import CustomerFinding
from engine.rules import names

# Two customers whose names are this close to a counterparty (percentage points) are
# equally likely: the match is ambiguous.
TIE = Decimal(2)


@dataclass(frozen=True)
class CustomerHit:
    customer: int
    method: str  # iban | name | alias | mapping | fuzzy
    score: Decimal  # 100 for exact ways
    matched: str  # what it matched: the IBAN, the alias, the mapping's pattern


def _sorted_words(text: str) -> str:
    return " ".join(sorted(text.split()))


def _add(index: dict[str, set[int]], key: str, customer: int) -> None:
    if key:
        index.setdefault(key, set()).add(customer)


class CustomerIndex:
    """Every way of recognising a customer, for one run."""

    def __init__(self, finding: CustomerFinding, rows: Iterable[Mapping[str, Any]]):
        self.finding = finding
        self.by_name: dict[str, set[int]] = {}
        self.by_alias: dict[str, set[int]] = {}
        self.by_iban: dict[str, set[int]] = {}
        self.by_cut: dict[str, set[int]] = {}
        self.by_exact_name: dict[str, int] = {}
        self.known_names: dict[int, set[str]] = {}  # normal names and aliases, per customer
        self.known_ibans: dict[int, set[str]] = {}
        for row in rows:
            self.add(row)
        self._choices = sorted(self.by_name.keys() | self.by_alias.keys())
        # token_sort_ratio is ratio() over the words sorted: sorted once here, not per call.
        self._sorted_choices = [_sorted_words(c) for c in self._choices]
        # The same by length (then place): a name is compared only with those whose length
        # lets ratio() reach the threshold at all.
        self._length_order = sorted(
            range(len(self._choices)), key=lambda i: len(self._sorted_choices[i])
        )
        self._length_choices = [self._sorted_choices[i] for i in self._length_order]
        self._lengths = [len(c) for c in self._length_choices]
        self._cache: dict[tuple[str, str], list[CustomerHit]] = {}
        self._fuzzy_cache: dict[str, list[CustomerHit]] = {}  # by normal name
        self._mappings = [(patterns.compiled(m.pattern), m) for m in finding.mappings]

    def add(self, row: Mapping[str, Any]) -> None:
        f, cid = self.finding, row["id"]
        name = row.get(f.name) or ""
        self.by_exact_name[str(name)] = cid
        normal = names.normal_name(name)
        _add(self.by_name, normal, cid)
        self.known_names.setdefault(cid, set()).add(normal)
        for form in names.cut_forms(str(name)):
            _add(self.by_cut, form, cid)
        if f.iban and row.get(f.iban):
            iban = names.normal_iban(row[f.iban])
            _add(self.by_iban, iban, cid)
            self.known_ibans.setdefault(cid, set()).add(iban)
        for alias in names.aliases_of(row.get(f.aliases) if f.aliases else None):
            if names.looks_like_iban(alias):
                _add(self.by_iban, names.normal_iban(alias), cid)
                self.known_ibans.setdefault(cid, set()).add(names.normal_iban(alias))
            else:
                _add(self.by_alias, names.normal_name(alias), cid)
                self.known_names[cid].add(names.normal_name(alias))
                for form in names.cut_forms(alias):
                    _add(self.by_cut, form, cid)

    def find(self, line: Mapping[str, Any]) -> list[CustomerHit]:
        """Every customer the line may come from, best first (several: a tie)."""
        f = self.finding
        counterparty = str(line.get(f.counterparty) or "") if f.counterparty else ""
        iban = names.normal_iban(line.get(f.counterparty_iban)) if f.counterparty_iban else ""
        key = (counterparty, iban)
        hits = self._cache.get(key)
        if hits is None:
            hits = self._cache[key] = self._find(counterparty, iban)
        mapped = self._mapped(line) if self._mappings else []
        if not mapped:
            return list(hits)
        taken = {m.customer for m in mapped}
        return [*mapped, *(h for h in hits if h.customer not in taken)]

    def _find(self, counterparty: str, iban: str) -> list[CustomerHit]:
        hits: list[CustomerHit] = []
        hundred = Decimal(100)
        for cid in sorted(self.by_iban.get(iban, ())) if iban else ():
            hits.append(CustomerHit(cid, "iban", hundred, iban))
        normal = names.normal_name(counterparty)
        if not normal:
            return hits
        seen = {h.customer for h in hits}
        for method, index in (("name", self.by_name), ("alias", self.by_alias)):
            for cid in sorted(index.get(normal, ())):
                if cid not in seen:
                    hits.append(CustomerHit(cid, method, hundred, counterparty))
                    seen.add(cid)
        if not any(h.method in ("name", "alias") for h in hits) and names.is_cut(counterparty):
            for cid in sorted(self.by_cut.get(normal, ())):
                if cid not in seen:
                    hits.append(CustomerHit(cid, "name", Decimal(99), counterparty))
                    seen.add(cid)
        if not hits:
            hits.extend(self._fuzzy(normal))
        return hits

    def _fuzzy(self, normal: str) -> list[CustomerHit]:
        """The customers whose names are most similar to `normal`, above the threshold:
        worked out once per name (a payer's lines come from several IBANs, each of which
        is looked up as a new counterparty)."""
        hits = self._fuzzy_cache.get(normal)
        if hits is None:
            hits = self._fuzzy_cache[normal] = self._most_similar(normal)
        return hits

    def _most_similar(self, normal: str) -> list[CustomerHit]:
        threshold = float(self.finding.fuzzy_threshold)
        query = _sorted_words(normal)
        start, end = self._reachable(query, threshold)
        scored = process.extract(
            query,
            self._length_choices[start:end],
            scorer=fuzz.ratio,
            processor=None,
            limit=None,
            score_cutoff=threshold,
        )
        # Best first, equals in the order of the choices: what extract() over all gives.
        order = self._length_order
        found = sorted(((-score, order[start + i]) for _c, score, i in scored))[:4]
        hits: list[CustomerHit] = []
        best: Decimal | None = None
        for negative, index in found:
            score = -negative
            choice = self._choices[index]
            rounded = Decimal(str(round(score, 1)))
            best = rounded if best is None else best
            if best - rounded > TIE:
                break
            for cid in sorted(self.by_name.get(choice, set()) | self.by_alias.get(choice, set())):
                if all(h.customer != cid for h in hits):
                    hits.append(CustomerHit(cid, "fuzzy", rounded, choice))
        return hits

    def _reachable(self, query: str, threshold: float) -> tuple[int, int]:
        """The slice of the choices by length that can score `threshold`: ratio() is
        100 * (1 - d / (len1 + len2)), and the distance d is at least the lengths' gap."""
        slack = 1 - threshold / 100
        if not 0 <= slack < 1:
            return 0, len(self._lengths)
        size = len(query)
        shortest = math.floor(size * (1 - slack) / (1 + slack)) - 1  # a character of margin
        longest = math.ceil(size * (1 + slack) / (1 - slack)) + 1
        start = bisect.bisect_left(self._lengths, shortest)
        return start, bisect.bisect_right(self._lengths, longest, start)

    def closest(self, line: Mapping[str, Any]) -> tuple[str, Decimal] | None:
        """The most similar known name below the threshold, to explain a miss."""
        f = self.finding
        normal = names.normal_name(str(line.get(f.counterparty) or "")) if f.counterparty else ""
        if not normal or not self._choices:
            return None
        found = process.extractOne(normal, self._choices, scorer=fuzz.token_sort_ratio)
        return (found[0], Decimal(str(round(found[1], 1)))) if found else None

    def _mapped(self, line: Mapping[str, Any]) -> list[CustomerHit]:
        hits = []
        for compiled, mapping in self._mappings:
            cid = self.by_exact_name.get(mapping.customer)
            if cid is None:
                continue
            for field in mapping.in_fields:
                text = line.get(field)
                if not text:
                    continue
                try:
                    found = compiled.search(str(text), timeout=patterns.TIMEOUT_SECONDS)
                except TimeoutError:
                    found = None
                if found:
                    hits.append(CustomerHit(cid, "mapping", Decimal(100), mapping.pattern))
                    break
        return hits

    def knows(self, customer: int, counterparty: str | None, iban: str | None) -> dict[str, str]:
        """What of a line's counterparty a customer does not have yet: {'name'/'iban': value}."""
        new = {}
        if counterparty and names.normal_name(counterparty) not in self.known_names.get(
            customer, set()
        ):
            new["name"] = counterparty.strip()
        if iban and names.normal_iban(iban) not in self.known_ibans.get(customer, set()):
            new["iban"] = names.normal_iban(iban)
        return new
