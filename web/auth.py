"""Log-in: sessions for people (Flask-Login), HTTP Basic for API clients; roles from the engine."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from engine import auth
from engine.i18n import N_
from web.context import formwork

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = N_("Please log in to see that page.")  # see web.i18n
login_manager.login_message_category = "info"


class WebUser(UserMixin):
    def __init__(self, user: auth.User):
        self.id, self.username, self.role = user.id, user.username, user.role
        self.locale = user.locale

    def get_id(self) -> str:
        return str(self.id)


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    try:
        user = auth.get_user(formwork().db, int(user_id))
    except ValueError:
        return None
    return WebUser(user) if user else None


@login_manager.request_loader
def load_user_from_basic_auth(req) -> WebUser | None:
    """API clients send HTTP Basic credentials with each request."""
    creds = req.authorization
    if creds is None or creds.type != "basic" or not creds.username:
        return None
    user = auth.authenticate(formwork().db, creds.username, creds.password or "")
    return WebUser(user) if user else None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)

    @app.before_request
    def require_login():
        """Nothing but the log-in page and static files is reachable without logging in."""
        if (
            request.endpoint in ("auth.login", "i18n.set_language", "static")
            or current_user.is_authenticated
        ):
            return None
        if request.path.startswith("/api/"):
            from web.api import json_error

            return json_error(401, "log in first (session or HTTP Basic credentials)")
        return login_manager.unauthorized()


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("views.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("views.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = auth.authenticate(
            formwork().db, request.form.get("username", ""), request.form.get("password", "")
        )
        if user:
            login_user(WebUser(user), remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.args.get("next")))
        error = _("Wrong user name or password.")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
