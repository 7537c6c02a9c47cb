"""Storage: tables from the definitions, migrations, and the Repository (the one write path)."""

from engine.fieldtypes import jsonable  # the one JSON form of values, for storage's users
from engine.storage.database import Database, database_url
from engine.storage.events import RecordEvent
from engine.storage.migrate import DestructiveMigration, MigrationPlan
from engine.storage.query import Filter
from engine.storage.reader import Page, Reader
from engine.storage.repository import BulkValidationError, Repository

__all__ = [
    "BulkValidationError", "Database", "DestructiveMigration", "Filter", "MigrationPlan", "Page",
    "Reader", "RecordEvent", "Repository", "database_url", "jsonable",
]  # fmt: skip
