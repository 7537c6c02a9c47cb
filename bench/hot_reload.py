"""What hot reload costs a serving process: one look at unchanged files, the first look at
an edit (check and migration plan), each look while it waits for `formwork migrate`, and
the switch. A copy of the shipped apps on a fresh SQLite file (or --database) in a
temporary folder.

    .venv/bin/python bench/hot_reload.py [--database URL] [--looks 2000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from engine.appdef import load_apps
from engine.runtime import LiveApps
from engine.storage import Database

APPS = Path(__file__).resolve().parent.parent / "apps"
ANCHOR = "      phone: {type: phone}\n"


def migrate(apps: Path, url: str) -> None:
    db = Database(load_apps([apps]), url)
    db.migrate()
    db.dispose()


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="[default: a SQLite file in a temporary folder]")
    parser.add_argument("--looks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        apps = Path(shutil.copytree(APPS, Path(tmp) / "apps"))
        url = args.database or f"sqlite:///{tmp}/reload.db"
        migrate(apps, url)
        live = LiveApps([apps], url, interval=0)
        try:
            idle = timed(lambda: [live.refresh() for _ in range(args.looks)]) / args.looks
            receivables = apps / "receivables.yaml"
            text = receivables.read_text(encoding="utf-8")
            receivables.write_text(text.replace(ANCHOR, ANCHOR + "      x1: {type: string}\n"))
            first = timed(live.refresh)
            waiting = timed(lambda: [live.refresh() for _ in range(20)]) / 20
            migrate(apps, url)
            switched: list[bool] = []
            switch = timed(lambda: switched.append(live.refresh()))
            assert switched == [True], "the edit was not switched to"
        finally:
            live.dispose()
    print(f"database: {url.split(':', 1)[0]}")
    print(f"a look at unchanged files:             {idle * 1e6:8.0f} µs")
    print(f"the first look at an edit (check+plan): {first * 1e3:7.0f} ms")
    print(f"a look while waiting for the migration: {waiting * 1e3:7.0f} ms")
    print(f"the look that switches:                 {switch * 1e3:7.0f} ms")


if __name__ == "__main__":
    main()
