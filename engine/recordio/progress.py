"""The progress bar of a long import, drawn with rich on a terminal and nowhere else.

An import of a million rows takes a while; a person at a terminal wants to see it
move. Piped or redirected output (a script, a CI log) gets no bar: control codes
there are noise. Notes (the detected encoding) go to stderr either way.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import click

from engine.i18n import _

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ImportProgress:
    """A `Progress` for `import_records`: a rich bar while stdout is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.label = label
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )

    def __enter__(self) -> ImportProgress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None, rows=0)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def note(self, message: str) -> None:
        click.echo(_("note: %(message)s", message=message), err=True)

    def update(self, done: int, total: int, rows: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total or None, rows=rows)
