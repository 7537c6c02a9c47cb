"""`formwork import APP.PROFILE FILE` on the project's own samples of each format: the
counts a person reads, --json for scripts, --dry-run writing nothing, a second import
adding nothing, and a bad file failing by line with exit status 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from terminal import run_on_terminal

from engine.cli import cli

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
SAMPLES = HERE / "statements"
CLEAN_ENV = {"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None}


def formwork(url: str, *args: str | Path) -> Result:
    args = ("--apps", APPS, "--database", url, "import", *args)
    return CliRunner().invoke(cli, [str(a) for a in args], env=CLEAN_ENV, catch_exceptions=False)


def bank_lines(db) -> list[dict]:
    from engine.permissions import Principal

    repo = db.repository(Principal.system("test"))
    return repo.query("receivables.bank_line", sort=[("id", False)], limit=1000).rows


@pytest.mark.parametrize(
    ("profile", "sample", "lines", "warnings"),
    [
        ("mt940", "sample.sta", 3, 1),
        ("camt053", "sample_camt053.xml", 3, 0),
        ("ofx", "sample.ofx", 2, 0),
    ],
)
def test_import_prints_counts_and_a_second_run_adds_nothing(
    db, database_url, profile, sample, lines, warnings
):
    dry = formwork(database_url, f"receivables.{profile}", SAMPLES / sample, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"read {lines} lines, would create {lines}" in dry.stdout
    assert "nothing was written" in dry.stdout
    assert bank_lines(db) == []

    first = formwork(database_url, f"receivables.{profile}", SAMPLES / sample)
    assert first.exit_code == 0, first.output
    assert f"read {lines} lines, created {lines}, 0 already imported" in first.stdout
    assert first.stderr.count("warning: ") == warnings
    assert len(bank_lines(db)) == lines

    again = formwork(database_url, f"receivables.{profile}", SAMPLES / sample, "--json")
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert (result["read"], result["created"], result["skipped"]) == (lines, 0, lines)
    assert isinstance(result["warnings"], list) and result["errors"] == []
    assert len(bank_lines(db)) == lines


def test_the_mt940_sample_reads_references_counterparties_and_the_balance_warning(db, database_url):
    result = formwork(database_url, "receivables.mt940", SAMPLES / "sample.sta", "--json")
    assert json.loads(result.stdout)["warnings"] == [
        "statement 2/1: opening balance 1229.50 plus the entries (100.00) is 1329.50, but the "
        "file states a closing balance of 1330.00 (0.50 apart)"
    ]
    first, fee, second = bank_lines(db)
    assert (str(first["amount"]), first["reference"], first["counterparty"]) == (
        "250.00", "E2E-1", "Muller GmbH",
    )  # fmt: skip
    assert "INV-000123" in first["memo"] and str(fee["amount"]) == "-20.50"
    assert first["statement"] == fee["statement"] != second["statement"]


def test_the_camt_batch_becomes_one_line_per_transaction_linked_to_its_booking(db, database_url):
    result = formwork(database_url, "receivables.camt053", SAMPLES / "sample_camt053.xml")
    assert result.exit_code == 0, result.output
    alpine, berg, fee = bank_lines(db)
    assert [str(r["amount"]) for r in (alpine, berg, fee)] == ["120.00", "180.00", "-20.00"]
    assert alpine["booking"] == berg["booking"] == "BATCH-1"
    assert str(alpine["booking_amount"]) == "300.00" and fee["booking_amount"] is None
    assert (alpine["counterparty"], alpine["counterparty_iban"]) == (
        "Alpine AG", "CH5604835012345678009",
    )  # fmt: skip
    assert (berg["counterparty"], berg["reference"]) == ("Berg GmbH", "RF18539007547034")
    assert fee["memo"] == "Bank fee"


def test_a_bad_file_names_its_line_exits_1_and_writes_nothing(db, database_url, tmp_path):
    bad = tmp_path / "bad.sta"
    text = (SAMPLES / "sample.sta").read_text()
    text = text.replace(":61:2603030303CR100,00", ":61:2602300303CR100,00")  # 30 February
    bad.write_text(text)
    result = formwork(database_url, "receivables.mt940", bad)
    assert result.exit_code == 1
    assert "bad.sta:15: value date 260230 does not exist" in result.stderr
    assert "nothing imported: 1 problem in the file" in result.stderr
    as_json = formwork(database_url, "receivables.mt940", bad, "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["errors"] == ["bad.sta:15: value date 260230 does not exist"]
    assert bank_lines(db) == []


def test_an_unknown_profile_lists_the_profiles(db, database_url):
    result = formwork(database_url, "receivables.nope", SAMPLES / "sample.sta")
    assert result.exit_code == 1
    assert "no import profile 'receivables.nope'" in result.stderr
    assert "receivables.mt940" in result.stderr


def test_the_progress_bar_is_drawn_on_a_terminal(db, database_url, tmp_path):
    rows = "".join(f"2026-03-{1 + i % 28:02},{i}.00,EUR,Customer {i},,INV-{i:06},R{i}\n"
                   for i in range(300))  # fmt: skip
    path = tmp_path / "big.csv"
    path.write_text("Date,Amount,Currency,Counterparty,IBAN,Memo,Reference\n" + rows)
    formwork_command = str(Path(sys.executable).with_name("formwork"))
    command = [formwork_command, "--apps", str(APPS), "--database", database_url, "import",
               "receivables.bank_csv", str(path), "--chunk-size", "7"]  # fmt: skip
    text = run_on_terminal(command, tmp_path / "stderr.txt")
    assert "importing big.csv" in text and "━" in text and "rows" in text
    assert "read 300 lines, created 300" in text.rstrip().splitlines()[-1]
    assert len(bank_lines(db)) == 300
