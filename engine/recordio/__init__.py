"""Records in and out of CSV, XLSX and JSON files (`formwork records export/import`).

Export (`export.py`) writes refs as names people read and keeps spreadsheets from
running cells as formulas; import (`importer.py`) streams a file in chunks through the
one write path, all or nothing, with every problem located in the file. Reading CSV and
XLSX rows, encodings included, is `engine.tabular`'s job, shared with statement imports.
"""

from engine.recordio.common import FORMATS, ImportFailed, RowError, format_of, key_field
from engine.recordio.export import export_records, neutralised
from engine.recordio.importer import CHUNK, import_records

__all__ = [
    "CHUNK",
    "FORMATS",
    "ImportFailed",
    "RowError",
    "export_records",
    "format_of",
    "import_records",
    "key_field",
    "neutralised",
]
