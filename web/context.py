"""Small helpers views share: the Formwork extension, the repository as the current user."""

from __future__ import annotations

from flask import abort, current_app
from flask_login import current_user

from engine.appdef import Entity
from engine.errors import NotFound
from engine.permissions import Principal, can, principal_of
from engine.storage import Repository
from web import Formwork


def formwork() -> Formwork:
    return current_app.extensions["formwork"]


def principal() -> Principal:
    """Who this request acts for: the logged-in user's principal (nobody: may do nothing)."""
    return principal_of(current_user if current_user.is_authenticated else None)


def repository() -> Repository:
    """The request's repository: reads and writes as the logged-in user, refused by the engine
    where the definitions do not allow them."""
    return formwork().db.repository(principal())


def entity_or_404(app: str, name: str) -> Entity:
    try:
        return formwork().appset.entity(f"{app}.{name}")
    except NotFound:
        abort(404)


def allowed(entity: Entity, action: str) -> bool:
    return can(principal(), entity, action)


def require(entity: Entity, action: str) -> None:
    """Abort with 403 unless the current user's role may do `action` on `entity`."""
    if not allowed(entity, action):
        abort(403)
