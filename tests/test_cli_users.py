"""`formwork user passwd|disable|enable`: change a user from the command line; each ends
the user's sessions."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.auth import add_user, authenticate, session_user

APPS = Path(__file__).resolve().parent.parent / "apps"


def users(url: str, *args: str, input: str | None = None):
    return CliRunner().invoke(
        cli_group(),
        ["--apps", str(APPS), "--database", url, "user", *args],
        input=input,
        env={"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None},
        catch_exceptions=False,
    )


def cli_group():
    from engine.cli import cli

    return cli


def test_passwd_sets_a_new_password_and_ends_the_sessions(db, database_url):
    old = add_user(db, "clara", "first-password", "clerk")
    result = users(database_url, "passwd", "clara", "--password", "second-password")
    assert result.exit_code == 0, result.output
    assert result.stdout == "password of clara changed; its sessions have ended\n"
    assert authenticate(db, "clara", "first-password") is None
    assert authenticate(db, "clara", "second-password") is not None
    assert session_user(db, old.session_id) is None
    piped = users(database_url, "passwd", "clara", input="third-password\n")
    assert piped.exit_code == 0 and authenticate(db, "clara", "third-password") is not None
    short = users(database_url, "passwd", "clara", "--password", "short")
    assert short.exit_code == 1 and "password: must be at least 8 characters" in short.stderr
    missing = users(database_url, "passwd", "nobody", "--password", "long-enough")
    assert missing.exit_code == 1 and "there is no user 'nobody'" in missing.stderr


def test_disable_and_enable(db, database_url):
    old = add_user(db, "clara", "clara-password", "clerk")
    result = users(database_url, "disable", "clara")
    assert result.exit_code == 0, result.output
    assert result.stdout == "user clara disabled: it cannot log in or use the API\n"
    assert authenticate(db, "clara", "clara-password") is None
    assert session_user(db, old.session_id) is None
    assert users(database_url, "list").stdout == "clara  clerk  (inactive)\n"
    enabled = users(database_url, "enable", "clara")
    assert enabled.stdout == "user clara enabled\n"
    assert authenticate(db, "clara", "clara-password") is not None
    assert session_user(db, old.session_id) is None  # old sessions stay ended
    missing = users(database_url, "disable", "nobody")
    assert missing.exit_code == 1 and "there is no user 'nobody'" in missing.stderr
