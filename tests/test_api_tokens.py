"""Personal API tokens: made and revoked by the user (page, CLI) or an admin, shown once,
stored as a SHA-256 only, sent as `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import re
from html import unescape
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from engine.auth import set_active
from engine.cli import cli
from engine.tokens import create_token, list_tokens, revoke_token, token_user

APPS = Path(__file__).resolve().parent.parent / "apps"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stored_rows(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(db.system("api_token")))]


def test_a_token_acts_as_its_user_until_revoked(app, client):
    db = app.extensions["formwork"].db
    made, secret = create_token(db, "clerk", "nightly sync")
    assert re.fullmatch(r"fwt_[A-Za-z0-9_-]{43}", secret)
    assert (made.username, made.name, made.hint) == ("clerk", "nightly sync", secret[:10])
    # Only the hash is stored: nothing in the table logs anyone in.
    rows = stored_rows(db)
    assert not any(secret in str(value) for row in rows for value in row)
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]

    response = client.get("/api/receivables/invoice", headers=bearer(secret))
    assert response.status_code == 200
    created = client.post(
        "/api/receivables/customer", json={"name": "Token GmbH"}, headers=bearer(secret)
    )
    assert created.status_code == 201 and created.json["created_by"] == "clerk"
    assert (
        client.delete("/api/receivables/customer/1?version=1", headers=bearer(secret)).status_code
        == 403
    )
    assert list_tokens(db)[0].last_used_at is not None

    revoke_token(db, made.id)
    refused = client.get("/api/receivables/invoice", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.headers.getlist("WWW-Authenticate") == [
        'Basic realm="Formwork", charset="UTF-8"',
        'Bearer realm="Formwork"',
    ]


def test_a_disabled_users_tokens_stop_working(app, client):
    db = app.extensions["formwork"].db
    _made, secret = create_token(db, "viewer")
    assert client.get("/api/", headers=bearer(secret)).status_code == 200
    set_active(db, "viewer", False)
    assert token_user(db, secret) is None
    assert client.get("/api/", headers=bearer(secret)).status_code == 401


def test_made_up_tokens_log_nobody_in(app, client):
    for secret in ("", "fwt_", "fwt_" + "A" * 43, "x" * 500, "Basic", "fwt_\u00e9"):
        assert client.get("/api/", headers=bearer(secret)).status_code == 401, secret


def test_the_page_makes_a_token_shows_it_once_and_revokes_it(app, login):
    client = login("clerk")
    program = app.test_client()  # no session: only the token
    made = client.post("/account/tokens/", data={"name": "spreadsheet"})
    assert made.status_code == 201
    secret = re.search(r'id="new-token">(fwt_[^<]+)<', made.text).group(1)
    assert "Copy it now: it is not shown again." in made.text
    assert program.get("/api/", headers=bearer(secret)).status_code == 200
    listed = client.get("/account/tokens/")
    assert "spreadsheet" in listed.text and secret[:10] in listed.text
    assert secret not in listed.text  # shown once only
    for cookie in ("session", "remember_token"):
        value = client.get_cookie(cookie)
        assert value is None or secret not in value.value
    (token,) = list_tokens(app.extensions["formwork"].db)
    revoked = client.post(f"/account/tokens/{token.id}/revoke", follow_redirects=True)
    assert f"API token #{token.id} of clerk was revoked." in revoked.text
    assert program.get("/api/", headers=bearer(secret)).status_code == 401


def test_users_revoke_only_their_own_tokens_and_admins_any(app, client, login):
    db = app.extensions["formwork"].db
    admins, _ = create_token(db, "admin", "admin's")
    clerks, clerk_secret = create_token(db, "clerk", "clerk's")
    login("clerk")
    assert client.post(f"/account/tokens/{admins.id}/revoke").status_code == 404
    assert "admin's" not in unescape(client.get("/account/tokens/").text)  # nor sees them
    client.post("/logout")
    login("admin")
    page = unescape(client.get("/account/tokens/").text)
    assert "Tokens of other users" in page and "clerk's" in page
    assert client.post(f"/account/tokens/{clerks.id}/revoke").status_code == 302
    assert token_user(db, clerk_secret) is None
    assert [t.id for t in list_tokens(db)] == [admins.id]


def test_a_token_name_too_long_is_refused(app, login):
    client = login("clerk")
    response = client.post("/account/tokens/", data={"name": "x" * 81})
    assert response.status_code == 422
    assert "The name must be at most 80 characters." in response.text
    assert list_tokens(app.extensions["formwork"].db) == []


def tokens_cli(url: str, *args: str):
    return CliRunner().invoke(
        cli,
        ["--apps", str(APPS), "--database", url, "token", *args],
        env={"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None},
        catch_exceptions=False,
    )


def test_the_cli_makes_lists_and_revokes_tokens(app, client, database_url):
    made = tokens_cli(database_url, "create", "collector", "--name", "dialler")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("fwt_")
    assert "API token #1 of collector (dialler): copy it now, it is not shown again" in made.stderr
    assert client.get("/api/", headers=bearer(secret)).status_code == 200
    listed = tokens_cli(database_url, "list")
    assert re.match(rf"#1  collector  dialler  {re.escape(secret[:10])}…  created ", listed.stdout)
    assert secret not in listed.stdout
    assert tokens_cli(database_url, "list", "--user", "admin").stdout.startswith("no API tokens")
    revoked = tokens_cli(database_url, "revoke", "1")
    assert revoked.stdout == "API token #1 of collector revoked\n"
    assert client.get("/api/", headers=bearer(secret)).status_code == 401
    again = tokens_cli(database_url, "revoke", "1")
    assert again.exit_code == 1 and "there is no API token #1" in again.stderr
    nobody = tokens_cli(database_url, "create", "nobody")
    assert nobody.exit_code == 1 and "there is no user 'nobody'" in nobody.stderr
