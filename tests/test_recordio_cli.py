"""`formwork records import/export` as a person runs them: notes, progress bar, XLSX, --raw."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from terminal import run_on_terminal

from engine.cli import cli
from engine.permissions import Principal

APPS = Path(__file__).resolve().parent.parent / "apps"
CLEAN_ENV = {"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None}
PROBE = "=cmd|' /C calc'!A0"


@pytest.fixture
def url(db, database_url, tmp_path, monkeypatch) -> str:
    """A migrated database with two customers; the working folder is a temporary one."""
    monkeypatch.chdir(tmp_path)
    db.repository(Principal.system("test")).bulk_create(
        "receivables.customer",
        [{"name": "Müller & Söhne GmbH"}, {"name": "上海华东贸易有限公司", "currency": "CNY"}],
    )
    return database_url


def records(url: str, *args: str | Path) -> Result:
    args = ("--apps", APPS, "--database", url, "records", *args)
    return CliRunner().invoke(cli, [str(a) for a in args], env=CLEAN_ENV, catch_exceptions=False)


def invoices_csv(rows: int = 2) -> str:
    names = ["Müller & Söhne GmbH", "上海华东贸易有限公司"]
    lines = [f"FP-{i},{names[i % 2]},2026-03-01,10.00\n" for i in range(rows)]
    return "number,customer,issue_date,amount\n" + "".join(lines)


def test_a_detected_encoding_is_noted_and_no_bar_is_drawn_off_a_terminal(url):
    Path("invoices.csv").write_bytes(invoices_csv().encode("gb18030"))
    result = records(url, "import", "receivables.invoice", "invoices.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 2 records into receivables.invoice\n"
    assert result.stderr == (
        "note: invoices.csv is not UTF-8: reading it as GB18030 (detected; choose another "
        "with --encoding)\n"
    )


def test_encoding_sheet_and_chunk_options(url):
    Path("bad.csv").write_bytes(invoices_csv(4).encode("gb18030"))
    result = records(url, "import", "receivables.invoice", "bad.csv", "--encoding", "utf-8")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "bad.csv:2: is not UTF-8 text (as given); save the file as UTF-8, or give its encoding "
        "with --encoding",
        "Error: nothing imported: 1 problem in the file",
    ]
    result = records(url, "import", "receivables.invoice", "bad.csv", "--encoding", "nope")
    assert result.exit_code == 1 and "unknown encoding 'nope'" in result.stderr
    args = (
        "import",
        "receivables.invoice",
        "bad.csv",
        "--encoding",
        "gb18030",
        "--chunk-size",
        "1",
    )
    result = records(url, *args)
    assert result.stdout == "imported 4 records into receivables.invoice\n", result.stderr


def test_export_neutralises_formulas_unless_raw_and_writes_xlsx(url, db):
    db.repository(Principal.system("test")).create(
        "receivables.invoice",
        {"number": "INV-1", "customer": 1, "issue_date": "2026-03-01", "amount": "1.00",
         "description": PROBE},
    )  # fmt: skip
    result = records(url, "export", "receivables.invoice")
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["description"] == "'" + PROBE
    (row,) = csv.DictReader(
        io.StringIO(records(url, "export", "receivables.invoice", "--raw").stdout)
    )
    assert row["description"] == PROBE
    result = records(url, "export", "receivables.invoice", "--format", "xlsx", "-o", "out.xlsx")
    assert result.exit_code == 0
    assert result.stderr == "exported 1 record of receivables.invoice to out.xlsx\n"
    sheet = load_workbook("out.xlsx").active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(2, header.index("description") + 1)
    assert cell.value == PROBE and cell.data_type == "s"


def test_the_progress_bar_is_drawn_on_a_terminal(url, tmp_path):
    Path("invoices.csv").write_text(invoices_csv(300), encoding="utf-8")
    formwork = str(Path(sys.executable).with_name("formwork"))
    command = [formwork, "--apps", str(APPS), "--database", url]
    command += ["records", "import", "receivables.invoice", "invoices.csv", "--chunk-size", "5"]
    text = run_on_terminal(command, Path("stderr.txt"))
    assert "importing invoices.csv" in text and "━" in text and "rows" in text
    assert text.rstrip().endswith("imported 300 records into receivables.invoice")
