"""Small helpers views share: the Formwork extension, the repository as the current user."""

from __future__ import annotations

from flask import abort, current_app
from flask_login import current_user

from engine.appdef import Entity
from engine.errors import NotFound
from engine.storage import Repository
from web import Formwork


def formwork() -> Formwork:
    return current_app.extensions["formwork"]


def repository() -> Repository:
    user = current_user.username if current_user.is_authenticated else None
    return formwork().db.repository(user)


def entity_or_404(app: str, name: str) -> Entity:
    try:
        return formwork().appset.entity(f"{app}.{name}")
    except NotFound:
        abort(404)


def allowed(entity: Entity, action: str) -> bool:
    return current_user.is_authenticated and entity.allows(current_user.role, action)


def require(entity: Entity, action: str) -> None:
    """Abort with 403 unless the current user's role may do `action` on `entity`."""
    if not allowed(entity, action):
        abort(403)
