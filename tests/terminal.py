"""Run a command with its stdout on a pseudo-terminal, as a person at a terminal sees it."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path


def run_on_terminal(command: list[str], stderr: Path) -> str:
    """Everything the command drew on the terminal; its stderr goes to the file `stderr`.
    Fails (AssertionError, with stderr) unless the command exits 0."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("FORMWORK_APPS", None)
    errors = stderr.open("wb")
    child = subprocess.Popen(command, stdout=follower, stderr=errors, env=env)
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(leader)
    errors.close()
    assert child.wait(timeout=60) == 0, stderr.read_text()
    return shown.decode("utf-8", errors="replace")
