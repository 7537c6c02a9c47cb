"""Which open invoices one payment settles: the smallest set of the oldest, bounded.

A customer who pays three invoices with one transfer sends their total. Among the
customer's open invoices (oldest first) the search looks for the fewest whose total
fits the payment; among sets of one size the first in age order wins, so the answer is
deterministic. It looks at no more than `MAX_CANDIDATES` invoices and `MAX_STEPS` partial
sums: a customer with hundreds of open invoices costs the same bounded time, and the
search says it gave up rather than trying for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

MAX_CANDIDATES = 24
MAX_SIZE = 6
MAX_STEPS = 20_000


@dataclass(frozen=True)
class SubsetResult:
    picked: tuple[int, ...] | None  # positions in the amounts given; None: no set fits
    exhausted: bool = False  # the step budget ran out before the search was complete
    other: tuple[int, ...] | None = None  # another set of the same size that fits too


def smallest_fitting_set(
    amounts: Sequence[Decimal],
    fits: Callable[[Decimal], bool],
    ceiling: Decimal,
    max_size: int = MAX_SIZE,
    max_steps: int = MAX_STEPS,
) -> SubsetResult:
    """The positions of the fewest amounts (earliest first at equal size) whose total
    `fits`, and another set of that size when there is one (then the answer is a guess);
    `ceiling` is the largest total that could fit (amounts are positive), so partial sums
    beyond it are not explored."""
    amounts = list(amounts[:MAX_CANDIDATES])
    steps = 0
    for size in range(1, min(max_size, len(amounts)) + 1):
        stack: list[tuple[int, Decimal, tuple[int, ...]]] = [(0, Decimal(0), ())]
        first: tuple[int, ...] | None = None
        # Depth first, lowest positions first: the first set found is the oldest.
        while stack:
            start, total, chosen = stack.pop()
            if len(chosen) == size:
                if fits(total):
                    if first is not None:
                        return SubsetResult(first, other=chosen)
                    first = chosen
                continue
            steps += 1
            if steps > max_steps:
                return SubsetResult(first, exhausted=True)
            need = size - len(chosen)
            for i in range(len(amounts) - need, start - 1, -1):  # pushed last = popped first
                new_total = total + amounts[i]
                if new_total <= ceiling:
                    stack.append((i + 1, new_total, (*chosen, i)))
        if first is not None:
            return SubsetResult(first)
    return SubsetResult(None)
