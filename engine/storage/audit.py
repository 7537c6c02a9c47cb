"""The audit trail and the record events of a write: who changed what, and who is told.

Every create, update and delete writes one audit row per record (who, when, the values
before and after, as JSON) in the writing transaction, and announces one RecordEvent
per record to the Database's listeners (the automation engine), in the same
transaction. Both take a batch: the audit rows go in with one executemany per BATCH.

The JSON is the text `json.dumps(jsonable(row))` gives (what the JSON column would
store), made cheaper for a batch: only the columns that hold Decimals, dates and times
are converted (those of a date repeat, and are remembered), the C encoder does the rest,
and the text goes to the driver as it is.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import clock
from engine.appdef import Entity
from engine.fieldtypes import json_value
from engine.storage.events import RecordEvent
from engine.storage.types import ExactDecimal, UTCDateTime
from engine.storage.writes import insert_values

if TYPE_CHECKING:
    from engine.storage.database import Database

BATCH = 2000
# (record id, values before or None, values after or None)
Change = tuple[int, dict[str, Any] | None, dict[str, Any] | None]


def audit(
    db: Database,
    conn: sa.Connection,
    user: str | None,
    ent: Entity,
    action: str,
    items: Sequence[Change],
) -> None:
    """One audit row per changed record: create, update or delete."""
    table = db.system("audit")
    at = clock.now()
    encode = json_text(db.table(ent.qualname))
    name = ent.qualname
    rows = (
        [at, user, name, record_id, action, encode(before), encode(after)]
        for record_id, before, after in items
    )
    insert_values(conn, table, AUDIT_COLUMNS, rows)


AUDIT_COLUMNS = ("at", "user", "entity", "record_id", "action", "before", "after")


def _encoder() -> Callable[[Any], str]:
    """`json.JSONEncoder(default=json_value).encode` for a dict, its C encoder built once
    (encode builds it anew per call: 7 % of an audit row's cost). No circular check: a
    row read or written holds no cycle."""
    make = getattr(json.encoder, "c_make_encoder", None)  # absent from the type stubs
    if make is None:  # no C accelerator: the encoder as it is
        return json.JSONEncoder(default=json_value, check_circular=False).encode
    chunks = make(
        None, json_value, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    join = "".join
    return lambda row: join(chunks(row, 0))


_ENCODE = _encoder()  # Decimals and dates left over go to json_value


def _iso(cache: dict[Any, str], value: Any) -> str:
    """A date or time as JSON text, remembered: a batch repeats them (its created_at).

    Keyed by the value and its offset: equal instants in two zones are two texts.
    """
    key = (value, getattr(value, "tzinfo", None))
    text = cache.get(key)
    if text is None:
        if len(cache) > 4096:
            cache.clear()
        text = cache[key] = json_value(value)
    return text


def json_text(table: sa.Table) -> Callable[[Mapping[str, Any] | None], str]:
    """`json.dumps(jsonable(row))` for rows of `table`, converting only where it must."""
    decimals = [c.name for c in table.columns if isinstance(c.type, ExactDecimal | sa.Numeric)]
    moments = [
        c.name for c in table.columns if isinstance(c.type, sa.Date | sa.DateTime | UTCDateTime)
    ]
    texts: dict[Any, str] = {}

    def encode(row: Mapping[str, Any] | None) -> str:
        if row is None:
            return "null"
        out = dict(row)
        for name in decimals:
            value = out.get(name)
            if value.__class__ is Decimal:  # json_value's own form, without the call
                out[name] = format(value, "f")
            elif value is not None:
                out[name] = json_value(value)
        for name in moments:
            value = out.get(name)
            if value is not None:
                out[name] = _iso(texts, value)
        return _ENCODE(out)

    return encode


def emit(
    db: Database,
    conn: sa.Connection,
    user: str | None,
    ent: Entity,
    kind: str,
    items: Sequence[Change],
) -> None:
    """Tell every listener about each record: created, updated or deleted."""
    if not db.listeners:
        return
    for record_id, before, after in items:
        event = RecordEvent(kind, ent.qualname, record_id, before, after, user)
        for listener in db.listeners:
            listener(event, conn)
