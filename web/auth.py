"""Log-in: sessions for people (Flask-Login), API tokens or HTTP Basic for API clients.

A session (and a remember-me cookie) holds the user's `session_id` ("id:token"), not only
the id: the engine changes the token at log-out, on a new password and when the user is
disabled, and a cookie with an old token logs nobody in, even a copy taken earlier.
Every password check, from the form or HTTP Basic, goes through the log-in throttle.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from engine import auth, tokens
from engine.i18n import N_
from web.context import formwork
from web.throttle import TooManyLogins, throttle

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = N_("Please log in to see that page.")  # see web.i18n
login_manager.login_message_category = "info"
API_CHALLENGES = ('Basic realm="Formwork", charset="UTF-8"', 'Bearer realm="Formwork"')


class WebUser(UserMixin):
    def __init__(self, user: auth.User):
        self.id, self.username, self.role = user.id, user.username, user.role
        self.locale = user.locale
        self.session_id = user.session_id

    def get_id(self) -> str:
        return self.session_id


@login_manager.user_loader
def load_user(session_id: str) -> WebUser | None:
    user = auth.session_user(formwork().db, session_id)
    return WebUser(user) if user else None


@login_manager.request_loader
def load_user_from_request(req) -> WebUser | None:
    """API clients send an API token (Bearer) or HTTP Basic credentials with each request."""
    creds = req.authorization
    if creds is not None and creds.type == "bearer":
        user = tokens.token_user(formwork().db, creds.token or "")
        return WebUser(user) if user else None
    if creds is None or creds.type != "basic" or not creds.username:
        return None
    try:
        user = checked_login(creds.username, creds.password or "")
    except TooManyLogins as refused:
        # Raised later, from require_login: raised here, it would come back each time
        # something (the error page's locale) asks for the current user.
        g.refused_login = refused
        return None
    return WebUser(user) if user else None


def checked_login(username: str, password: str) -> auth.User | None:
    """The user, if the password is right; every failure counts towards the throttle, and
    a full count refuses (429) before the password is even looked at."""
    counts = throttle()
    counts.check(username)
    user = auth.authenticate(formwork().db, username, password)
    if user is None:
        counts.failed(username)
    else:
        counts.succeeded(username)
    return user


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
        if "refused_login" in g:
            raise g.refused_login
        if request.path.startswith("/api/"):
            from web.api import json_error

            response = json_error(
                401, "log in first (an API token, HTTP Basic credentials or a session)"
            )
            for challenge in API_CHALLENGES:
                response.headers.add("WWW-Authenticate", challenge)
            return response
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
        user = checked_login(request.form.get("username", ""), request.form.get("password", ""))
        if user:
            login_user(WebUser(user), remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.args.get("next")))
        error = _("Wrong user name or password.")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    """Ends every session of the user, this one and any copy of its cookies."""
    if current_user.is_authenticated:
        auth.end_sessions(formwork().db, current_user.id)
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
