"""Security headers on every response, hardened cookies, and pages that need no inline code
(so the Content-Security-Policy can forbid it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


def assert_secured(response) -> None:
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_every_kind_of_response_carries_the_headers(login, client):
    anonymous = [
        client.get("/login"),  # a page
        client.get("/"),  # a redirect to log in
        client.get("/static/app.js"),  # a static file
        client.get("/api/"),  # an API 401
        client.post("/login", data={"username": "x", "password": "y"}),  # a failed log-in
    ]
    login("clerk")
    logged_in = [
        client.get("/"),
        client.get("/receivables/invoice/"),
        client.get("/receivables/invoice/12345"),  # a 404 page
        client.get("/api/receivables/invoice"),  # JSON
        client.get("/api/nothing/here"),  # an API 404
        client.get("/api/openapi.json"),
    ]
    assert [r.status_code for r in anonymous] == [200, 302, 200, 401, 401]
    assert [r.status_code for r in logged_in] == [200, 200, 404, 200, 404, 200]
    for response in anonymous + logged_in:
        assert_secured(response)
        response.close()  # the static file's handle
    assert "Strict-Transport-Security" not in anonymous[0].headers  # plain HTTP


def _cookies(response) -> dict[str, set[str]]:
    found = {}
    for cookie in response.headers.getlist("Set-Cookie"):
        name, *attributes = [part.strip() for part in cookie.split(";")]
        found[name.split("=", 1)[0]] = {a.split("=", 1)[0].lower() for a in attributes} | {
            a.lower() for a in attributes if a.lower().startswith("samesite")
        }
    return found


LOGIN = {"username": "clerk", "password": "clerk-pass", "remember": "on"}


def test_cookies_are_httponly_and_samesite_lax_and_secure_over_https(client):
    plain = _cookies(client.post("/login", data=LOGIN))
    assert set(plain) == {"session", "remember_token"}
    for attributes in plain.values():
        assert {"httponly", "samesite=lax"} <= attributes
        assert "secure" not in attributes  # http://: a Secure cookie would never come back
    secure = client.post("/login", data=LOGIN, base_url="https://formwork.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    cookies = _cookies(secure)
    assert set(cookies) == {"session", "remember_token"}
    for attributes in cookies.values():
        assert {"httponly", "samesite=lax", "secure"} <= attributes


def test_secure_cookies_can_be_forced(db, database_url):  # db: migrated
    from engine.auth import add_user
    from web import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "APPS_PATH": str(TEMPLATES.parent.parent / "apps"),
            "SECRET_KEY": "test",
            "SECURE_COOKIES": "always",
            "WTF_CSRF_ENABLED": False,
        }
    )
    db = app.extensions["formwork"].db
    add_user(db, "clerk", "clerk-pass", "clerk")
    try:
        cookies = _cookies(app.test_client().post("/login", data=LOGIN))
        assert set(cookies) == {"session", "remember_token"}
        assert all("secure" in attributes for attributes in cookies.values())
    finally:
        db.dispose()


def test_an_unknown_secure_cookies_setting_stops_the_start(db, database_url):
    from web import create_app

    with pytest.raises(ValueError, match="SECURE_COOKIES must be one of auto, always, never"):
        create_app({"DATABASE_URL": database_url, "SECURE_COOKIES": "sometimes"})


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on...= event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_hold_no_inline_code_the_policy_would_block(template):
    text = template.read_text(encoding="utf-8")
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template.name} has {', '.join(found)}: move it to web/static"
