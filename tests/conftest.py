"""Shared fixtures: the apps, a fresh database per test on SQLite and (when configured)
PostgreSQL, a repository, a Flask app and client, and a log-in helper."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.appdef import AppSet, load_apps
from engine.permissions import Principal
from engine.storage import Database, Repository

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"
PG_URL = os.environ.get("FORMWORK_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


@pytest.fixture(scope="session")
def appset() -> AppSet:
    return load_apps([APPS])


def reset_postgres(url: str) -> None:
    """An empty public schema, so each test starts from nothing."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or the PostgreSQL test database, emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    assert PG_URL is not None
    reset_postgres(PG_URL)
    return PG_URL


def run_on_postgres(sql: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


@contextlib.contextmanager
def _private_database(
    backend: str, appset: AppSet, folder: Path, schema: str
) -> Iterator[Database]:
    """A migrated database that outlives single tests (module fixtures): a SQLite file in
    `folder`, or on PostgreSQL a schema of its own, which the per-test fixtures (that
    recreate `public`) leave alone."""
    if backend == "sqlite":
        database = Database(appset, f"sqlite:///{folder / f'{schema}.db'}")
    else:
        assert PG_URL is not None
        run_on_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        database = Database(appset, PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
        if backend == "postgresql":
            run_on_postgres(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def private_database():
    """`with private_database(backend, appset, folder, schema) as db:` for module fixtures."""
    return _private_database


def make_db(appset: AppSet, url: str) -> Database:
    db = Database(appset, url)
    db.migrate()
    return db


@pytest.fixture
def db(appset: AppSet, database_url: str) -> Iterator[Database]:
    database = make_db(appset, database_url)
    yield database
    database.dispose()


@pytest.fixture
def repository_for(database_url: str) -> Iterator[Callable[[AppSet], Repository]]:
    """repository_for(appset): a system repository on a fresh, migrated database of those apps."""
    made: list[Database] = []

    def make(appset: AppSet) -> Repository:
        made.append(make_db(appset, database_url))
        return made[-1].repository(Principal.system("test"))

    yield make
    for database in made:
        database.dispose()


@pytest.fixture
def repo(db: Database) -> Repository:
    return db.repository(Principal.system("tester"))


@contextlib.contextmanager
def _web_app(database_url: str, apps: Path = APPS, **config: object):
    """A Flask app of `apps` on the database, with one user per role ("clerk"/"clerk-pass");
    `config` adds to (or overrides) the test configuration."""
    from engine.auth import add_user
    from web import create_app

    make_db(load_apps([apps]), database_url).dispose()  # create_app never migrates
    flask_app = create_app(
        {
            "DATABASE_URL": database_url,
            "APPS_PATH": str(apps),
            "SECRET_KEY": "test",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            **config,
        }
    )
    db = flask_app.extensions["formwork"].db
    for role in ("admin", "editor", "clerk", "collector", "viewer"):
        add_user(db, role, f"{role}-pass", role)
    try:
        yield flask_app
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def web_app():
    """`with web_app(database_url, apps_folder) as app:` for tests of other app definitions."""
    return _web_app


@pytest.fixture
def app(database_url: str):
    with _web_app(database_url) as flask_app:
        yield flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client):
    """login("clerk") logs the test client in as the user of that role."""

    def do(role: str = "admin"):
        response = client.post("/login", data={"username": role, "password": f"{role}-pass"})
        assert response.status_code == 302, response.data
        return client

    return do
