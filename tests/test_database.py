"""Transactions on the embedded database behave as on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.permissions import Principal
from engine.storage import Database


def test_schema_changes_roll_back_with_their_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
        raise RuntimeError("abort the migration halfway")
    assert "scratch" not in sa.inspect(db.engine).get_table_names()


def test_sqlite_transactions_start_at_begin_not_at_the_first_write(appset, tmp_path) -> None:
    """A validation read inside Repository.transaction() sees one snapshot: a row another
    connection commits meanwhile does not appear halfway (WAL snapshot from BEGIN on)."""
    db = Database(appset, f"sqlite:///{tmp_path / 'snap.db'}")
    db.migrate()
    count = sa.text("SELECT count(*) FROM receivables_customer")
    try:
        repo = db.repository(Principal.system("tester"))
        with repo.transaction() as conn:
            before = conn.execute(count).scalar()
            db.repository(Principal.system("other")).create(
                "receivables.customer", {"name": "Outside"}
            )
            during = conn.execute(count).scalar()
        after = db.repository(Principal.system("x")).count("receivables.customer")
        assert (before, during, after) == (0, 0, 1)
    finally:
        db.dispose()
