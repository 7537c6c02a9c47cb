"""Import profiles for CSV and XLSX: the column mapping (by header or position), date and
decimal formats, the three sign conventions, header and footer lines, stated totals,
deduplication (also of an overlapping re-export), `strict: true`, and located errors."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from engine.appdef import load_apps
from engine.errors import DefinitionErrors
from engine.imports import find_profile, import_file
from engine.recordio import ImportFailed

APPS = Path(__file__).resolve().parent.parent / "apps"
SAMPLE = Path(__file__).resolve().parent / "statements" / "sample.sta"

APP = """
app: bank
entities:
  statement:
    fields:
      account: {type: string}
      currency: {type: currency}
      number: {type: string}
      opening_balance: {type: decimal}
      closing_balance: {type: decimal}
      entries: {type: integer}
      credit_sum: {type: decimal}
      debit_sum: {type: decimal}
      warnings: {type: text}
      file: {type: string}
      import_key: {type: string, index: true}
  line:
    fields:
      date: {type: date, required: true}
      amount: {type: money, required: true}
      currency: {type: currency, required: true, default: EUR}
      counterparty: {type: string}
      memo: {type: text}
      reference: {type: string}
      statement: {type: ref, to: statement}
      import_key: {type: string, index: true}
imports:
  signed:
    entity: line
    statements: statement
    format: csv
    date_format: ["%d.%m.%Y", "%Y-%m-%d"]
    decimal_format: "1.234,56"
    columns: {date: Datum, counterparty: Name, memo: [Zweck, Info]}
    amount: Betrag
  split:
    entity: line
    statements: statement
    format: csv
    skip_lines: 2
    footer_lines: 1
    currency: USD
    decimal_format: "1,234.56"
    columns: {date: 1, memo: 2}
    credit: 3
    debit: 4
    stated:
      - 'Opening\\s+(?P<opening_balance>[0-9.,-]+)'
      - 'Total\\s+(?P<credits>[0-9.,]+)\\s+(?P<debits>[0-9.,]+)\\s+(?P<closing_balance>[0-9.,-]+)'
  marked:
    entity: line
    format: csv
    header: false
    currency: CNY
    columns: {date: 1, counterparty: 4}
    amount: 2
    indicator: {column: 3, credit: [贷], debit: [借], ignore: [不计]}
  keyed:
    entity: line
    format: csv
    columns: {date: date, reference: id, memo: memo}
    amount: amount
    key: [reference]
  sheet:
    entity: line
    format: xlsx
    columns: {date: Date, memo: Memo}
    amount: Amount
"""


@pytest.fixture
def repo(repository_for, tmp_path):
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "bank.yaml").write_text(APP, encoding="utf-8")
    return repository_for(load_apps([folder]))


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(textwrap.dedent(text).lstrip("\n").encode(encoding))
    return path


def run(repo, profile: str, path: Path, **options):
    return import_file(repo, find_profile(repo, f"bank.{profile}"), path, **options)


def lines(repo) -> list[dict]:
    return repo.query("bank.line", sort=[("id", False)], limit=1000).rows


def test_one_signed_column_german_decimals_two_date_formats_and_joined_memo(repo, tmp_path):
    path = write(tmp_path, "de.csv", """
        Datum;Name;Betrag;Zweck;Info
        02.03.2026;Müller GmbH;1.234,50;INV-000123;  März
        2026-03-03;Bank;-12,00;Gebühr;
    """, "cp1252")  # fmt: skip
    result = run(repo, "signed", path)
    assert (result.read, result.created, result.warnings) == (2, 2, [])
    first, fee = lines(repo)
    assert first["amount"] == Decimal("1234.50") and first["counterparty"] == "Müller GmbH"
    assert first["memo"] == "INV-000123 März" and str(first["date"]) == "2026-03-02"
    assert fee["amount"] == Decimal("-12.00") and fee["memo"] == "Gebühr"


def test_credit_and_debit_columns_by_position_with_a_header_and_a_footer(repo, tmp_path):
    text = """
        Account 123
        Opening,1000.00
        Date,Text,In,Out
        2026-03-01,Payment A,"1,200.00",
        2026-03-02,Fee,,-20.00
        Total,"1,200.00",20.00,2180.00
    """
    result = run(repo, "split", write(tmp_path, "split.csv", text))
    assert (result.read, result.created, result.warnings) == (2, 2, [])
    assert [r["amount"] for r in lines(repo)] == [Decimal("1200.00"), Decimal("-20.00")]
    assert {r["currency"] for r in lines(repo)} == {"USD"}
    (statement,) = repo.query("bank.statement").rows
    assert (statement["opening_balance"], statement["closing_balance"]) == (1000, 2180)
    assert (statement["entries"], statement["credit_sum"], statement["debit_sum"]) == (2, 1200, 20)
    assert statement["warnings"] is None and statement["file"] == "split.csv"


ONE_PAYMENT = 'Account 123\nOpening,1000.00\nDate,Text,In,Out\n2026-03-01,Payment A,"1,200.00",\n'


def test_what_the_file_states_is_checked_and_kept_as_a_warning(repo, tmp_path):
    text = ONE_PAYMENT + 'Total,"1,300.00",0.00,2300.00\n'
    result = run(repo, "split", write(tmp_path, "off.csv", text))
    assert result.created == 1
    assert result.warnings == [
        "statement off.csv: opening balance 1000.00 plus the entries (1200.00) is 2200.00, but "
        "the file states a closing balance of 2300.00 (100.00 apart)",
        "statement off.csv: the file states credits of 1300.00, but its rows add up to 1200.00",
    ]
    (statement,) = repo.query("bank.statement").rows
    assert statement["warnings"] == "\n".join(result.warnings)


def test_strict_refuses_a_file_whose_balances_do_not_add_up(repo, tmp_path):
    text = ONE_PAYMENT + 'Total,"1,200.00",0.00,2300.00\n'
    strict = replace(find_profile(repo, "bank.split"), strict=True)
    with pytest.raises(ImportFailed) as failed:
        import_file(repo, strict, write(tmp_path, "strict.csv", text))
    (error,) = failed.value.errors
    assert error.line == 3 and "closing balance of 2300.00" in error.message
    assert lines(repo) == [] and repo.query("bank.statement").rows == []


def test_an_indicator_column_without_a_header_and_rows_that_move_no_money(repo, tmp_path):
    text = "2026-03-01,10.00,贷,张三\n2026-03-02,3.50,借,国网\n2026-03-02,9.99,不计,余额宝\n"
    result = run(repo, "marked", write(tmp_path, "cn.csv", text, "gb18030"))
    assert (result.read, result.created, result.ignored) == (3, 2, 1)
    assert [(r["amount"], r["counterparty"]) for r in lines(repo)] == [
        (Decimal("10.00"), "张三"), (Decimal("-3.50"), "国网"),
    ]  # fmt: skip


def test_bad_rows_are_named_by_line_and_nothing_is_written(repo, tmp_path):
    text = """
        Datum;Name;Betrag;Zweck;Info
        02.03.2026;A;10,00;x;
        31.02.2026;B;5,00;y;
        03.03.2026;C;$120;z;
        ;D;1,00;w;
    """
    with pytest.raises(ImportFailed) as failed:
        run(repo, "signed", write(tmp_path, "bad.csv", text))
    assert [str(e) for e in failed.value.errors] == [
        "bad.csv:3: date: '31.02.2026' is not a date like %d.%m.%Y or %Y-%m-%d",
        "bad.csv:4: amount: '$120' is not an amount",
        "bad.csv:5: date: is empty",
    ]
    assert lines(repo) == []


def test_a_missing_column_is_named_at_the_header(repo, tmp_path):
    with pytest.raises(ImportFailed) as failed:
        run(repo, "signed", write(tmp_path, "cols.csv", "Datum;Name;Amount\n02.03.2026;A;1\n"))
    assert [str(e) for e in failed.value.errors] == [
        "cols.csv:1: no column 'Zweck'; the columns are: Datum, Name, Amount",
        "cols.csv:1: no column 'Info'; the columns are: Datum, Name, Amount",
        "cols.csv:1: no column 'Betrag'; the columns are: Datum, Name, Amount",
    ]


def test_an_overlapping_re_export_adds_only_the_new_lines(repo, tmp_path):
    rows = [f"2026-03-0{d},{d}.00,payment {d}" for d in range(1, 8)]
    twice = "2026-03-04,4.00,payment 4"  # the same payment twice on one day: two lines
    march = write(tmp_path, "a.csv", "date,amount,memo,id\n" + "\n".join([*rows[:5], twice]))
    later = write(tmp_path, "b.csv", "date,amount,memo,id\n" + "\n".join([*rows[3:], twice]))
    result_a = run_default(repo, march)
    assert (result_a.created, result_a.skipped) == (6, 0)
    result_b = run_default(repo, later)
    assert (result_b.read, result_b.created, result_b.skipped) == (5, 2, 3)
    assert len(lines(repo)) == 8
    assert sum(1 for r in lines(repo) if r["memo"] == "payment 4") == 2


def run_default(repo, path: Path):
    """The keyed profile without its key: the default key (date, amount, memo...)."""
    profile = replace(find_profile(repo, "bank.keyed"), key=(), columns={
        "date": ("date",), "memo": ("memo",)})  # fmt: skip
    return import_file(repo, profile, path)


def test_a_profile_key_identifies_lines_across_files(repo, tmp_path):
    a = write(tmp_path, "a.csv", "date,id,amount,memo\n2026-03-01,T1,5.00,first text\n")
    b = write(tmp_path, "b.csv", "date,id,amount,memo\n2026-03-01,T1,5.00,edited text\n")
    assert run(repo, "keyed", a).created == 1
    again = run(repo, "keyed", b)
    assert (again.created, again.skipped) == (0, 1)


def test_xlsx_rows_with_typed_cells(repo, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Date", "Memo", "Amount"])
    sheet.append([__import__("datetime").date(2026, 3, 5), "INV-000400", 99.5])
    sheet.append(["2026-03-06", "fee", "-1.25"])
    sheet.append([__import__("datetime").datetime(2026, 3, 7, 9, 30), "typed time", 2])
    path = tmp_path / "bank.xlsx"
    book.save(path)
    result = run(repo, "sheet", path)
    assert result.created == 3
    assert [(str(r["date"]), r["amount"]) for r in lines(repo)] == [
        ("2026-03-05", Decimal("99.50")), ("2026-03-06", Decimal("-1.25")),
        ("2026-03-07", Decimal("2.00")),
    ]  # fmt: skip


def test_a_dry_run_previews_the_lines_and_writes_nothing(repo, tmp_path):
    path = write(tmp_path, "de.csv", "Datum;Name;Betrag;Zweck;Info\n02.03.2026;A;10,00;x;\n")
    result = run(repo, "signed", path, dry_run=True)
    assert result.dry_run and result.created == 1
    assert result.preview[0]["amount"] == Decimal("10.00") and result.preview[0]["line"] == 2
    assert lines(repo) == [] and repo.query("bank.statement").rows == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "{entity: line, format: csv, columns: {memo: Memo}, amount: A}",
            "imports.p.columns: in import `p`: needs the column of `date`",
        ),
        (
            "{entity: line, format: csv, columns: {date: D}}",
            "imports.p: in import `p`: needs `amount` (one signed column) or `credit` and `debit`",
        ),
        (
            "{entity: line, format: mt940, columns: {date: D}}",
            "imports.p.columns: in import `p`: only a csv or xlsx profile reads columns",
        ),
        (
            "{entity: line, format: csv, columns: {date: D}, amount: A, encoding: klingon}",
            "imports.p.encoding: in import `p`: unknown encoding 'klingon'",
        ),
        (
            "{entity: line, format: csv, columns: {date: D}, amount: A, stated: ['(?P<x>1)']}",
            "imports.p.stated[0]: in import `p`: name what the pattern finds with groups",
        ),
        (
            "{entity: statement, format: ofx}",
            "imports.p.entity: in import `p`: statement needs the field(s) date, amount",
        ),
        (
            "{entity: line, format: ofx, statements: line}",
            "imports.p.statements: in import `p`: line needs a field `statement` referring to line",
        ),
    ],
)
def test_profile_mistakes_are_located(tmp_path, spec, message):
    head = APP.split("imports:")[0]
    (tmp_path / "bank.yaml").write_text(head + f"imports:\n  p: {spec}\n", encoding="utf-8")
    with pytest.raises(DefinitionErrors) as failed:
        load_apps([tmp_path])
    assert any(message in str(e) for e in failed.value.errors), failed.value


def test_every_format_is_registered_once_and_documented():
    from engine.appdef.imports import FORMATS as NAMES
    from engine.imports.formats import FORMATS, reader

    reader(load_apps([APPS]).apps["receivables"].imports["mt940"], SAMPLE, "x")  # registers
    assert set(FORMATS) == set(NAMES)
    readme = (APPS.parent / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in NAMES)


def test_a_statement_record_is_written_once_complete(repo, tmp_path):
    """The first pass adds the statement up, so its record is created with its totals and
    never updated (an update would read every line of the statement back)."""
    result = run(repo, "split", write(tmp_path, "s.csv", ONE_PAYMENT + 'Total,"1,200.00",0,2200\n'))
    assert result.statements == 1
    (statement,) = repo.query("bank.statement").rows
    assert statement["version"] == 1 and statement["entries"] == 1


def test_two_imports_of_one_file_at_once_write_its_lines_once(repo, tmp_path):
    import threading

    from engine.permissions import Principal

    rows = "".join(f"2026-03-{1 + i % 28:02},{i}.00,payment {i}\n" for i in range(400))
    path = write(tmp_path, "both.csv", "date,amount,memo,id\n" + rows)
    start = threading.Barrier(2)
    results: list = []

    def one(name: str) -> None:
        other = repo.db.repository(Principal.system(name))
        start.wait()
        results.append(run_default(other, path))

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted((r.created, r.skipped) for r in results) == [(0, 400), (400, 0)]
    assert len(lines(repo)) == 400


def test_a_big_csv_streams_through_its_reader(repo, tmp_path):
    """Reading 5,000 rows holds about one row at a time, not the file (300 KB of text)."""
    import tracemalloc

    from engine.imports import values
    from engine.imports.formats import reader

    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("Datum;Name;Betrag;Zweck;Info\n")
        for i in range(5_000):
            out.write(f"02.03.2026;Customer {i};{i},50;INV-{i:06} payment;note {i}\n")
    profile = replace(find_profile(repo, "bank.signed"), encoding="utf-8")  # no detection pass
    source = reader(profile, path, "big.csv")
    values.amount("1,00", "1.234,56")  # Babel loads its locale data once, on first use
    tracemalloc.start()
    try:
        count = sum(1 for s in source.statements() for _entry in s.entries)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 5_000
    assert peak < 150_000, f"reading took {peak:,} bytes at its peak"
