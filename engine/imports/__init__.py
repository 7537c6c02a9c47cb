"""Bank statements into records: CSV, XLSX, MT940, camt.053 and OFX, by import profiles.

A profile (the app's `imports:` section, engine.appdef.imports) names the format and,
for spreadsheets, what each column holds. `formats` is the registry of readers, one
class per format, each turning a file into Statements (`model`); `run` deduplicates,
checks balances and writes through the Repository, all or nothing.
"""

from engine.imports.formats import FORMATS, StatementFormat, register
from engine.imports.run import ImportResult, find_profile, import_file

__all__ = ["FORMATS", "ImportResult", "StatementFormat", "find_profile", "import_file", "register"]
