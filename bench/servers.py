"""The two servers under test, each in its own process on 127.0.0.1, and a keep-alive client.

Formwork runs under gunicorn (one worker, several threads: a real multi-threaded
WSGI server, as in production); Datasette serves the same SQLite file read-only
and immutable. Both are started by this process and stopped by their process id.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM to the process group this script created for the server, then SIGKILL."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start(
    name: str, argv: list[str], env: dict[str, str], log: Path, port: int, cwd: Path = ROOT
) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    out: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its workers too
    )
    out.close()
    return Server(name, port, process, log)


def wait_ready(server: Server, path: str, timeout: float = 90.0) -> None:
    """Poll until the server answers `path` (any HTTP status), or fail with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s:\n{server.tail()}")


def start_formwork(
    db_path: Path, log: Path, threads: int = 4, pythonpath: str | None = None
) -> Server:
    """`pythonpath` runs the app from another checkout (a prototype of a fix, say)."""
    port = free_port()
    argv = [
        str(BIN / "gunicorn"),
        "--workers=1",
        f"--threads={threads}",
        "--worker-class=gthread",
        f"--bind={HOST}:{port}",
        "--timeout=120",
        "--keep-alive=30",
        *_no_control_socket(),
        "web:create_app()",
    ]
    env = {
        "FORMWORK_DATABASE_URL": f"sqlite:///{db_path}",
        "FORMWORK_SECRET_KEY": secrets.token_hex(16),
    }
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # gunicorn puts the folder it starts in first on sys.path: that decides which code runs
    server = _start("formwork", argv, env, log, port, Path(pythonpath or ROOT))
    wait_ready(server, "/login")
    return server


def _no_control_socket() -> list[str]:
    """Newer gunicorns open a control socket under ~/.gunicorn; a benchmark needs none."""
    usage = subprocess.run(
        [str(BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    return ["--no-control-socket"] if "--no-control-socket" in usage else []


def start_datasette(db_path: Path, log: Path) -> Server:
    port = free_port()
    argv = [
        str(BIN / "datasette"),
        "serve",
        "-i",
        str(db_path),
        "-h",
        HOST,
        "-p",
        str(port),
        "--setting",
        "suggest_facets",
        "off",
        "--setting",
        "default_page_size",
        "50",
    ]
    server = _start("datasette", argv, {}, log, port)
    wait_ready(server, "/-/versions.json")
    return server


@contextmanager
def running(*starters: Any):
    """Start servers in order (each a zero-argument callable), stop them all afterwards."""
    started: list[Server] = []
    try:
        for start in starters:
            started.append(start())
        yield started
    finally:
        for server in reversed(started):
            server.stop()


# -- client ---------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)


class Client:
    """One keep-alive HTTP/1.1 connection: the time of a request is the server's, not TCP's."""

    def __init__(self, port: int, headers: dict[str, str] | None = None):
        self.port = port
        self.headers = dict(headers or {})
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        return self.conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        all_headers = {**self.headers, **(headers or {})}
        for attempt in range(2):
            conn = self._connection()
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()  # the server closed an idle keep-alive connection: once more
                if attempt:
                    raise
                continue
            seconds = time.perf_counter() - start
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return Response(
                resp.status, data, seconds, {k.lower(): v for k, v in resp.headers.items()}
            )
        raise AssertionError("unreachable")

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def session_login(port: int, username: str, password: str) -> dict[str, str]:
    """Log in through the form like a browser; returns the Cookie header of the session."""
    client = Client(port)
    try:
        page = client.get("/login")
        cookie = _cookie(page.headers.get("set-cookie", ""))
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
        form = {"username": username, "password": password}
        if match:
            form["csrf_token"] = match.group(1).decode()
        resp = client.request(
            "POST",
            "/login",
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        if resp.status not in (302, 303):
            raise RuntimeError(f"log-in failed: HTTP {resp.status}")
        return {"Cookie": _cookie(resp.headers.get("set-cookie", "")) or cookie}
    finally:
        client.close()


def _cookie(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].strip()
