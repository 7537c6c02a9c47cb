"""Log-in hardening, each against what the probe found: no throttle, an unknown user
answering in 2 ms against 173 ms for a known one, sessions that outlived log-out and a
password change, no way to disable a user, and API 401s without a challenge."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.auth import add_user, authenticate, set_active, set_password
from engine.storage import Database

APPS = Path(__file__).resolve().parent.parent / "apps"


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def make_app(db: Database, database_url: str) -> Iterator:
    """make_app(**config): an app with two users (scrypt hashes, as in production), on the
    database the `db` fixture migrated (create_app never migrates)."""
    from web import create_app

    made = []

    def make(**config):
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "APPS_PATH": str(APPS),
                "SECRET_KEY": "test",
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                **config,
            }
        )
        made.append(app)
        db = app.extensions["formwork"].db
        if not made[1:]:
            add_user(db, "clara", "clara-password", "clerk")
            add_user(db, "viktor", "viktor-password", "viewer")
        return app

    yield make
    for app in made:
        app.extensions["formwork"].db.dispose()


def log_in(client, username: str, password: str, **kw):
    return client.post("/login", data={"username": username, "password": password, **kw})


# -- timing ---------------------------------------------------------------------------------


def _fastest(calls: dict[str, object], runs: int = 5) -> dict[str, float]:
    """The least CPU time of `runs` runs of each call, taken in turns: CPU time, not wall
    time, so that other processes on a busy machine do not blur the comparison."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.process_time()
            call()
            times[name].append(time.process_time() - start)
    return {name: min(found) for name, found in times.items()}


def test_an_unknown_user_takes_as_long_as_a_known_one_with_a_wrong_password(db: Database):
    add_user(db, "clara", "clara-password", "clerk")
    add_user(db, "dora", "dora-password", "clerk")
    set_active(db, "dora", False)
    authenticate(db, "nobody", "x")  # the dummy hash is made once, on first use
    took = _fastest(
        {
            "known": lambda: authenticate(db, "clara", "wrong-password"),
            "unknown": lambda: authenticate(db, "nobody-at-all", "wrong-password"),
            "disabled": lambda: authenticate(db, "dora", "dora-password"),
        }
    )
    assert took["known"] > 0.01, took  # a real password hash ran (the probe: 173 ms)
    # The probe: 2 ms against 173 ms.
    assert 0.5 < took["unknown"] / took["known"] < 2, took
    assert 0.5 < took["disabled"] / took["known"] < 2, took


# -- throttling -----------------------------------------------------------------------------


def test_failed_log_ins_are_throttled_per_user_name(make_app):
    client = make_app(LOGIN_LIMIT_PER_USER="3 per 15 minutes").test_client()
    for _ in range(3):
        assert log_in(client, "clara", "guess").status_code == 401
    refused = log_in(client, "clara", "clara-password")  # even the right password, now
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed log-ins" in refused.text
    assert '<input id="password"' in refused.text  # the form, to try again later
    assert log_in(client, "viktor", "viktor-password").status_code == 302  # another user


def test_failed_log_ins_are_throttled_per_address(make_app):
    app = make_app(LOGIN_LIMIT_PER_ADDRESS="4 per 15 minutes")
    attacker = app.test_client()
    for name in ("clara", "viktor", "anna", "bob"):
        assert log_in(attacker, name, "guess").status_code == 401
    assert log_in(attacker, "clara", "clara-password").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert log_in(elsewhere, "clara", "clara-password").status_code == 302


def test_a_success_clears_the_count_of_that_user(make_app):
    client = make_app(LOGIN_LIMIT_PER_USER="3 per 15 minutes").test_client()
    for _ in range(2):
        assert log_in(client, "clara", "guess").status_code == 401
    assert log_in(client, "clara", "clara-password").status_code == 302
    client.post("/logout")
    for _ in range(2):
        assert log_in(client, "clara", "guess").status_code == 401
    assert log_in(client, "clara", "clara-password").status_code == 302


def test_http_basic_goes_through_the_same_throttle(make_app):
    client = make_app(LOGIN_LIMIT_PER_USER="3 per 15 minutes").test_client()
    for _ in range(3):
        response = client.get("/api/", headers=basic("clara", "guess"))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Formwork", charset="UTF-8"'
    refused = client.get("/api/", headers=basic("clara", "clara-password"))
    assert refused.status_code == 429
    assert refused.is_json and "too many failed log-ins" in refused.json["error"]
    assert int(refused.headers["Retry-After"]) > 0
    assert log_in(client, "clara", "clara-password").status_code == 429  # the form too


def test_api_401s_carry_a_basic_challenge(make_app):
    client = make_app().test_client()
    for response in (client.get("/api/"), client.get("/api/receivables/invoice")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert "WWW-Authenticate" not in client.get("/").headers  # pages redirect to the form


# -- sessions -------------------------------------------------------------------------------


def _copy_cookies(source, target, names=("session", "remember_token")) -> None:
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def test_log_out_ends_copied_sessions_and_remember_cookies(make_app):
    app = make_app()
    browser = app.test_client()
    assert log_in(browser, "clara", "clara-password", remember="1").status_code == 302
    thief, remembered = app.test_client(), app.test_client()
    _copy_cookies(browser, thief)
    _copy_cookies(browser, remembered, names=("remember_token",))
    assert thief.get("/").status_code == 200
    assert remembered.get("/").status_code == 200  # the remember-me cookie alone logs in
    browser.post("/logout")
    assert browser.get("/").status_code == 302
    assert thief.get("/").status_code == 302  # the copy stopped working
    fresh = app.test_client()
    _copy_cookies(browser, fresh)
    _copy_cookies(remembered, fresh, names=("remember_token",))
    assert fresh.get("/").status_code == 302


def test_a_new_password_ends_every_session(make_app):
    app = make_app()
    client = app.test_client()
    assert log_in(client, "clara", "clara-password", remember="1").status_code == 302
    assert client.get("/").status_code == 200
    set_password(app.extensions["formwork"].db, "clara", "a-new-password")
    assert client.get("/").status_code == 302
    assert log_in(client, "clara", "clara-password").status_code == 401
    assert log_in(client, "clara", "a-new-password").status_code == 302


def test_a_disabled_user_cannot_log_in_use_the_api_or_keep_a_session(make_app):
    app = make_app()
    db = app.extensions["formwork"].db
    client = app.test_client()
    assert log_in(client, "clara", "clara-password").status_code == 302
    assert client.get("/api/", headers=basic("clara", "clara-password")).status_code == 200
    set_active(db, "clara", False)
    assert client.get("/").status_code == 302
    assert log_in(client, "clara", "clara-password").status_code == 401
    assert client.get("/api/", headers=basic("clara", "clara-password")).status_code == 401
    set_active(db, "clara", True)
    assert log_in(client, "clara", "clara-password").status_code == 302


def test_a_session_naming_only_the_user_id_logs_nobody_in(make_app):
    """Sessions signed before tokens existed held the bare id: they must not count."""
    app = make_app()
    user_id = authenticate(app.extensions["formwork"].db, "clara", "clara-password").id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    assert client.get("/").status_code == 302
