"""Which open invoices one payment settles: the smallest set of the oldest, bounded.

A customer who pays three invoices with one transfer sends their total. Among the
customer's open invoices (oldest first) the search looks for the fewest whose total
lies in [low, high] (the payment, widened by the rule's tolerance); among sets of one
size the first in age order wins, so the answer is deterministic, and a second set of
that size is reported too (then the answer is only a guess).

Meet in the middle: a set of k invoices is its first k//2 (by age) and the rest, so the
totals of all halves are listed once, sorted, and each first half finds the second
halves that complete it by bisection. At most `MAX_CANDIDATES` invoices and sets of up
to `MAX_SIZE` are looked at, which bounds the work whatever the customer holds.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

MAX_CANDIDATES = 16
MAX_SIZE = 4
MAX_STEPS = 50_000
SCALE = 4  # amounts compared as whole ten-thousandths


@dataclass(frozen=True)
class SubsetResult:
    picked: tuple[int, ...] | None  # positions in the amounts given; None: no set fits
    exhausted: bool = False  # the step budget ran out before the search was complete
    other: tuple[int, ...] | None = None  # another set of the same size that fits too


class _Halves:
    """Every set of s positions with its total: in age order (`heads`) and sorted by total
    (`of`), each built on first use. Sets of one and two, all a search up to four needs,
    are built without the general loop."""

    def __init__(self, values: list[int]):
        self.values = values
        self.by_size: dict[int, tuple[list[int], list[tuple[int, ...]]]] = {}
        self.heads_by_size: dict[int, list[tuple[tuple[int, ...], int]]] = {}

    def heads(self, size: int) -> list[tuple[tuple[int, ...], int]]:
        """Every set of `size` positions in age order, with its total."""
        known = self.heads_by_size.get(size)
        if known is None:
            v, n = self.values, len(self.values)
            if size == 0:
                known = [((), 0)]
            elif size == 1:
                known = [((i,), v[i]) for i in range(n)]
            elif size == 2:
                known = [((i, j), v[i] + v[j]) for i in range(n) for j in range(i + 1, n)]
            else:
                known = [(c, sum(v[i] for i in c)) for c in itertools.combinations(range(n), size)]
            self.heads_by_size[size] = known
        return known

    def of(self, size: int) -> tuple[list[int], list[tuple[int, ...]]]:
        known = self.by_size.get(size)
        if known is None:
            ordered = sorted(self.heads(size), key=operator.itemgetter(1))
            known = self.by_size[size] = ([t for _c, t in ordered], [c for c, _t in ordered])
        return known


@functools.lru_cache(maxsize=4096)
def _halves(values: tuple[int, ...]) -> _Halves:
    """The halves of one list of amounts, kept: the lines of one customer share them."""
    return _Halves(list(values))


def smallest_fitting_set(
    amounts: Sequence[Decimal],
    low: Decimal,
    high: Decimal,
    max_size: int = MAX_SIZE,
    max_steps: int = MAX_STEPS,
) -> SubsetResult:
    """The positions of the fewest amounts (earliest first at equal size) whose total lies
    in [low, high], and another set of that size when there is one. Amounts are positive."""
    values = [int(a.scaleb(SCALE)) for a in amounts[:MAX_CANDIDATES]]
    lo, hi = (
        int(low.scaleb(SCALE).to_integral_value(rounding="ROUND_CEILING")),
        int(high.scaleb(SCALE).to_integral_value(rounding="ROUND_FLOOR")),
    )
    ascending = sorted(values)
    halves = _halves(tuple(values))
    steps = 0
    for size in range(1, min(max_size, len(values)) + 1):
        if sum(ascending[:size]) > hi:
            break  # every bigger set is bigger still
        if sum(ascending[-size:]) < lo:
            continue
        first_size = size // 2
        totals, combos = halves.of(size - first_size)
        found: list[tuple[int, ...]] = []
        # In age order (combinations come lexicographically): the first set found is the oldest.
        for head, base in halves.heads(first_size):
            steps += 1
            if steps > max_steps:
                return SubsetResult(found[0] if found else None, exhausted=True)
            start = bisect.bisect_left(totals, lo - base)
            end = bisect.bisect_right(totals, hi - base, start)
            if start == end:
                continue  # most heads: no second half completes them
            last = head[-1] if head else -1
            tails = sorted(combos[j] for j in range(start, end) if combos[j][0] > last)
            for tail in tails[: 2 - len(found)]:
                found.append((*head, *tail))
            if len(found) == 2:
                return SubsetResult(found[0], other=found[1])
        if found:
            return SubsetResult(found[0])
    return SubsetResult(None)
