"""The home page: every app and its entities, as far as the user's role may read them."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from web.context import allowed, formwork, repository

bp = Blueprint("views", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def navigation() -> dict:
        apps = [
            (a, [e for e in a.entities.values() if allowed(e, "read")])
            for a in formwork().appset.apps.values()
        ]
        return {"nav_apps": [(a, ents) for a, ents in apps if ents]}


HOME_COUNT_CAP = 9999


@bp.route("/")
def home():
    """Every readable entity with how many records it holds (counted up to a cap)."""
    repo = repository()
    counts = {
        e.qualname: repo.count(e, cap=HOME_COUNT_CAP)
        for a in formwork().appset.apps.values()
        for e in a.entities.values()
        if allowed(e, "read")
    }
    return render_template("home.html", counts=counts, cap=HOME_COUNT_CAP)
