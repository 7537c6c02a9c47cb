"""The cyclic garbage collector paused for a big batch, and run between its chunks.

A batch of a hundred thousand records allocates millions of short-lived objects, which
refcounting frees, while millions more stay alive (a matching run's open invoices and
decisions). Python's automatic collections then walk everything alive again and again:
a 100,000-line matching run spent a third of its time there, and a pause can land
inside an expression's time-bounded evaluation, where a long one on a busy machine fails
the whole batch. So automatic collection is off for the batch, and the caller collects
the cheap young generations after each chunk (everything, every tenth chunk), which
keeps memory as bounded as before. One bulk write of the Repository (`paused`) runs with
it off too (10-13 % of bench/bulk_write.py's CPU went to full collections finding
nothing), and gives it back on when it ends, unless its caller had it off already.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def collecting_between_chunks() -> Iterator[Callable[[], None]]:
    """Automatic collection off inside; the function it yields collects after a chunk."""
    was_enabled = gc.isenabled()
    gc.disable()
    chunks = 0

    def collect() -> None:
        nonlocal chunks
        chunks += 1
        gc.collect(2 if chunks % 10 == 0 else 1)

    try:
        yield collect
    finally:
        if was_enabled:
            gc.enable()


def paused(write: Callable[P, R]) -> Callable[P, R]:
    """`write` runs with automatic collection off; it is back on after, if it was before."""

    @functools.wraps(write)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return write(*args, **kwargs)
        gc.disable()
        try:
            return write(*args, **kwargs)
        finally:
            gc.enable()

    return run
