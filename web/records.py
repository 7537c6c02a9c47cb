"""List, detail, create, edit and delete pages for every entity (placeholder)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("records", __name__)


@bp.route("/<app>/<entity>/")
def list_records(app: str, entity: str):
    return f"{app}.{entity}"
