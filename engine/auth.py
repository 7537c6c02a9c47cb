"""Users, roles and sessions. Passwords are stored as salted scrypt hashes (werkzeug.security).

Timing says nothing: an unknown or disabled user costs the same password check as a known
one, against a dummy hash, so the time of an answer does not tell which names exist (the
probe measured 2 ms for an unknown user against 173 ms for a known one).

A session names its user by id *and* the user's session token (`session_id`). The token
changes when the password changes, when the user logs out and when the user is disabled,
so a copied session or remember-me cookie stops working then: sessions are signed cookies
that the server cannot revoke one by one, so they are revoked all together.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.appdef import ROLES
from engine.errors import NotFound, ValidationError
from engine.storage import Database

MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool = True
    locale: str | None = None  # chosen in the web UI; None: the browser's
    session_token: str | None = field(default=None, repr=False)

    @property
    def session_id(self) -> str:
        """What a session or remember-me cookie keeps: "id:token"."""
        return f"{self.id}:{self.session_token}"


def _user(row: sa.RowMapping) -> User:
    return User(
        row["id"], row["username"], row["role"], row["active"], row["locale"], row["session_token"]
    )


def _new_session_token() -> str:
    return secrets.token_urlsafe(24)


def _check_username(username: str) -> tuple[str, dict[str, str]]:
    username = username.strip()
    if not username or len(username) > 80:
        return username, {"username": "is required (at most 80 characters)"}
    return username, {}


def _check_password(password: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD:
        return {"password": f"must be at least {MIN_PASSWORD} characters"}
    return {}


def _check_new_user(username: str, password: str, role: str) -> str:
    """The username, stripped, once it, the password and the role are acceptable."""
    username, errors = _check_username(username)
    if role not in ROLES:
        errors["role"] = f"must be one of: {', '.join(ROLES)}"
    errors.update(_check_password(password))
    if errors:
        raise ValidationError(errors)
    return username


def add_user(db: Database, username: str, password: str, role: str) -> User:
    """Create a user, or reset the password and role of an existing one (which ends its
    sessions and enables it again)."""
    user = _save_user(db, username, password, role, replace=True)
    assert user is not None  # only create_user's refusal to replace gives None
    return user


def create_user(db: Database, username: str, password: str, role: str) -> User | None:
    """Create a user; None, and nothing changed, when the name is taken already."""
    return _save_user(db, username, password, role, replace=False)


def _save_user(db: Database, username: str, password: str, role: str, replace: bool) -> User | None:
    username = _check_new_user(username, password, role)
    table = db.system("user")
    values = {
        "password_hash": generate_password_hash(password),
        "role": role,
        "active": True,
        "session_token": _new_session_token(),
    }
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


def _change(db: Database, username: str, **values: object) -> User:
    """Change a user found by name, with a new session token: its sessions end."""
    table = db.system("user")
    values["session_token"] = _new_session_token()
    with db.engine.begin() as conn:
        done = conn.execute(
            table.update().where(table.c.username == username.strip()).values(**values)
        )
        if done.rowcount != 1:
            raise NotFound(f"there is no user {username.strip()!r}")
        row = conn.execute(sa.select(table).where(table.c.username == username.strip()))
        return _user(row.mappings().one())


def set_password(db: Database, username: str, password: str) -> User:
    """A new password; every session of the user ends."""
    errors = _check_password(password)
    if errors:
        raise ValidationError(errors)
    return _change(db, username, password_hash=generate_password_hash(password))


def set_active(db: Database, username: str, active: bool) -> User:
    """Disable (or enable again) a user: a disabled one cannot log in, its sessions end and
    its API tokens stop working, but its name stays in the audit trail."""
    return _change(db, username, active=active)


def end_sessions(db: Database, user_id: int) -> None:
    """Log the user out everywhere: every session and remember-me cookie stops working."""
    table = db.system("user")
    with db.engine.begin() as conn:
        conn.execute(
            table.update().where(table.c.id == user_id).values(session_token=_new_session_token())
        )


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


@cache
def _dummy_hash() -> str:
    """A hash of no one's password, checked for unknown users so that they take as long."""
    return generate_password_hash(secrets.token_hex(16))


def authenticate(db: Database, username: str, password: str) -> User | None:
    """The user, when the password is right and the user is enabled; otherwise None, after
    the same work whatever the reason."""
    table = db.system("user")
    with db.engine.connect() as conn:
        row = (
            conn.execute(sa.select(table).where(table.c.username == username.strip()))
            .mappings()
            .first()
        )
    if row is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not (row["active"] and _verified.seen(row, password)):
        if not check_password_hash(row["password_hash"], password) or not row["active"]:
            return None  # a disabled user is never cached: the check takes as long each time
        _verified.remember(row, password)
    if row["session_token"] is None:  # a user from before session tokens existed
        end_sessions(db, row["id"])
        return get_user(db, row["id"])
    return _user(row)


def session_user(db: Database, session_id: str) -> User | None:
    """The enabled user a session's "id:token" names, while the token is still current."""
    user_id, _, token = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) < 19 and token):
        return None
    user = get_user(db, int(user_id))
    if user is None or user.session_token is None:
        return None
    return user if hmac.compare_digest(user.session_token, token) else None


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
