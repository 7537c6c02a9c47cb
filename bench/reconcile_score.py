"""Precision and recall over (bank line, invoice) pairs, overall and per kind of line.

A pair is right when the line really pays that invoice (the truth file). Precision is
right pairs / pairs found, recall right pairs / true pairs. Lines that pay nothing
(duplicates, other income) only count against precision, when something is matched
to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Pair = tuple[int, int]  # (bank line id, invoice id)


@dataclass(frozen=True)
class Score:
    found: int
    right: int
    true: int

    @property
    def precision(self) -> float:
        return self.right / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.true if self.true else 1.0


def score(found: Iterable[Pair], truth: set[Pair]) -> Score:
    found = set(found)
    return Score(found=len(found), right=len(found & truth), true=len(truth))


def by_kind(found: Iterable[Pair], truth: set[Pair], kinds: Mapping[int, str]) -> dict[str, Score]:
    """The score of each kind of line alone (a kind that pays nothing has recall 1.0)."""
    found_by: dict[str, set[Pair]] = defaultdict(set)
    truth_by: dict[str, set[Pair]] = defaultdict(set)
    for pair in found:
        found_by[kinds.get(pair[0], "?")].add(pair)
    for pair in truth:
        truth_by[kinds[pair[0]]].add(pair)
    names = sorted(set(kinds.values()) | set(found_by))
    return {k: score(found_by[k], truth_by[k]) for k in names}


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"
