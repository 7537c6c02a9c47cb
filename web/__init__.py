"""The web interface: a thin Flask layer over the engine (UI, JSON API, and later the portal).

`create_app(config)` builds an app from definitions and a database; nothing
happens at import time. Business rules live in `engine`, never in view functions.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from engine.appdef import AppSet, load_apps
from engine.storage import Database

csrf = CSRFProtect()
DEFAULT_APPS = Path(__file__).resolve().parent.parent / "apps"


@dataclass
class Formwork:
    """What every view needs: the definitions, the database and the locale."""

    appset: AppSet
    db: Database
    locale: str = "en_US"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("FORMWORK_SECRET_KEY") or secrets.token_hex(32),
        APPS_PATH=os.environ.get("FORMWORK_APPS") or str(DEFAULT_APPS),
        DATABASE_URL=None,
        LOCALE=os.environ.get("FORMWORK_LOCALE", "en_US"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(config or {})
    if not (config or {}).get("SECRET_KEY") and not os.environ.get("FORMWORK_SECRET_KEY"):
        app.logger.warning(
            "FORMWORK_SECRET_KEY is not set: sessions end when this process stops and are not "
            "shared between workers; set it in production"
        )
    paths = app.config["APPS_PATH"]
    if isinstance(paths, str):
        paths = paths.split(os.pathsep)
    appset = load_apps(paths if isinstance(paths, list | tuple) else [paths])
    db = Database(appset, app.config["DATABASE_URL"])
    db.migrate()  # additive changes only; destructive ones stop the start with a message
    app.extensions["formwork"] = Formwork(appset, db, app.config["LOCALE"])
    csrf.init_app(app)

    from web import api, auth, i18n, records, views

    i18n.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(records.bp)
    return app
