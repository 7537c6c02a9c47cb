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

from flask import Flask, g, has_app_context
from flask_wtf.csrf import CSRFProtect

from engine.appdef import AppSet
from engine.runtime import DEFAULT_INTERVAL, LiveApps, Version
from engine.storage import Database
from web import security, throttle

csrf = CSRFProtect()
DEFAULT_APPS = Path(__file__).resolve().parent.parent / "apps"


@dataclass
class Formwork:
    """What every view needs: the definitions, the database and the locale.

    `appset` and `db` are those of the version of the definitions the current request
    started with (`use_current_definitions`), so one request never mixes two versions;
    outside a request, those of the live version.
    """

    live: LiveApps
    locale: str = "en_US"

    @property
    def version(self) -> Version:
        if has_app_context() and "formwork_version" in g:
            return g.formwork_version
        return self.live.current

    @property
    def appset(self) -> AppSet:
        return self.version.appset

    @property
    def db(self) -> Database:
        return self.version.db


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("FORMWORK_SECRET_KEY") or secrets.token_hex(32),
        APPS_PATH=os.environ.get("FORMWORK_APPS") or str(DEFAULT_APPS),
        DATABASE_URL=None,
        LOCALE=os.environ.get("FORMWORK_LOCALE", "en_US"),
        RELOAD_INTERVAL=os.environ.get("FORMWORK_RELOAD_INTERVAL", DEFAULT_INTERVAL),
        WTF_CSRF_TIME_LIMIT=None,
        **security.defaults(),
        **throttle.defaults(),
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
    # No migration here: several workers would race. A database behind the definitions
    # stops the start (SchemaBehind) until `formwork migrate` has run.
    live = LiveApps(
        paths if isinstance(paths, list | tuple) else [paths],
        app.config["DATABASE_URL"],
        interval=float(app.config["RELOAD_INTERVAL"]),
    )
    app.extensions["formwork"] = Formwork(live, app.config["LOCALE"])
    _init_reload(app, live)
    csrf.init_app(app)
    security.init_app(app)
    throttle.init_app(app)

    from web import api, auth, i18n, imports, reconcile, records, tokens, views

    i18n.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(reconcile.bp)
    return app


def _init_reload(app: Flask, live: LiveApps) -> None:
    """Hot reload: each request starts on the newest valid definitions (see engine.runtime)."""

    @app.before_request
    def use_current_definitions() -> None:
        live.refresh()
        g.formwork_version = live.current

    @app.context_processor
    def definitions_problem() -> dict:
        from flask_login import current_user

        role = current_user.role if current_user.is_authenticated else None
        return {"definitions_problem": live.problem_for(role), "definitions": live.current}

    if app.testing:

        @app.after_request
        def name_the_worker(response):
            """Lets a test tell the processes of a multi-worker server apart."""
            response.headers["X-Formwork-Worker"] = str(os.getpid())
            response.headers["X-Formwork-Definitions"] = g.get("formwork_version", live.current).id
            return response
