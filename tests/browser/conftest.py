"""Browser-test fixtures: a live Formwork server and Debian's Chromium via Playwright.

Playwright drives the system Chromium (``/usr/bin/chromium``); ``playwright install``
is never run. A missing browser fails the tests with a reason instead of skipping
them, so a green run always means the browser tests really ran.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

CHROMIUM = os.environ.get("FORMWORK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEFAULT_TIMEOUT_MS = 10_000

USERS = [
    ("admin", "admin-pass", "admin"),
    ("viewer", "viewer-pass", "viewer"),
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser with ``browser``.

    This hook sees the whole session's items, not only this directory's, so filter by path.
    """
    for item in items:
        if BROWSER_TESTS_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item, so ``page`` can tell if its test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory):
    """The Flask app `live_server` serves, on a fresh SQLite file (tests may seed it)."""
    from engine.appdef import load_apps
    from engine.auth import add_user
    from engine.storage import Database
    from web import create_app

    db_file = tmp_path_factory.mktemp("live_server") / "formwork.db"
    schema = Database(load_apps([REPO_ROOT / "apps"]), f"sqlite:///{db_file}")
    schema.migrate()  # create_app never migrates
    schema.dispose()
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{db_file}",
            "APPS_PATH": str(REPO_ROOT / "apps"),
            "SECRET_KEY": "test",
            "TESTING": True,
            "WTF_CSRF_ENABLED": True,
        }
    )
    db = app.extensions["formwork"].db
    with app.app_context():
        for username, password, role in USERS:
            add_user(db, username, password, role)
    return app


@pytest.fixture(scope="module")
def live_server(live_app) -> Iterator[str]:
    """A real HTTP server for the web app on a fresh SQLite file; yields its base URL."""
    from werkzeug.serving import make_server

    # The port is free when probed but could be taken before we bind: retry a few times.
    for attempt in range(5):
        port = _free_port()
        try:
            server = make_server("127.0.0.1", port, live_app, threaded=True)
            break
        except OSError:
            if attempt == 4:
                raise
    thread = threading.Thread(target=server.serve_forever, name="live_server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: browser tests need Debian's chromium "
            "(run ./scripts/test as root, or: apt-get install chromium). "
            "Do not use `playwright install`.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _artifact_stem(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:200]


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A fresh context and page; on failure, a screenshot and the HTML go to test-artifacts/.

    `@pytest.mark.locale("zh-CN")` (or on a parameter) sets the browser's language, so its
    Accept-Language header; the default is en-US.
    """
    marker = request.node.get_closest_marker("locale")
    context = browser.new_context(locale=marker.args[0] if marker else "en-US")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        node = request.node
        failed = any(
            getattr(getattr(node, f"rep_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            ARTIFACTS_DIR.mkdir(exist_ok=True)
            stem = ARTIFACTS_DIR / _artifact_stem(node.nodeid)
            try:
                pg.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(pg.content(), encoding="utf-8")
            except Exception as exc:  # a broken page must not hide the real failure
                print(f"could not save browser artifacts for {node.nodeid}: {exc}")
        context.close()


@pytest.fixture
def login(page, live_server: str) -> Callable[[str, str], object]:
    """``login(username, password)``: submit the login form and wait for the next page."""

    def _login(username: str, password: str):
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click(".login button[type=submit]")
        return page

    return _login
