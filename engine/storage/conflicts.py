"""Database errors that come from concurrent writers, turned into the engine's `Conflict`.

The Repository checks unique values and versions itself, inside its transaction, so
these only happen when two writers race: on PostgreSQL a unique value committed by
another transaction between the check and the insert, a lock not granted within the
lock timeout, a serialization failure or a deadlock; on SQLite a write lock held by
another writer for longer than the busy timeout. Each becomes a `Conflict` that the
interfaces answer as 409 with a message, never as a server error. Other database
errors (a missing table, a broken connection) are bugs or outages, and stay as they are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.errors import Conflict
from engine.i18n import _

if TYPE_CHECKING:
    from engine.storage.database import Database

# SQLSTATEs of PostgreSQL that mean "another transaction got in the way": serialization
# failure, deadlock, lock not available (lock_timeout)
RACES = ("40001", "40P01", "55P03")
SQLITE_LOCKED = ("database is locked", "database table is locked", "database is busy")
SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)")


def as_conflict(db: Database, exc: sa.exc.DBAPIError) -> Conflict | None:
    """The Conflict this database error stands for, or None when it is not a race."""
    if isinstance(exc, sa.exc.IntegrityError):
        field = _unique_field(db, exc)
        if field is None:
            return Conflict(
                _(
                    "the record conflicts with another change saved at the same time;"
                    " reload and try again"
                )
            )
        taken = _("was taken by another record saved at the same time; choose another value")
        return Conflict(
            _(
                "%(field)s was taken by another record saved at the same time;"
                " choose another value",
                field=field,
            ),
            {field: taken},
        )
    text = str(exc.orig).lower()
    locked = isinstance(exc, sa.exc.OperationalError) and any(s in text for s in SQLITE_LOCKED)
    if locked or getattr(exc.orig, "sqlstate", None) in RACES:
        return Conflict(_("another change was saved at the same time; reload and try again"))
    return None


def _unique_field(db: Database, exc: sa.exc.IntegrityError) -> str | None:
    """The field whose unique index refused the value, when the database names it."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if constraint:
        for table in db.tables.values():
            for index in table.indexes:
                if index.name == constraint and index.unique and len(index.columns) == 1:
                    return next(iter(index.columns)).name
        return None
    match = SQLITE_UNIQUE.search(str(exc.orig))
    if match and any(t.name == match.group(1) for t in db.tables.values()):
        return match.group(2)
    return None
