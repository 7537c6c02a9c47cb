"""The API-token page: a user makes and revokes their own tokens; an admin sees everyone's
and may revoke any. The secret is shown in the answer to the POST that made it, once: it
never goes into a flash message, which would keep it in the session cookie."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine import tokens
from engine.errors import NotFound, ValidationError
from web.context import formwork

bp = Blueprint("tokens", __name__, url_prefix="/account/tokens")


def _page(secret: str | None = None, made: tokens.ApiToken | None = None, error: str = ""):
    db = formwork().db
    mine = tokens.list_tokens(db, current_user.username)
    others = []
    if current_user.role == "admin":
        others = [t for t in tokens.list_tokens(db) if t.username != current_user.username]
    return render_template(
        "tokens.html", mine=mine, others=others, secret=secret, made=made, error=error
    )


@bp.get("/")
def index():
    return _page()


@bp.post("/")
def create():
    try:
        made, secret = tokens.create_token(
            formwork().db, current_user.username, request.form.get("name", "")
        )
    except ValidationError:  # the only thing that can be wrong
        return _page(error=_("The name must be at most 80 characters.")), 422
    return _page(secret=secret, made=made), 201


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    owner = None if current_user.role == "admin" else current_user.username
    try:
        gone = tokens.revoke_token(formwork().db, token_id, owner=owner)
    except NotFound:
        abort(404)
    flash(
        _("API token #%(id)s of %(user)s was revoked.", id=gone.id, user=gone.username), "success"
    )
    return redirect(url_for("tokens.index"))
