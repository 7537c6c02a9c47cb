"""What every response carries whatever view made it: security headers, hardened cookies,
and a bound on the size of a request.

One place, applied after every view, so that a page added later cannot forget a header
or a cookie attribute. Settings (each also read from the environment):

* `MAX_CONTENT_LENGTH` (FORMWORK_MAX_CONTENT_LENGTH, bytes): larger bodies get 413.
* `SECURE_COOKIES` (FORMWORK_SECURE_COOKIES): "auto" marks cookies Secure when the
  request came over HTTPS, "always" or "never" decide it outright.
* `TRUST_PROXY` (FORMWORK_TRUST_PROXY): how many reverse proxies in front set
  X-Forwarded-For/-Proto, so that the client's address (for throttling) and HTTPS (for
  Secure cookies) are seen; 0, the default, trusts no such header.
* `CONTENT_SECURITY_POLICY`: the policy below unless replaced. The pages have no inline
  scripts, styles or event handlers, so nothing needs 'unsafe-inline'.
"""

from __future__ import annotations

import os

from flask import Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import format_number
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

DEFAULT_MAX_CONTENT_LENGTH = 4 * 1024 * 1024
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SECURE_CHOICES = ("auto", "always", "never")


def defaults() -> dict[str, object]:
    """The settings this module reads, from the environment or their defaults."""
    return {
        "MAX_CONTENT_LENGTH": int(
            os.environ.get("FORMWORK_MAX_CONTENT_LENGTH") or DEFAULT_MAX_CONTENT_LENGTH
        ),
        "SECURE_COOKIES": os.environ.get("FORMWORK_SECURE_COOKIES") or "auto",
        "TRUST_PROXY": int(os.environ.get("FORMWORK_TRUST_PROXY") or 0),
        "CONTENT_SECURITY_POLICY": CONTENT_SECURITY_POLICY,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
    }


def init_app(app: Flask) -> None:
    secure = app.config["SECURE_COOKIES"]
    if secure not in SECURE_CHOICES:
        raise ValueError(f"SECURE_COOKIES must be one of {', '.join(SECURE_CHOICES)}: {secure!r}")
    if secure == "always":
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    proxies = int(app.config["TRUST_PROXY"])
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.session_interface = _SessionInterface()
    # Registered before Flask-Login's hook, so it runs after it and sees the remember cookie.
    app.after_request(_secure_response)
    app.register_error_handler(RequestEntityTooLarge, _too_large)


def _secure_response(response: Response) -> Response:
    from flask import current_app

    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault(
        "Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"]
    )
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    _harden_cookies(response, _secure_cookies(current_app.config["SECURE_COOKIES"]))
    return response


def _secure_cookies(setting: str) -> bool:
    return setting == "always" or (setting == "auto" and request.is_secure)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is written after every after_request hook: mark it Secure here."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or _secure_cookies(app.config["SECURE_COOKIES"])


def _harden_cookies(response: Response, secure: bool) -> None:
    """Every cookie set (session, remember-me, any a later part adds) is HttpOnly and
    SameSite=Lax, and Secure over HTTPS, unless it says otherwise itself."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return
    del response.headers["Set-Cookie"]
    for cookie in cookies:
        attributes = {part.split("=", 1)[0].strip().lower() for part in cookie.split(";")[1:]}
        if "httponly" not in attributes:
            cookie += "; HttpOnly"
        if "samesite" not in attributes:
            cookie += "; SameSite=Lax"
        if secure and "secure" not in attributes:
            cookie += "; Secure"
        response.headers.add("Set-Cookie", cookie)


def _too_large(error: RequestEntityTooLarge):
    from flask import current_app

    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    if request.path.startswith("/api/"):
        from web.api import json_error

        message = _(
            "the request is larger than %(size)s bytes; send less at a time", size=f"{limit:,}"
        )
        return json_error(413, message)
    message = _(
        "What you sent is larger than %(size)s bytes, so nothing was saved. "
        "Shorten the text (or split the upload) and try again.",
        size=format_number(limit),
    )
    return render_template("error.html", code=413, title=_("Too large"), message=message), 413
