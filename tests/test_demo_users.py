"""`formwork demo` never changes a user that exists already (the probe found it reset passwords)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.appdef import load_apps
from engine.auth import add_user, authenticate
from engine.cli import cli
from engine.storage import Database

APPS = Path(__file__).resolve().parent.parent / "apps"


def test_demo_no_serve_on_an_existing_database_leaves_its_users_alone(database_url):
    db = Database(load_apps([APPS]), database_url)
    db.migrate()
    add_user(db, "admin", "the-real-admin-password", "admin")
    add_user(db, "viewer", "a-viewer-password", "clerk")
    try:
        result = CliRunner().invoke(
            cli,
            ["--apps", str(APPS), "demo", "--database", database_url, "--no-serve"],
            env={"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert authenticate(db, "admin", "the-real-admin-password").role == "admin"
        assert authenticate(db, "admin", "formwork-admin") is None
        assert authenticate(db, "viewer", "a-viewer-password").role == "clerk"  # role kept too
        assert authenticate(db, "viewer", "formwork-viewer") is None
        assert "admin / formwork-admin" not in result.stdout
        assert "admin: an existing user, left as it is (password unchanged)" in result.stdout
        # Users the database did not have yet are created and printed as before.
        assert "Log in at http://127.0.0.1:5000 as clerk / formwork-clerk" in result.stdout
        assert authenticate(db, "clerk", "formwork-clerk").role == "clerk"
    finally:
        db.dispose()
