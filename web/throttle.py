"""Log-in throttling: failed log-ins are counted per user name and per client address, and
past a limit further attempts are refused (429, with Retry-After) until the window passes.

Only failures count, so a person who types the password right is never slowed down, and
a success clears the count of that user name. HTTP Basic on the API goes through the same
counts as the log-in form, so it is no way around them. Flask-Limiter holds the counts:
in this process's memory by default, which is right for one process; several workers
(gunicorn) must share them, through `RATELIMIT_STORAGE_URI`
(FORMWORK_RATELIMIT_STORAGE_URI), e.g. `redis://127.0.0.1:6379` (needs the `redis`
package). The client address is the connection's unless `TRUST_PROXY` says proxies set
X-Forwarded-For (see web.security).

Settings: `LOGIN_LIMIT_PER_USER` and `LOGIN_LIMIT_PER_ADDRESS`, in Flask-Limiter's
notation ("10 per 15 minutes").
"""

from __future__ import annotations

import math
import os
import time

from flask import Flask, Response, current_app, make_response, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from werkzeug.exceptions import TooManyRequests

EXTENSION = "formwork_throttle"


def defaults() -> dict[str, object]:
    return {
        "RATELIMIT_STORAGE_URI": os.environ.get("FORMWORK_RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_STRATEGY": "moving-window",
        "LOGIN_LIMIT_PER_USER": os.environ.get("FORMWORK_LOGIN_LIMIT_PER_USER")
        or "10 per 15 minutes",
        "LOGIN_LIMIT_PER_ADDRESS": os.environ.get("FORMWORK_LOGIN_LIMIT_PER_ADDRESS")
        or "100 per 15 minutes",
    }


class LoginThrottle:
    """The counts of failed log-ins of one app."""

    def __init__(self, app: Flask):
        self.limiter = Limiter(key_func=_address, app=app, key_prefix="formwork")
        self.per_user = parse(app.config["LOGIN_LIMIT_PER_USER"])
        self.per_address = parse(app.config["LOGIN_LIMIT_PER_ADDRESS"])

    def _counts(self, username: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [
            (self.per_user, ("login-user", username.strip())),
            (self.per_address, ("login-address", _address())),
        ]

    def check(self, username: str) -> None:
        """Refuse (429) before any password is checked when either count is full."""
        strategy = self.limiter.limiter
        waits = [
            strategy.get_window_stats(item, *keys).reset_time - time.time()
            for item, keys in self._counts(username)
            if not strategy.test(item, *keys)
        ]
        if waits:
            raise TooManyLogins(max(1, math.ceil(max(waits))))

    def failed(self, username: str) -> None:
        for item, keys in self._counts(username):
            self.limiter.limiter.hit(item, *keys)

    def succeeded(self, username: str) -> None:
        item, keys = self._counts(username)[0]
        self.limiter.limiter.clear(item, *keys)


class TooManyLogins(TooManyRequests):
    def __init__(self, seconds: int):
        super().__init__(retry_after=seconds)
        self.seconds = seconds


def _address() -> str:
    return request.remote_addr or "unknown"


def throttle() -> LoginThrottle:
    return current_app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = LoginThrottle(app)
    app.register_error_handler(TooManyLogins, _too_many)


def _too_many(error: TooManyLogins) -> Response:
    minutes = max(1, math.ceil(error.seconds / 60))
    if request.path.startswith("/api/"):
        from web.api import json_error

        message = _(
            "too many failed log-ins for this user or address; try again in %(n)s minutes",
            n=minutes,
        )
        response = json_error(429, message)
    else:
        message = _(
            "Too many failed log-ins for this user or from this address. "
            "Try again in %(n)s minutes.",
            n=minutes,
        )
        response = make_response(render_template("login.html", error=message), 429)
    response.headers["Retry-After"] = str(error.seconds)
    return response
