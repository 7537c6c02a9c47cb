"""The registry of statement formats: one class per format, each reading a file into
Statements (engine.imports.model). Deduplication, balance checks and writing are
shared steps after reading (engine.imports.run), not each reader's job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from engine.i18n import _
from engine.imports.model import Statement
from engine.recordio.common import ImportFailed, RowError
from engine.tabular import detect_encoding

if TYPE_CHECKING:
    from engine.appdef.imports import ImportProfile


class StatementFormat:
    """Reads one file of a format. `position` / `size` say how far it has got (a bar)."""

    name: ClassVar[str]

    def __init__(self, profile: ImportProfile, path: Path, file: str):
        self.profile, self.path, self.file = profile, path, file
        self.position = 0
        self.size = path.stat().st_size

    def statements(self) -> Iterator[Statement]:
        raise NotImplementedError

    def fail(self, message: str, line: int | None = None) -> ImportFailed:
        return ImportFailed([RowError(self.file, message, line=line)])

    def text(self) -> str:
        """The whole file as text, in the profile's encoding or the one detected."""
        encoding = self.profile.encoding or detect_encoding(self.path)
        data = self.path.read_bytes()
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise self.fail(
                _("is not %(encoding)s text; give the profile's encoding", encoding=encoding),
                line,
            ) from None


FORMATS: dict[str, type[StatementFormat]] = {}


def register(cls: type[StatementFormat]) -> type[StatementFormat]:
    if cls.name in FORMATS:
        raise RuntimeError(f"import format {cls.name!r} is registered twice")
    FORMATS[cls.name] = cls
    return cls


def reader(profile: ImportProfile, path: Path, file: str) -> StatementFormat:
    import importlib

    for module in ("mt940", "camt053", "ofx", "tables"):
        importlib.import_module(f"engine.imports.{module}")  # each registers its format

    return FORMATS[profile.format](profile, path, file)
