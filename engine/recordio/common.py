"""What imports and exports of records share: located errors, formats, readable values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.appdef import Entity, Field
from engine.errors import FormworkError
from engine.fieldtypes import json_value
from engine.i18n import _

FORMATS = ("csv", "json", "xlsx")
MAX_SHOWN = 50


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, located as the user sees it."""

    file: str
    message: str
    field: str = ""
    line: int | None = None  # CSV: physical line, the header being line 1; XLSX: sheet row
    record: int | None = None  # JSON: 1-based position in the list
    sheet: str | None = None  # XLSX: the sheet `line` is a row of

    def __str__(self) -> str:
        where: str
        if self.sheet is not None and self.line is not None:
            where = _(
                "%(file)s: sheet %(sheet)s, row %(row)s",
                file=self.file,
                sheet=self.sheet,
                row=self.line,
            )
        elif self.sheet is not None:
            where = _("%(file)s: sheet %(sheet)s", file=self.file, sheet=self.sheet)
        else:
            where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.record is not None:
            where = _("%(file)s: record %(record)s", file=where, record=self.record)
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


class ImportFailed(FormworkError):
    """Nothing was imported; `errors` says every reason, row by row.

    `stopped` is the line after which reading stopped because there were too many
    problems to be worth listing (None when the whole file was read).
    """

    def __init__(self, errors: list[RowError], stopped: int | None = None):
        self.errors = errors
        self.stopped = stopped
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = MAX_SHOWN) -> list[str]:
        shown = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            shown.append(_("... and %(count)s more", count=len(self.errors) - limit))
        if self.stopped is not None:
            shown.append(
                _(
                    "(reading stopped at line %(line)s: fix these and import the file again)",
                    line=self.stopped,
                )
            )
        return shown


def format_of(path: str | Path, given: str | None = None) -> str:
    """The format asked for, else the one the file name says."""
    if given:
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise FormworkError(
        _(
            "cannot tell the format of %(path)s from its name; use --format csv, json or xlsx",
            path=str(path),
        )
    )


def key_field(entity: Entity) -> Field | None:
    """The unique text field that names a record for people (customer.name), if any."""
    for field in entity.fields.values():
        if field.unique and not field.computed and field.type.import_key:
            return field
    return None


def text_value(value: Any) -> str:
    """A value as the text of a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(json_value(value))


def shown(value: Any) -> str:
    """A value quoted for an error message, cut short when long."""
    text = value if isinstance(value, str) else json.dumps(json_value(value))
    if isinstance(text, str) and len(text) > 60:
        text = text[:57] + "..."
    return repr(text)
