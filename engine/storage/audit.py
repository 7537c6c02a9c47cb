"""The audit trail and the record events of a write: who changed what, and who is told.

Every create, update and delete writes one audit row per record (who, when, the values
before and after, as JSON) in the writing transaction, and announces one RecordEvent
per record to the Database's listeners (the automation engine), in the same
transaction. Both take a batch: the audit rows go in with one executemany per BATCH.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import clock
from engine.appdef import Entity
from engine.fieldtypes import jsonable
from engine.storage.events import RecordEvent

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
    rows = [
        {
            "at": at,
            "user": user,
            "entity": ent.qualname,
            "record_id": record_id,
            "action": action,
            "before": jsonable(before),
            "after": jsonable(after),
        }
        for record_id, before, after in items
    ]
    for start in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[start : start + BATCH])


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
