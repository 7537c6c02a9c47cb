"""SQLAlchemy Core tables made from the app definitions, plus Formwork's own tables."""

from __future__ import annotations

import sqlalchemy as sa

from engine.appdef import AppSet, Entity
from engine.storage.types import UTCDateTime

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def build_metadata(appset: AppSet) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """One table per entity (named app_entity) and the system tables (fw_*)."""
    metadata = sa.MetaData(naming_convention=NAMING)
    system_tables(metadata)
    tables = {e.qualname: entity_table(metadata, appset, e) for e in appset.entities()}
    for table in metadata.tables.values():
        never_reuse_ids(table)
    return metadata, tables


def never_reuse_ids(table: sa.Table) -> None:
    """Ids of deleted rows are never handed out again, on both databases.

    An id names a record in its audit trail, in links and in the versions clients hold:
    if a new record took a deleted one's id it would inherit its history, and a stale
    write meant for the deleted record would land on it. PostgreSQL's sequences never
    go back; SQLite picks max(id) + 1 unless the table is declared AUTOINCREMENT, which
    keeps the highest id ever used in `sqlite_sequence`. Every table with an integer
    `id` key gets it, also system tables added later (migrate.py rebuilds old ones).
    """
    if "id" in table.c and table.c.id.primary_key:
        table.dialect_options["sqlite"]["autoincrement"] = True


def entity_table(metadata: sa.MetaData, appset: AppSet, entity: Entity) -> sa.Table:
    # Field columns are nullable in the database: `required` is enforced by the Repository,
    # the one write path, so that adding a required field to a filled table is additive.
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(80)),
        sa.Column("updated_by", sa.String(80)),
    ]
    indexed: list[tuple[str, bool]] = []
    for field in entity.fields.values():
        col_args: list[sa.schema.SchemaItem] = []
        if field.ref:
            target = appset.entity(field.ref)
            ondelete = "CASCADE" if field.on_delete == "cascade" else None
            col_args.append(sa.ForeignKey(f"{target.table_name}.id", ondelete=ondelete))
        columns.append(sa.Column(field.name, field.type.sql_type(field), *col_args))
        if field.unique or field.index or field.ref:
            indexed.append((field.name, field.unique))
    table = sa.Table(entity.table_name, metadata, *columns)
    # Unique indexes rather than constraints: both databases add them without a table rebuild.
    for name, unique in indexed:
        sa.Index(f"ix_{entity.table_name}_{name}", table.c[name], unique=unique)
    # Declared composite indexes end with id, the tie-breaker of every sort.
    for cols in entity.indexes:
        sa.Index(
            f"ix_{entity.table_name}_{'_'.join(cols)}", *(table.c[c] for c in cols), table.c.id
        )
    # The list's default sort must not scan the table: index it, with id as tie-breaker.
    sort = [name for name, _ in entity.default_sort if name != "id"]
    if sort and sort[0] not in {name for name, _ in indexed}:
        sa.Index(f"ix_{entity.table_name}_{sort[0]}", table.c[sort[0]], table.c.id)
    return table


def system_tables(metadata: sa.MetaData) -> None:
    sa.Table(
        "fw_user",
        metadata,
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("locale", sa.String(35)),
        # Changes when the password changes, at log-out and when disabled: ends sessions.
        sa.Column("session_token", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    sa.Table(
        "fw_api_token",  # engine.tokens: personal API tokens, stored as their SHA-256 only
        metadata,
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, sa.ForeignKey("fw_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(80), nullable=False, server_default=""),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
    )
    sa.Table(
        "fw_audit",
        metadata,
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user", sa.String(80)),
        sa.Column("entity", sa.String(100), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Index("ix_fw_audit_entity_record", "entity", "record_id"),
    )
