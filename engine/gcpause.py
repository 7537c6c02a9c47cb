"""The cyclic garbage collector paused for a big batch, and run between its chunks.

A batch of a hundred thousand records allocates millions of short-lived objects, which
refcounting frees, while millions more stay alive (a matching run's open invoices and
decisions). Python's automatic collections then walk everything alive again and again:
a 100,000-line matching run spent a third of its time there, and a pause can land
inside an expression's time-bounded evaluation, where a long one on a busy machine fails
the whole batch. So automatic collection is off for the batch, and the caller collects
the cheap young generations after each chunk (everything, every tenth chunk), which
keeps memory as bounded as before.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator


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
