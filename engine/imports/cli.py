"""`formwork import APP.PROFILE FILE`: a statement into records, by an import profile.

A thin layer: the profile and the file in, engine.imports.import_file, the counts out
(or, with --json, one JSON object a script can read: read, created, skipped, warnings,
errors). A problem ends with every reason by line and exit status 1, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.i18n import _
from engine.imports.run import CHUNK, ImportResult, find_profile, import_file
from engine.recordio import ImportFailed
from engine.recordio.progress import ImportProgress


@click.command("import")
@click.argument("profile", metavar="APP.PROFILE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be created; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, hidden=True)
def import_command(
    profile: str, file: Path, dry_run: bool, as_json: bool, chunk_size: int | None
) -> None:
    """Import the statement FILE by the import profile APP.PROFILE (e.g. receivables.mt940).

    \b
    Formats: CSV, XLSX, MT940, camt.053 and OFX, as the profile says. A line imported
    before is skipped, also from a statement that overlaps an earlier one; where the
    file states balances or totals they are checked, and a mismatch is a warning kept
    on the imported statement (or refuses the file, with `strict: true`). A bad row is
    named by its line, and then nothing is imported.
    """
    from engine.cli import CLI, _database

    with _database() as db:
        repo = db.repository(CLI)
        chosen = find_profile(repo, profile)
        try:
            with ImportProgress(_("importing %(file)s", file=file.name)) as progress:
                result = import_file(
                    repo, chosen, file, name=file.name, dry_run=dry_run,
                    progress=None if as_json else progress, chunk_size=chunk_size or CHUNK,
                )  # fmt: skip
        except ImportFailed as exc:
            if not as_json:
                raise
            failed = ImportResult(chosen.name, file.name, dry_run, errors=exc.lines())
            click.echo(json.dumps(failed.as_json(), ensure_ascii=False, indent=1))
            raise SystemExit(1) from None
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=1))
        return
    for warning in result.warnings:
        click.echo(_("warning: %(message)s", message=warning), err=True)
    click.echo(summary(result))


def summary(result: ImportResult) -> str:
    """One line a person reads: what was read, created and skipped."""
    text: str
    if result.dry_run:
        text = _(
            "dry run of %(file)s: read %(read)s lines, would create %(created)s, "
            "%(skipped)s already imported; nothing was written",
            file=result.file, read=result.read, created=result.created, skipped=result.skipped,
        )  # fmt: skip
    else:
        text = _(
            "imported %(file)s: read %(read)s lines, created %(created)s, %(skipped)s already "
            "imported (skipped), %(statements)s new statements",
            file=result.file, read=result.read, created=result.created, skipped=result.skipped,
            statements=result.statements,
        )  # fmt: skip
    if result.ignored:
        text += _("; %(ignored)s rows move no money and were left out", ignored=result.ignored)
    if result.warnings:
        text += _("; %(count)s warnings", count=len(result.warnings))
    return text
