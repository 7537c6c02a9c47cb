"""JSON API (placeholder)."""

from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__, url_prefix="/api")


def json_error(status: int, message: str, fields: dict | None = None):
    body = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), status
