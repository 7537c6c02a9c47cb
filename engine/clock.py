"""The engine's clock: timezone-aware, and replaceable in tests and dry runs."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextvars import ContextVar

_frozen: ContextVar[dt.datetime | None] = ContextVar("formwork_frozen_now", default=None)


def now() -> dt.datetime:
    """The current time in UTC (or the frozen time, inside `frozen_at`)."""
    return _frozen.get() or dt.datetime.now(dt.UTC)


def today() -> dt.date:
    return now().date()


@contextlib.contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    """Make `now()` return `moment` inside the block (for tests and simulations)."""
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware datetime")
    token = _frozen.set(moment)
    try:
        yield
    finally:
        _frozen.reset(token)
