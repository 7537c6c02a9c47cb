"""Users, password checks, and the cache of recently verified credentials."""

from __future__ import annotations

import pytest

from engine.auth import add_user, authenticate, list_users
from engine.errors import ValidationError
from engine.storage import Database


def test_a_user_logs_in_with_the_right_password_only(db: Database) -> None:
    add_user(db, "clara", "correct horse", "clerk")
    assert authenticate(db, "clara", "correct horse").role == "clerk"
    assert authenticate(db, "clara", "correct horse").role == "clerk"  # from the cache
    assert authenticate(db, "clara", "wrong horse") is None
    assert authenticate(db, "nobody", "correct horse") is None


def test_a_changed_password_or_role_is_not_served_from_the_cache(db: Database) -> None:
    add_user(db, "clara", "first password", "clerk")
    assert authenticate(db, "clara", "first password") is not None
    add_user(db, "clara", "second password", "viewer")
    assert authenticate(db, "clara", "first password") is None
    assert authenticate(db, "clara", "second password").role == "viewer"


def test_bad_users_are_refused_with_messages_per_field(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        add_user(db, " ", "short", "boss")
    assert set(raised.value.errors) == {"username", "password", "role"}
    assert list_users(db) == []
