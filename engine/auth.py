"""Users and roles. Passwords are stored as salted scrypt hashes (werkzeug.security)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.appdef import ROLES
from engine.errors import ValidationError
from engine.storage import Database

MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool = True
    locale: str | None = None  # chosen in the web UI; None: the browser's


def _user(row: sa.RowMapping) -> User:
    return User(row["id"], row["username"], row["role"], row["active"], row["locale"])


def _check_new_user(username: str, password: str, role: str) -> str:
    """The username, stripped, once it, the password and the role are acceptable."""
    errors = {}
    username = username.strip()
    if not username or len(username) > 80:
        errors["username"] = "is required (at most 80 characters)"
    if role not in ROLES:
        errors["role"] = f"must be one of: {', '.join(ROLES)}"
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"must be at least {MIN_PASSWORD} characters"
    if errors:
        raise ValidationError(errors)
    return username


def add_user(db: Database, username: str, password: str, role: str) -> User:
    """Create a user, or reset the password and role of an existing one."""
    user = _save_user(db, username, password, role, replace=True)
    assert user is not None  # only create_user's refusal to replace gives None
    return user


def create_user(db: Database, username: str, password: str, role: str) -> User | None:
    """Create a user; None, and nothing changed, when the name is taken already."""
    return _save_user(db, username, password, role, replace=False)


def _save_user(db: Database, username: str, password: str, role: str, replace: bool) -> User | None:
    username = _check_new_user(username, password, role)
    table = db.system("user")
    values = {"password_hash": generate_password_hash(password), "role": role, "active": True}
    with db.engine.begin() as conn:
        existing = conn.execute(sa.select(table.c.id).where(table.c.username == username)).first()
        if existing and not replace:
            return None
        if existing:
            conn.execute(table.update().where(table.c.id == existing.id).values(**values))
        else:
            conn.execute(table.insert().values(username=username, created_at=clock.now(), **values))
        row = conn.execute(sa.select(table).where(table.c.username == username)).mappings().one()
    return _user(row)


class _VerifiedCredentials:
    """Credentials that passed the slow password hash recently, so that an API client
    sending HTTP Basic credentials with every request pays for scrypt once, not each time.

    Entries are keyed by the stored hash too: a changed password or role invalidates
    them. The password itself is kept only as an HMAC under a key that lives in this
    process's memory.
    """

    def __init__(self, size: int = 1024, seconds: float = 300.0):
        self.size, self.seconds = size, seconds
        self.key = secrets.token_bytes(32)
        self.entries: OrderedDict[tuple[str, str, bytes], float] = OrderedDict()
        self.lock = threading.Lock()

    def _key(self, row: sa.RowMapping, password: str) -> tuple[str, str, bytes]:
        mac = hmac.new(self.key, password.encode(), hashlib.sha256).digest()
        return (row["username"], row["password_hash"], mac)

    def seen(self, row: sa.RowMapping, password: str) -> bool:
        key = self._key(row, password)
        with self.lock:
            expires = self.entries.get(key)
            if expires is None or expires < time.monotonic():
                self.entries.pop(key, None)
                return False
            self.entries.move_to_end(key)
            return True

    def remember(self, row: sa.RowMapping, password: str) -> None:
        with self.lock:
            self.entries[self._key(row, password)] = time.monotonic() + self.seconds
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


_verified = _VerifiedCredentials()


def authenticate(db: Database, username: str, password: str) -> User | None:
    table = db.system("user")
    with db.engine.connect() as conn:
        row = (
            conn.execute(sa.select(table).where(table.c.username == username.strip()))
            .mappings()
            .first()
        )
    if row is None or not row["active"]:
        return None
    if not _verified.seen(row, password):
        if not check_password_hash(row["password_hash"], password):
            return None
        _verified.remember(row, password)
    return _user(row)


def get_user(db: Database, user_id: int) -> User | None:
    table = db.system("user")
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == user_id)).mappings().first()
    return _user(row) if row and row["active"] else None


def list_users(db: Database) -> list[User]:
    table = db.system("user")
    with db.engine.connect() as conn:
        return [
            _user(r) for r in conn.execute(sa.select(table).order_by(table.c.username)).mappings()
        ]


def set_locale(db: Database, user_id: int, locale: str | None) -> None:
    """Remember the language (a Babel locale such as zh_Hans_CN) a user picked."""
    table = db.system("user")
    with db.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == user_id).values(locale=locale))
