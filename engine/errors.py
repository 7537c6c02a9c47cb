"""Errors people can act on: each one says where it comes from and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a definition node came from: file, 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class DefinitionError:
    """One problem in an app definition, in the format editors can jump to."""

    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.location}: {where}{self.message}"


class DefinitionErrors(Exception):
    """Raised when app definitions do not load; carries every error found."""

    def __init__(self, errors: list[DefinitionError]):
        self.errors = sorted(
            errors, key=lambda e: (e.location.file, e.location.line, e.location.column)
        )
        super().__init__("\n".join(str(e) for e in self.errors))


class FormworkError(Exception):
    """Base of the errors the engine raises for bad input at run time."""


class ValidationError(FormworkError):
    """A write was refused; `errors` maps a field name (or "" for the record) to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k or 'record'}: {v}" for k, v in self.errors.items()))


class NotFound(FormworkError):
    """No record with that id, or no entity with that name."""


class StaleVersion(FormworkError):
    """Somebody else changed the record since the caller read it."""

    def __init__(self, entity: str, record_id: int, expected: int, actual: int):
        self.expected, self.actual = expected, actual
        super().__init__(
            f"{entity} #{record_id} was changed by someone else "
            f"(you edited version {expected}, it is now at version {actual}); reload and try again"
        )


class PermissionDenied(FormworkError):
    """The user's role may not do this."""


class Conflict(FormworkError):
    """A write collided with another one saved at the same time: a unique value it had
    just checked was taken meanwhile, or the other writer held its lock for too long.

    Nothing was written; trying again (after a reload) may well succeed. `errors` maps
    a field name (or "" for the record) to a message, as in ValidationError.
    """

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        self.errors = dict(errors or {"": message})
        super().__init__(message)
