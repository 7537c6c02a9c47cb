"""The database: engine, tables made from the app definitions, and record-event listeners."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import AppSet
from engine.storage.tables import build_metadata

if TYPE_CHECKING:
    from engine.permissions import Principal
    from engine.storage.events import RecordEvent
    from engine.storage.migrate import MigrationPlan
    from engine.storage.repository import Repository

DEFAULT_URL = "sqlite:///formwork.db"
LOCK_TIMEOUT = 10.0  # seconds a writer waits for another one before giving up (Conflict)
WRITE = "formwork_write"  # execution option of the connections that write


def database_url(url: str | None = None) -> str:
    """The URL given, else $FORMWORK_DATABASE_URL, else a SQLite file in the working folder."""
    url = url or os.environ.get("FORMWORK_DATABASE_URL") or DEFAULT_URL
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
    return url


def _sqlite_pragmas(db: Database, dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling starts a transaction only at the first write,
    # so a Repository's validation reads would run outside it, and DDL would commit at
    # once. Take it over: autocommit at the driver, BEGIN when SQLAlchemy begins (the
    # recipe in SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(db.lock_timeout * 1000)}")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # A write transaction takes the write lock at BEGIN IMMEDIATE, waiting (busy_timeout)
    # while another writer holds it. A plain BEGIN would read first and then fail at once
    # with "database is locked" when it tries to write after a concurrent commit: SQLite
    # cannot wait there, the snapshot it read is already out of date.
    write = conn.get_execution_options().get(WRITE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_begin(db: Database, conn: sa.Connection) -> None:
    # Row locks (SELECT ... FOR UPDATE) wait as long as SQLite's writers, not for ever.
    if conn.get_execution_options().get(WRITE):
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(db.lock_timeout * 1000)}")


class Database:
    """Connection to one database holding the tables of a set of apps."""

    def __init__(
        self,
        appset: AppSet,
        url: str | None = None,
        *,
        engine: sa.Engine | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        **engine_options: Any,
    ):
        """A new connection pool for `url`, or (`engine=`) the pool of an existing one."""
        self.appset = appset
        # How long a writer waits for another one (seconds); on SQLite, connections opened
        # after a change take the new value. The listeners read it from the Database that
        # made the engine.
        self.lock_timeout = lock_timeout
        if engine is None:
            self.url = database_url(url)
            engine = sa.create_engine(self.url, **engine_options)
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", functools.partial(_sqlite_pragmas, self))
                sa.event.listen(engine, "begin", _sqlite_begin)
            elif engine.dialect.name == "postgresql":
                sa.event.listen(engine, "begin", functools.partial(_postgres_begin, self))
        else:
            self.url = engine.url.render_as_string(hide_password=False)
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self.metadata, self.tables = build_metadata(appset)
        self.listeners: list[Callable[[RecordEvent, sa.Connection], None]] = []

    def with_appset(self, appset: AppSet) -> Database:
        """The same database seen through other definitions, for hot reload: it shares this
        one's engine, pool and event listeners (listeners belong to the database, not to a
        version of the definitions), so switching opens no connection and this object stays
        usable by whoever still holds it. Dispose only one of them, at the very end."""
        other = Database(appset, engine=self.engine, lock_timeout=self.lock_timeout)
        other.url = self.url
        other.listeners = self.listeners
        return other

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction: it waits for the other writers (up to the lock timeout)
        before it reads anything, so what it reads stays true until it commits."""
        with self._writer.begin() as conn:
            yield conn

    def table(self, qualname: str) -> sa.Table:
        return self.tables[qualname]

    def system(self, name: str) -> sa.Table:
        return self.metadata.tables[f"fw_{name}"]

    def on_event(self, listener: Callable[[RecordEvent, sa.Connection], None]) -> None:
        """Call `listener` for every record event, inside the writing transaction."""
        self.listeners.append(listener)

    def repository(self, principal: Principal) -> Repository:
        """Reads and writes as `principal` (engine.permissions), who must be named."""
        from engine.storage.repository import Repository

        return Repository(self, principal)

    def plan_migration(self) -> MigrationPlan:
        from engine.storage.migrate import plan

        return plan(self)

    def migrate(self, allow_destructive: bool = False) -> MigrationPlan:
        """Bring the schema in line with the definitions; destructive steps need permission."""
        from engine.storage.migrate import apply, plan

        migration = plan(self)
        apply(self, migration, allow_destructive=allow_destructive)
        return migration

    def dispose(self) -> None:
        self.engine.dispose()
