"""Hot reload of the definitions: the runtime object on both databases, the web hook and its
banner, start-up refusing a database behind the definitions, and two real gunicorn workers
switching without a restart."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from engine.appdef import check_sources, load_apps
from engine.auth import add_user
from engine.cli import cli
from engine.errors import DefinitionErrors
from engine.permissions import Principal
from engine.runtime import LiveApps, SchemaBehind, version_id
from engine.storage import Database

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"
NEW_FIELD = "loyalty_tier"
ADDED = f"      {NEW_FIELD}: {{type: string}}\n"
ANCHOR = "      phone: {type: phone, label: {zh: 电话}}\n"  # a customer field line


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A copy of the shipped apps that a test edits while they are served."""
    return Path(shutil.copytree(APPS, tmp_path / "apps"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add_field(apps: Path) -> None:
    edit(apps / "receivables.yaml", ANCHOR, ANCHOR + ADDED)


def break_field(apps: Path) -> tuple[int, int]:
    """Misspell the new field's type; the line and column the error must point at."""
    edit(apps / "receivables.yaml", ADDED, ADDED.replace("string", "strnig"))
    lines = (apps / "receivables.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if NEW_FIELD in text)
    return line, lines[line - 1].index("strnig") + 1


def migrate(apps: Path, url: str) -> None:
    db = Database(load_apps([apps]), url)
    db.migrate()
    db.dispose()


@pytest.fixture
def live(apps: Path, database_url: str) -> Iterator[LiveApps]:
    """A LiveApps that looks at the files on every refresh, on a migrated database."""
    migrate(apps, database_url)
    served = LiveApps([apps], database_url, interval=0)
    yield served
    served.dispose()


# -- the runtime object ---------------------------------------------------------------------------


def test_a_valid_edit_waits_for_the_migration_then_switches(live, apps, database_url):
    first = live.current
    add_field(apps)
    assert live.refresh() is False
    assert live.current is first
    assert live.problem is not None and not live.problem.errors
    assert live.problem.summary == (
        "the database is behind these definitions: run `formwork migrate`"
    )
    assert any(f"receivables_customer.{NEW_FIELD}" in step for step in live.problem.pending)

    migrate(apps, database_url)
    assert live.refresh() is True
    assert live.problem is None
    assert NEW_FIELD in live.current.appset.entity("receivables.customer").fields
    assert NEW_FIELD not in first.appset.entity("receivables.customer").fields
    # One pool for every version: the switch opens no new engine.
    assert live.current.db.engine is first.db.engine
    assert live.current.db is not first.db
    repo = live.current.db.repository(Principal.system("tester"))
    saved = repo.create("receivables.customer", {"name": "Acme", NEW_FIELD: "gold"})
    assert repo.get("receivables.customer", saved["id"])[NEW_FIELD] == "gold"
    # A request that started on the old version finishes on it, on the same database.
    old = first.db.repository(Principal.system("tester")).get("receivables.customer", saved["id"])
    assert old["name"] == "Acme" and NEW_FIELD not in old
    assert live.refresh() is False  # nothing changed since


def test_a_broken_edit_keeps_the_last_good_version(live, apps):
    first = live.current
    add_field(apps)
    line, column = break_field(apps)
    assert live.refresh() is False
    assert live.current is first
    problem = live.problem
    assert problem is not None and problem.summary == "1 error in the app definitions"
    (error,) = problem.errors
    assert error.location.file == str(apps / "receivables.yaml")
    assert (error.location.line, error.location.column) == (line, column)
    assert "'strnig' is not a field type (did you mean 'string'?)" in problem.details[0]
    assert live.problem_for("admin") is problem and live.problem_for("editor") is problem
    assert live.problem_for("clerk") is None and live.problem_for(None) is None

    assert live.refresh() is False and live.problem is problem  # same files: same problem
    shutil.copy(APPS / "receivables.yaml", apps / "receivables.yaml")  # the edit undone
    assert live.refresh() is False
    assert live.problem is None and live.current is first


def test_files_are_looked_at_once_per_interval(apps, database_url):
    migrate(apps, database_url)
    now = [100.0]
    served = LiveApps([apps], database_url, interval=5, clock=lambda: now[0])
    try:
        add_field(apps)
        migrate(apps, database_url)
        now[0] += 4.9
        assert served.refresh() is False and served.problem is None
        now[0] += 0.1
        assert served.refresh() is True
        assert NEW_FIELD in served.current.appset.entity("receivables.customer").fields
    finally:
        served.dispose()


def test_the_version_is_a_hash_of_the_files(live, apps):
    texts = {str(p): p.read_text(encoding="utf-8") for p in sorted(apps.glob("*.yaml"))}
    assert live.current.id == version_id(texts)
    assert version_id({**texts, "x.yaml": ""}) != live.current.id


def test_an_unreadable_or_missing_file_is_a_problem_too(live, apps):
    first = live.current
    (apps / "receivables.yaml").unlink()  # collections uses it
    assert live.refresh() is False and live.current is first
    assert live.problem is not None
    assert any("'receivables'" in line for line in live.problem.details), live.problem.details
    for f in apps.glob("*.yaml"):
        f.unlink()
    assert live.refresh() is False and live.current is first
    assert live.problem.details == [f"{apps}:0:0: no app files (*.yaml) found"]


def test_a_crash_while_checking_keeps_serving(live, apps, monkeypatch, caplog):
    """A bug in a check is logged; requests go on with the version being served."""

    def crash(texts):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr("engine.runtime.check_sources", crash)
    first = live.current
    add_field(apps)
    assert live.refresh() is False and live.current is first
    assert "a bug in a check" in caplog.text


def test_start_up_refuses_broken_files_and_a_database_behind(apps, database_url):
    with pytest.raises(SchemaBehind, match=r"run `formwork migrate` first"):
        LiveApps([apps], database_url)
    migrate(apps, database_url)
    add_field(apps)
    with pytest.raises(SchemaBehind, match=r"\(1 change pending\)"):
        LiveApps([apps], database_url)
    break_field(apps)
    with pytest.raises(DefinitionErrors, match="'strnig' is not a field type"):
        LiveApps([apps], database_url)


# -- check_sources --------------------------------------------------------------------------------


def test_check_sources_checks_text_under_the_names_given():
    texts = {f"apps/{p.name}": p.read_text(encoding="utf-8") for p in APPS.glob("*.yaml")}
    appset, errors = check_sources(texts)
    assert errors == [] and set(appset.apps) == {"receivables", "collections"}

    edited = texts["apps/receivables.yaml"].replace(ANCHOR, ANCHOR + ADDED.replace("string", "x"))
    appset, errors = check_sources({**texts, "apps/receivables.yaml": edited})
    assert appset is None
    assert [e.location.file for e in errors] == ["apps/receivables.yaml"]
    assert errors[0].path == f"entities.customer.fields.{NEW_FIELD}.type"
    # Alone, collections refers to an app that is not there: checked as a set, not per file.
    _, errors = check_sources({"apps/collections.yaml": texts["apps/collections.yaml"]})
    assert errors and all(e.location.file == "apps/collections.yaml" for e in errors)
    assert any("receivables" in e.message for e in errors)
    assert check_sources({})[1][0].message == "no app definitions given"


# -- the web layer --------------------------------------------------------------------------------


def reloading_app(apps: Path, url: str) -> Flask:
    from web import create_app

    app = create_app(
        {
            "DATABASE_URL": url,
            "APPS_PATH": str(apps),
            "SECRET_KEY": "test",
            "TESTING": True,
            "RELOAD_INTERVAL": 0,
        }
    )
    db = app.extensions["formwork"].db
    for role in ("admin", "editor", "clerk"):
        add_user(db, role, f"{role}-pass", role)
    return app


def basic(role: str) -> dict[str, str]:
    token = base64.b64encode(f"{role}:{role}-pass".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_create_app_refuses_a_database_behind_the_definitions(apps, tmp_path):
    from web import create_app

    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(SchemaBehind, match="does not match the app definitions"):
        create_app({"DATABASE_URL": url, "APPS_PATH": str(apps), "SECRET_KEY": "test"})


def test_the_cli_serve_refuses_and_demo_migrates(apps, tmp_path, monkeypatch):
    monkeypatch.setattr("flask.Flask.run", lambda app, **kw: app.extensions["formwork"].live)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    runner = CliRunner()
    result = runner.invoke(cli, ["--apps", str(apps), "--database", url, "serve"])
    assert result.exit_code == 1
    assert "does not match the app definitions" in result.stderr
    assert "run `formwork migrate` first" in result.stderr
    demo = runner.invoke(cli, ["--apps", str(apps), "demo", "--database", url, "--no-serve"])
    assert demo.exit_code == 0, demo.output
    assert runner.invoke(cli, ["--apps", str(apps), "--database", url, "serve"]).exit_code == 0


def test_the_banner_shows_admins_and_editors_why_an_edit_is_not_live(apps, tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    migrate(apps, url)
    app = reloading_app(apps, url)
    client = app.test_client()
    try:
        assert b"definitions-problem" not in client.get("/", headers=basic("admin")).data
        add_field(apps)
        page = client.get("/", headers=basic("admin")).get_data(as_text=True)
        assert "the database is behind these definitions: run `formwork migrate`" in page
        assert f"add column receivables_customer.{NEW_FIELD}" in page
        line, column = break_field(apps)
        for role in ("admin", "editor"):
            page = client.get("/", headers=basic(role)).get_data(as_text=True)
            assert "1 error in the app definitions" in page
            assert f"receivables.yaml:{line}:{column}: entities.customer.fields" in page
        assert b"definitions-problem" not in client.get("/", headers=basic("clerk")).data
        chinese = {**basic("admin"), "Accept-Language": "zh-CN"}
        assert "应用定义中有 1 处错误" in client.get("/", headers=chinese).get_data(as_text=True)
        doc = client.get("/api/openapi.json", headers=basic("clerk")).get_data(as_text=True)
        assert NEW_FIELD not in doc and "phone" in doc  # still the last good version
    finally:
        app.extensions["formwork"].live.dispose()


def test_a_request_keeps_the_version_it_started_with(apps, tmp_path):
    from web.context import formwork

    url = f"sqlite:///{tmp_path / 'web.db'}"
    migrate(apps, url)
    app = reloading_app(apps, url)
    live = app.extensions["formwork"].live
    client = app.test_client()
    try:
        assert NEW_FIELD not in client.get("/api/openapi.json", headers=basic("clerk")).text
        with app.test_request_context("/"):
            app.preprocess_request()
            started = formwork().version
            add_field(apps)
            migrate(apps, url)
            assert live.refresh() is True
            assert formwork().version is started and formwork().appset is started.appset
            assert NEW_FIELD not in formwork().appset.entity("receivables.customer").fields
        assert app.extensions["formwork"].version is live.current  # outside a request
        with client:
            assert NEW_FIELD in client.get("/api/openapi.json", headers=basic("clerk")).text
            assert NEW_FIELD in formwork().appset.entity("receivables.customer").fields
    finally:
        live.dispose()


# -- two gunicorn workers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(apps: Path, url: str, log: Path) -> tuple[subprocess.Popen, str]:
    binary = Path(sys.executable).parent / "gunicorn"
    config = {
        "DATABASE_URL": url,
        "APPS_PATH": str(apps),
        "SECRET_KEY": "test",
        "TESTING": True,
        "RELOAD_INTERVAL": 0.2,
    }
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    quiet = ["--no-control-socket"] if "--no-control-socket" in usage else []
    port = free_port()
    argv = [binary, "--workers=2", f"--bind=127.0.0.1:{port}", *quiet]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FORMWORK_DATABASE_URL", None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*argv, f"web:create_app({config!r})"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    return server, f"http://127.0.0.1:{port}"


def get(url: str, role: str = "admin") -> tuple[str, str, str]:
    """(worker pid, definitions version, body) of one request on a connection of its own."""
    request = urllib.request.Request(url, headers=basic(role))
    with urllib.request.urlopen(request, timeout=10) as response:
        headers = response.headers
        body = response.read().decode()
    return headers["X-Formwork-Worker"], headers["X-Formwork-Definitions"], body


def every_worker(
    url: str, workers: int, until: Callable[[str, str], bool], timeout: float = 60
) -> dict[str, str]:
    """Request `url` concurrently (so that both workers answer) until each of `workers`
    processes has answered with a version and body satisfying `until`; pid -> version."""
    done: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            for pid, version, body in pool.map(lambda _: get(url), range(8)):
                if until(version, body):
                    done[pid] = version
            if len(done) >= workers:
                return done
            time.sleep(0.1)
    raise AssertionError(f"only workers {sorted(done)} of {workers} got there in {timeout} s")


def test_two_gunicorn_workers_switch_without_a_restart(apps, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(apps, url)
    db = Database(load_apps([apps]), url)
    add_user(db, "admin", "admin-pass", "admin")
    db.dispose()
    log = tmp_path / "gunicorn.log"
    server, base = gunicorn(apps, url, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                first = every_worker(f"{base}/api/openapi.json", 2, lambda v, b: "phone" in b)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        pids = set(first)
        (old_version,) = set(first.values())

        add_field(apps)
        behind = every_worker(
            f"{base}/", 2, lambda v, b: "run `formwork migrate`" in b and v == old_version
        )
        assert set(behind) == pids
        formwork = Path(sys.executable).parent / "formwork"
        result = subprocess.run(
            [formwork, "--apps", apps, "--database", url, "migrate"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        switched = every_worker(f"{base}/api/openapi.json", 2, lambda v, b: NEW_FIELD in b)
        assert set(switched) == pids, "the workers were restarted"
        (new_version,) = set(switched.values())
        assert new_version != old_version

        line, column = break_field(apps)
        located = re.escape(f"receivables.yaml:{line}:{column}: entities.customer.fields.")
        banner = every_worker(
            f"{base}/", 2, lambda v, b: v == new_version and re.search(located, b) is not None
        )
        assert set(banner) == pids
        still = every_worker(f"{base}/api/openapi.json", 2, lambda v, b: NEW_FIELD in b)
        assert set(still.values()) == {new_version}
        doc = json.loads(get(f"{base}/api/openapi.json")[2])
        assert NEW_FIELD in json.dumps(doc["components"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()
