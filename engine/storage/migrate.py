"""Schema diff between the database and the definitions, and its application.

Alembic's autogenerate compares the live schema with the tables built from the
definitions; the operations it proposes are sorted into additive steps (applied
by `formwork migrate`) and destructive ones (drop, type change), which are
refused with the column's name unless the caller allows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops

from engine.errors import FormworkError

if TYPE_CHECKING:
    from engine.storage.database import Database


class DestructiveMigration(FormworkError):
    """The definitions imply dropping or narrowing something that holds data."""


@dataclass(frozen=True)
class KeepIdsOp:
    """SQLite: rebuild a table created without AUTOINCREMENT, so no id is handed out twice.

    Tables made before ids were declared never-reused (tables.never_reuse_ids) let SQLite
    give a new row the id of the last deleted one. The rebuild copies the rows into the
    table as it is declared now and starts the id counter past every id the table or its
    audit trail has seen, so ids deleted before the migration are not reused either.
    """

    table_name: str


@dataclass(frozen=True)
class Step:
    op: Any = field(repr=False)
    table: str
    description: str
    destructive: bool


@dataclass
class MigrationPlan:
    steps: list[Step]

    @property
    def additive(self) -> list[Step]:
        return [s for s in self.steps if not s.destructive]

    @property
    def destructive(self) -> list[Step]:
        return [s for s in self.steps if s.destructive]

    @property
    def empty(self) -> bool:
        return not self.steps

    def describe(self) -> str:
        if self.empty:
            return "The database matches the definitions: nothing to do."
        lines = []
        for s in self.steps:
            mark = "DESTRUCTIVE " if s.destructive else ""
            lines.append(f"  {mark}{s.description}")
        return "\n".join(lines)


def _owned(db: Database, table: str) -> bool:
    """Formwork manages its own tables and those of loaded apps, nothing else in the database."""
    return table.startswith("fw_") or any(table.startswith(f"{app}_") for app in db.appset.apps)


def _describe(op: Any) -> tuple[str, str, bool]:
    if isinstance(op, ops.CreateTableOp):
        return op.table_name, f"create table {op.table_name}", False
    if isinstance(op, ops.DropTableOp):
        return op.table_name, f"drop table {op.table_name} and all its rows", True
    if isinstance(op, ops.AddColumnOp):
        return (
            op.table_name,
            f"add column {op.table_name}.{op.column.name} ({op.column.type})",
            False,
        )
    if isinstance(op, ops.DropColumnOp):
        return (
            op.table_name,
            f"drop column {op.table_name}.{op.column_name} and the values it holds",
            True,
        )
    if isinstance(op, ops.CreateIndexOp):
        kind = "unique index" if op.unique else "index"
        cols = ", ".join(str(c) for c in op.columns)
        return op.table_name, f"create {kind} {op.index_name} on {op.table_name} ({cols})", False
    if isinstance(op, ops.DropIndexOp):
        return str(op.table_name), f"drop index {op.index_name} on {op.table_name}", False
    if isinstance(op, KeepIdsOp):
        text = f"rebuild table {op.table_name} so that ids of deleted records are never reused"
        return op.table_name, text, False
    if isinstance(op, ops.AlterColumnOp):
        if op.modify_type is not None:
            old, new = op.existing_type, op.modify_type
            widening = (
                isinstance(old, sa.String)
                and isinstance(new, sa.String)
                and (new.length or 10**9) >= (old.length or 10**9)
            )
            text = f"change type of {op.table_name}.{op.column_name} from {old} to {new}"
            return op.table_name, text, not widening
        return op.table_name, f"alter column {op.table_name}.{op.column_name}", False
    name = getattr(op, "table_name", "?")
    return name, f"{type(op).__name__} on {name}", True


def _flatten(upgrade: Any) -> list[Any]:
    flat: list[Any] = []
    for op in upgrade.ops:
        if isinstance(op, ops.ModifyTableOps):
            flat.extend(_flatten(op))
        else:
            flat.append(op)
    return flat


def _relevant(op: Any) -> bool:
    # Nullability is the Repository's business (see tables.py); comments/defaults are noise.
    if isinstance(op, ops.AlterColumnOp):
        return op.modify_type is not None
    if isinstance(op, ops.DropIndexOp):
        # Only indexes named as Formwork names them; one a DBA added by hand stays.
        return str(op.index_name).startswith(f"ix_{op.table_name}_")
    return not isinstance(
        op, ops.CreateForeignKeyOp | ops.DropConstraintOp | ops.CreateUniqueConstraintOp
    )


def plan(db: Database) -> MigrationPlan:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: type_ != "table" or _owned(db, name),
            },
        )
        script = produce_migrations(context, db.metadata)
        reused = _reusing_ids(db, conn)
    steps = [Step(KeepIdsOp(t), *_describe(KeepIdsOp(t))) for t in reused]
    for op in _flatten(script.upgrade_ops):
        if not _relevant(op):
            continue
        table, text, destructive = _describe(op)
        steps.append(Step(op, table, text, destructive))
    # Tables first (creations in dependency order), then columns, then indexes.
    order = {ops.CreateTableOp: 0, KeepIdsOp: 1, ops.AddColumnOp: 2, ops.CreateIndexOp: 3}
    table_rank = {t.name: i for i, t in enumerate(db.metadata.sorted_tables)}
    steps.sort(key=lambda s: (order.get(type(s.op), 4), table_rank.get(s.table, 0)))
    return MigrationPlan(steps)


def _reusing_ids(db: Database, conn: sa.Connection) -> list[str]:
    """SQLite tables of ours that exist without the AUTOINCREMENT their definition asks for."""
    if db.dialect != "sqlite":
        return []  # PostgreSQL's sequences never hand out an id twice
    rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    created = {name: sql for name, sql in rows}
    return [
        table.name
        for table in db.metadata.sorted_tables
        if table.dialect_options["sqlite"]["autoincrement"]
        and table.name in created
        and "AUTOINCREMENT" not in (created[table.name] or "").upper()
    ]


def apply(db: Database, migration: MigrationPlan, allow_destructive: bool = False) -> None:
    if migration.destructive and not allow_destructive:
        listed = "\n".join(f"  {s.description}" for s in migration.destructive)
        raise DestructiveMigration(
            "Refusing destructive changes (run with --allow-destructive to apply them):\n" + listed
        )
    rebuild = db.dialect == "sqlite" and any(
        isinstance(s.op, ops.DropColumnOp | ops.AlterColumnOp | KeepIdsOp) for s in migration.steps
    )
    with db.engine.connect() as conn:
        # SQLite drops a column by rebuilding the table, and dropping the old table fails
        # while foreign keys are enforced and other rows point at it. The pragma only
        # changes outside a transaction, so it goes straight to the driver's connection
        # (in autocommit, see database.py); the keys are checked before the commit instead.
        raw = conn.connection.driver_connection if rebuild else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                _apply_steps(db, conn, migration)
                if rebuild and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise DestructiveMigration("the change would break references between records")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def _apply_steps(db: Database, conn: sa.Connection, migration: MigrationPlan) -> None:
    operations = Operations(MigrationContext.configure(conn))
    for step in migration.steps:
        op = step.op
        if isinstance(op, KeepIdsOp):
            _rebuild(db, conn, operations, op.table_name, None)
        elif db.dialect == "sqlite" and isinstance(op, ops.DropColumnOp | ops.AlterColumnOp):
            _rebuild(db, conn, operations, op.table_name, op)
        elif isinstance(op, ops.CreateTableOp):
            # Create from our own Table so indexes and foreign keys come along exactly.
            db.metadata.tables[op.table_name].create(conn)
        elif isinstance(op, ops.CreateIndexOp) and _created_with_table(migration, op):
            continue
        else:
            operations.invoke(op)


def _rebuild(db: Database, conn: sa.Connection, operations: Operations, name: str, op: Any) -> None:
    """SQLite: copy a table into a new one as declared now (AUTOINCREMENT), applying `op`.

    The id counter goes on past every id the table, its old counter or its audit trail
    has seen: a copy alone would restart it at the highest id left, reusing deleted ones.
    """
    table = db.metadata.tables[name]
    highest = 0
    if sa.inspect(conn).has_table("sqlite_sequence"):  # made with the first AUTOINCREMENT
        seq = sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name")
        highest = conn.execute(seq, {"name": name}).scalar() or 0
    with operations.batch_alter_table(
        name, recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        if op is not None:
            batch.invoke(op)
    highest = max(highest, conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)
    entity = next((e for e in db.appset.entities() if e.table_name == name), None)
    if entity is not None:  # a deleted record's id lives on in its audit rows
        audit = db.system("audit")
        audited = sa.select(sa.func.max(audit.c.record_id)).where(audit.c.entity == entity.qualname)
        highest = max(highest, conn.execute(audited).scalar() or 0)
    conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :name"), {"name": name})
    conn.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"),
        {"name": name, "seq": highest},
    )


def _created_with_table(migration: MigrationPlan, op: Any) -> bool:
    return any(
        isinstance(s.op, ops.CreateTableOp) and s.op.table_name == op.table_name
        for s in migration.steps
    )
