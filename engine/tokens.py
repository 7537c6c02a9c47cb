"""Personal API tokens: what an integrator's program sends instead of a password
(`Authorization: Bearer fwt_...`).

A token is 256 random bits, shown once when it is made and stored only as its SHA-256:
the database holds nothing that logs anyone in. (A slow hash is for passwords, which
people choose and which can be guessed; a random token of this size cannot be, so one
fast hash is enough and costs a lookup, not 100 ms, per request.) A token acts as its
user, with the user's role; disabling the user stops it, and the user or an admin can
revoke it at any time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from engine import clock
from engine.auth import User, get_user
from engine.errors import NotFound, ValidationError
from engine.storage import Database

PREFIX = "fwt_"
HINT = len(PREFIX) + 6  # the start of a token, shown in lists so people can tell them apart
USED_EVERY = dt.timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class ApiToken:
    id: int
    username: str
    name: str
    hint: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _select(db: Database) -> sa.Select:
    tokens, users = db.system("api_token"), db.system("user")
    return sa.select(
        tokens.c.id,
        users.c.username,
        tokens.c.name,
        tokens.c.hint,
        tokens.c.created_at,
        tokens.c.last_used_at,
    ).join(users, users.c.id == tokens.c.user_id)


def _token(row: sa.Row) -> ApiToken:
    return ApiToken(*row)


def create_token(db: Database, username: str, name: str = "") -> tuple[ApiToken, str]:
    """A new token of the user: its description and the secret, which nobody sees again."""
    name = name.strip()
    if len(name) > 80:
        raise ValidationError({"name": "must be at most 80 characters"})
    users, tokens = db.system("user"), db.system("api_token")
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.engine.begin() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.username == username.strip())
        ).scalar()
        if user_id is None:
            raise NotFound(f"there is no user {username.strip()!r}")
        token_id = conn.execute(
            tokens.insert()
            .values(
                user_id=user_id,
                name=name,
                hint=secret[:HINT],
                token_hash=_digest(secret),
                created_at=clock.now(),
            )
            .returning(tokens.c.id)
        ).scalar_one()
        row = conn.execute(_select(db).where(tokens.c.id == token_id)).one()
    return _token(row), secret


def token_user(db: Database, secret: str) -> User | None:
    """The enabled user a token belongs to, or None for a token that is not (or no longer)
    valid."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    tokens = db.system("api_token")
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(tokens.c.id, tokens.c.user_id, tokens.c.last_used_at).where(
                tokens.c.token_hash == _digest(secret)
            )
        ).first()
    if row is None:
        return None
    now = clock.now()
    if row.last_used_at is None or now - row.last_used_at >= USED_EVERY:
        with db.engine.begin() as conn:
            conn.execute(tokens.update().where(tokens.c.id == row.id).values(last_used_at=now))
    return get_user(db, row.user_id)


def list_tokens(db: Database, username: str | None = None) -> list[ApiToken]:
    """Every token (or one user's), oldest first."""
    tokens, users = db.system("api_token"), db.system("user")
    query = _select(db).order_by(tokens.c.id)
    if username is not None:
        query = query.where(users.c.username == username)
    with db.engine.connect() as conn:
        return [_token(row) for row in conn.execute(query)]


def revoke_token(db: Database, token_id: int, owner: str | None = None) -> ApiToken:
    """Delete a token; with `owner`, only if it is that user's (a user revoking their own;
    an admin passes None). A token that is not there, or not theirs, is NotFound alike."""
    tokens, users = db.system("api_token"), db.system("user")
    with db.engine.begin() as conn:
        query = _select(db).where(tokens.c.id == token_id)
        if owner is not None:
            query = query.where(users.c.username == owner)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"there is no API token #{token_id}")
        conn.execute(tokens.delete().where(tokens.c.id == token_id))
    return _token(row)
