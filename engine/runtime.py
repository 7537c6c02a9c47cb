"""Definitions that change while the system runs: the version being served, and the switch.

Every serving process (each gunicorn worker, on its own: they share nothing but the
database) holds one `LiveApps`. Interfaces call `refresh()` when a request starts; at most
once per `interval` seconds it reads the app files and compares a hash of their text with
the version being served. A new version is switched to only when it passes every check and
the database already has its schema (an empty migration plan): serving processes never
migrate, because several workers would race to run the same DDL. Until then the last good
version keeps serving and `problem` says why the files on disk are not live, with the
located errors or the migration steps the database lacks.

A switch replaces one immutable `Version` (definitions and a `Database` bound to them,
sharing one engine and pool) by another in a single assignment: a request takes the
current version once and uses it to the end, so it never sees two sets of definitions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.appdef import AppSet, DefinitionError, DefinitionErrors, check_sources
from engine.appdef.loader import read_texts
from engine.errors import FormworkError
from engine.i18n import Message, _
from engine.storage import Database, MigrationPlan

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0  # seconds between two looks at the files, per process
SHOWN_TO = frozenset({"admin", "editor"})  # the roles that see why new definitions are not live


class SchemaBehind(FormworkError):
    """The database lacks tables, columns or indexes the definitions need."""

    def __init__(self, url: str, plan: MigrationPlan):
        self.plan = plan
        safe = sa.engine.make_url(url).render_as_string(hide_password=True)
        n = len(plan.steps)
        super().__init__(
            f"the database {safe} does not match the app definitions "
            f"({n} change{'' if n == 1 else 's'} pending); run `formwork migrate` first"
        )


def require_schema(db: Database) -> None:
    """Raise SchemaBehind unless the database has the schema of `db`'s definitions."""
    plan = db.plan_migration()
    if not plan.empty:
        raise SchemaBehind(db.url, plan)


def version_id(texts: Mapping[str, str]) -> str:
    """A short hash of the app files' names and text: equal text, equal version."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(f"{name}\0{texts[name]}\0".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Version:
    """One checked set of definitions and the Database bound to them."""

    id: str
    appset: AppSet
    db: Database


@dataclass(frozen=True)
class Problem:
    """Why the app files on disk (version `version`) are not the ones being served."""

    version: str
    errors: tuple[DefinitionError, ...] = ()
    pending: tuple[str, ...] = ()  # the migration steps the database lacks

    @property
    def summary(self) -> Message:
        if len(self.errors) == 1:
            return _("1 error in the app definitions")
        if self.errors:
            return _("%(count)s errors in the app definitions", count=len(self.errors))
        return _("the database is behind these definitions: run `formwork migrate`")

    @property
    def details(self) -> list[str]:
        """The located errors, or the pending migration steps, one a line."""
        return [str(e) for e in self.errors] or list(self.pending)


class LiveApps:
    """The current version of the app definitions of one serving process, kept up to date."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        url: str | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        **engine_options: Any,
    ):
        """Load the definitions and open the database; refuse to start when the files have
        errors (DefinitionErrors) or the database is behind them (SchemaBehind)."""
        self.paths = list(paths)
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        texts, errors = read_texts(self.paths)
        appset, errors = (None, errors) if errors else check_sources(texts)
        if errors or appset is None:
            raise DefinitionErrors(errors)
        db = Database(appset, url, **engine_options)
        try:
            require_schema(db)
        finally:
            # No connection from this check stays pooled: under `gunicorn --preload` this
            # runs before the fork, and a connection must never be shared by two processes.
            db.engine.dispose()
        self.current = Version(version_id(texts), appset, db)
        self.problem: Problem | None = None
        self._waiting: Version | None = None  # valid, but the database lacks its schema
        self._next_look = clock() + interval

    def refresh(self) -> bool:
        """Look at the files when `interval` has passed since the last look; switch to them
        when they changed, are valid and the database has their schema. True on a switch.

        Never raises for a bad edit or an unreachable database: the last good version keeps
        serving and `problem` (or the log) says why. A look another thread is already
        taking is not waited for.
        """
        now = self._clock()
        if now < self._next_look or not self._lock.acquire(blocking=False):
            return False
        try:
            self._next_look = now + self.interval
            return self._look()
        except Exception:  # a bug in a check must not turn every request into an error
            log.exception("looking at the definitions failed; still serving %s", self.current.id)
            return False
        finally:
            self._lock.release()

    def problem_for(self, role: str | None) -> Problem | None:
        """The problem, for the roles that edit definitions; nobody else needs to see it."""
        return self.problem if role in SHOWN_TO else None

    def dispose(self) -> None:
        """Close the pool every version shares."""
        self.current.db.dispose()

    def _look(self) -> bool:
        texts, read_errors = read_texts(self.paths)
        # A file that cannot be read counts too, so that its coming back or going away is news.
        version = version_id({**texts, **{str(e.location): e.message for e in read_errors}})
        if self.problem is not None and self.problem.version == version and self.problem.errors:
            return False  # the same broken files as last time
        if read_errors:
            self._reject(Problem(version, errors=tuple(read_errors)))
            return False
        if version == self.current.id:
            self.problem = self._waiting = None  # the files went back to what is served
            return False
        candidate = self._waiting if self._waiting and self._waiting.id == version else None
        if candidate is None:
            appset, errors = check_sources(texts)
            if errors or appset is None:
                self._reject(Problem(version, errors=tuple(errors)))
                return False
            candidate = Version(version, appset, self.current.db.with_appset(appset))
        try:
            plan = candidate.db.plan_migration()
        except sa.exc.SQLAlchemyError as exc:  # try again at the next look
            log.warning("cannot compare definitions %s with the database: %s", version, exc)
            self._waiting = candidate
            return False
        if not plan.empty:
            self._waiting = candidate
            if self.problem is None or self.problem.version != version:
                log.warning("definitions %s wait for `formwork migrate`", version)
            self.problem = Problem(version, pending=tuple(s.description for s in plan.steps))
            return False
        log.info("switched from definitions %s to %s", self.current.id, version)
        self.current, self.problem, self._waiting = candidate, None, None
        return True

    def _reject(self, problem: Problem) -> None:
        log.warning(
            "definitions %s not loaded, still serving %s: %s",
            problem.version,
            self.current.id,
            "; ".join(problem.details),
        )
        self.problem, self._waiting = problem, None
