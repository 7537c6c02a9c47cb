"""CSV and JSON import and export of records: refs by name, exact money, located errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from engine.errors import FormworkError
from engine.recordio import (
    ImportFailed,
    export_records,
    format_of,
    import_records,
    key_field,
    neutralised,
)
from engine.storage import Repository


@pytest.fixture
def customers(repo: Repository) -> dict[str, int]:
    rows = [
        {"name": "ACME GmbH", "currency": "EUR", "payment_terms_days": 14},
        {"name": "Sakura Precision K.K.", "currency": "JPY"},
        {"name": "1984 Records Ltd", "currency": "GBP"},
    ]
    ids = repo.bulk_create("receivables.customer", rows)
    return {r["name"]: i for r, i in zip(rows, ids, strict=True)}


@pytest.fixture(autouse=True)
def _files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # import files are written where their short names point


def load(repo: Repository, text: str | bytes, fmt: str = "csv", name: str = "invoices.csv", **kw):
    entity = kw.pop("entity", "receivables.invoice")
    path = Path(name)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return import_records(repo, entity, path, fmt, **kw)


def failure(
    repo: Repository, text: str | bytes, fmt: str = "csv", name: str = "invoices.csv", **kw
):
    with pytest.raises(ImportFailed) as info:
        load(repo, text, fmt, name, **kw)
    return [str(e) for e in info.value.errors]


def invoices(repo: Repository) -> list[dict]:
    return repo.query("receivables.invoice", sort="number", limit=1000).rows


def test_csv_with_bom_and_semicolons_resolves_customers_by_name(repo, customers):
    text = (
        "\ufeffnumber;customer;issue_date;amount;disputed;description\n"
        "INV-1;ACME GmbH;2026-03-01;1234.50;;\n"
        'INV-2;Sakura Precision K.K.;2026-03-02;150000;yes;"two\nlines"\n'
    )
    assert load(repo, text) == 2
    first, second = invoices(repo)
    assert first["customer"] == customers["ACME GmbH"]
    assert first["amount"] == Decimal("1234.50")
    assert first["due_date"] == dt.date(2026, 3, 15)  # the default: issue date + 14 days' terms
    assert first["currency"] == "EUR"  # the default: the customer's currency
    assert first["disputed"] is False  # empty cell: a blank, so the default applies
    assert first["description"] is None
    assert second["currency"] == "JPY" and second["disputed"] is True
    assert second["description"] == "two\nlines"


def test_a_bad_cell_loads_nothing_and_names_the_line_and_field(repo, customers):
    text = (
        "number,customer,issue_date,amount\n"
        "INV-1,ACME GmbH,2026-02-28,10.00\n"
        "INV-2,ACME GmbH,2026-02-30,10.00\n"
    )
    assert failure(repo, text) == [
        "invoices.csv:3: issue_date: '2026-02-30' is not a date (use YYYY-MM-DD)"
    ]
    assert invoices(repo) == []


def test_every_problem_is_reported_with_the_line_the_user_sees(repo, customers):
    text = (
        "number,customer,issue_date,amount\n"
        "\n"  # blank lines are skipped but still counted
        'INV-1,ACME GmbH,2026-03-01,"10.00"\n'
        'INV-2,Nobody Ltd,2026-03-01,"1,5"\n'
        'INV-3,ACME GmbH,"2026-03-01\n",10.001\n'  # a cell over two lines
        "INV-1,999,2026-03-01,\n"
        "INV-5,ACME GmbH,2026-03-10,5.00\n"
    )
    assert failure(repo, text) == [
        "invoices.csv:4: customer: no customer has name 'Nobody Ltd'",
        "invoices.csv:4: amount: '1,5' is not a number",
        "invoices.csv:5: amount: has more than 2 decimal places for EUR",
        "invoices.csv:7: number: INV-1 is used twice (also on line 3)",
        "invoices.csv:7: customer: there is no customer #999",
        "invoices.csv:7: amount: is required",
    ]
    assert invoices(repo) == []


def test_a_record_level_check_is_reported_without_a_field(repo, customers):
    text = "number,customer,issue_date,due_date,amount\nINV-1,ACME GmbH,2026-03-01,2026-02-01,1\n"
    assert failure(repo, text) == [
        "invoices.csv:2: due_date: The due date cannot be before the issue date"
    ]


def test_refs_by_id_when_no_name_matches_but_names_win(repo, customers):
    sakura = customers["Sakura Precision K.K."]
    text = f"number,customer,issue_date,amount\nINV-1,{sakura},2026-03-01,100\n"
    load(repo, text)
    assert invoices(repo)[0]["customer"] == sakura
    # A customer literally named "1984 Records Ltd" is found by its name, not taken as an id.
    text = "number,customer,issue_date,amount\nINV-2,1984 Records Ltd,2026-03-01,100\n"
    load(repo, text)
    assert invoices(repo)[1]["customer"] == customers["1984 Records Ltd"]


def test_refs_to_entities_without_a_unique_name_take_ids(repo, customers):
    line = repo.create(
        "receivables.bank_line", {"date": "2026-03-05", "amount": "100.00", "memo": "INV-1"}
    )
    load(repo, "number,customer,issue_date,amount\nINV-1,ACME GmbH,2026-03-01,100\n")
    invoice = invoices(repo)[0]["id"]
    text = f"bank_line,invoice,amount\n{line['id']},INV-1,60.00\nfirst line,INV-1,1.00\n"
    errors = failure(repo, text, name="alloc.csv", entity="receivables.allocation")
    assert errors == ["alloc.csv:3: bank_line: 'first line' is not a bank line id"]
    load(repo, text.splitlines()[0] + "\n" + text.splitlines()[1], entity="receivables.allocation")
    assert repo.get("receivables.invoice", invoice)["open_amount"] == Decimal("40.00")


def test_unknown_unnamed_and_repeated_columns_are_errors(repo, customers):
    text = "number,custmer,amount,amount,\nINV-1,ACME GmbH,1,1,\n"
    assert failure(repo, text) == [
        "invoices.csv:1: unknown column 'custmer': invoice has no such field "
        "(did you mean 'customer'?)",
        "invoices.csv:1: column 'amount' appears twice",
    ]
    text = "number,customer,issue_date,amount,\nINV-1,ACME GmbH,2026-03-01,1,oops\n"
    assert failure(repo, text) == ["invoices.csv:1: column 5 has values but no name"]
    text = "\n\nnumber,colour\nINV-1,red\n"  # the header is the first line that is not blank
    assert failure(repo, text) == [
        "invoices.csv:3: unknown column 'colour': invoice has no such field"
    ]


def test_too_many_cells_and_broken_files(repo, customers):
    text = "number,customer,issue_date,amount\nINV-1,ACME GmbH,2026-03-01,1,2\n"
    assert failure(repo, text) == ["invoices.csv:2: has 5 cells but the header has 4 columns"]
    assert failure(repo, "") == [
        "invoices.csv:1: is empty: expected a header line with field names"
    ]
    assert failure(repo, b"number\n\xff\xfe\n", name="x.csv", encoding="utf-8") == [
        "x.csv:2: is not UTF-8 text (as given); save the file as UTF-8, or give its encoding "
        "with --encoding"
    ]


def test_a_header_alone_imports_nothing(repo, customers):
    assert load(repo, "number,customer,issue_date,amount\n") == 0


def test_many_errors_are_cut_short(repo, customers):
    rows = "".join(f"INV-{i},ACME GmbH,not a date,1\n" for i in range(60))
    with pytest.raises(ImportFailed) as info:
        load(repo, "number,customer,issue_date,amount\n" + rows)
    lines = info.value.lines()
    assert len(info.value.errors) == 60
    assert len(lines) == 51 and lines[-1] == "... and 10 more"
    assert lines[0] == "invoices.csv:2: issue_date: 'not a date' is not a date (use YYYY-MM-DD)"


def test_json_import_keeps_money_exact_and_names_records(repo, customers):
    records = [
        {"number": "INV-1", "customer": "ACME GmbH", "issue_date": "2026-03-01", "amount": 0.1},
        {"number": "INV-2", "customer": "ACME GmbH", "issue_date": "2026-03-01", "amount": 19.99,
         "open_amount": "999", "id": 77},
    ]  # fmt: skip
    load(repo, json.dumps(records), "json", "inv.json")
    rows = invoices(repo)
    assert [r["amount"] for r in rows] == [Decimal("0.10"), Decimal("19.99")]
    assert rows[1]["open_amount"] == Decimal("19.99")  # computed columns are ignored
    assert 77 not in {r["id"] for r in rows}  # ids are the database's to give

    bad = [
        {"number": "INV-3", "customer": "ACME GmbH", "issue_date": "2026-03-01", "amount": 1},
        {"number": "INV-4", "customer": True, "issue_date": "2026-13-01", "amount": 1},
        "not an object",
    ]
    assert failure(repo, json.dumps(bad), "json", "inv.json") == [
        "inv.json: record 3: is not an object of field: value",
    ]
    assert failure(repo, json.dumps(bad[:2]), "json", "inv.json") == [
        "inv.json: record 2: customer: 'true' is not a customer name or id",
        "inv.json: record 2: issue_date: '2026-13-01' is not a date (use YYYY-MM-DD)",
    ]
    assert failure(repo, '{"number": 1}', "json", "inv.json") == [
        "inv.json: must hold a JSON list of records ([{...}, ...])"
    ]
    assert failure(repo, "[{,}]", "json", "inv.json") == [
        "inv.json:1: is not valid JSON: Expecting property name enclosed in double quotes "
        "(column 3)"
    ]
    assert failure(repo, '[{"colour": "red"}]', "json", "inv.json") == [
        "inv.json: record 1: unknown column 'colour': invoice has no such field"
    ]


def export(repo: Repository, entity: str, fmt: str = "csv") -> str:
    out = io.StringIO()
    export_records(repo, entity, fmt, out)
    return out.getvalue()


def test_export_writes_exact_money_names_for_refs_and_computed_fields(repo, customers):
    load(
        repo,
        "number,customer,issue_date,amount,disputed\n"
        "INV-1,ACME GmbH,2026-03-01,1234.5,\n"
        "INV-2,Sakura Precision K.K.,2026-03-02,150000,yes\n",
    )
    rows = list(csv.DictReader(io.StringIO(export(repo, "receivables.invoice"))))
    assert list(rows[0]) == ["id", *repo.entity("receivables.invoice").fields]
    assert rows[0]["customer"] == "ACME GmbH"
    assert rows[0]["amount"] == "1234.50"
    assert rows[0]["open_amount"] == "1234.50"
    assert rows[0]["status"] == "overdue"  # due 31 Mar 2026
    assert rows[0]["disputed"] == "false" and rows[0]["description"] == ""
    assert rows[1]["amount"] == "150000" and rows[1]["disputed"] == "true"
    data = json.loads(export(repo, "receivables.invoice", "json"))
    assert data[0]["amount"] == "1234.50" and data[0]["customer"] == "ACME GmbH"
    assert data[1]["disputed"] is True and data[0]["description"] is None
    assert data[0]["issue_date"] == "2026-03-01"
    assert json.loads(export(repo, "receivables.exchange_rate", "json")) == []


def test_export_pages_through_every_record(repo, customers, monkeypatch):
    monkeypatch.setattr("engine.recordio.export.PAGE", 7)
    repo.bulk_create(
        "receivables.invoice",
        [
            {"number": f"INV-{i:03d}", "customer": customers["ACME GmbH"],
             "issue_date": "2026-03-01", "amount": "1.00"}
            for i in range(30)
        ],
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(export(repo, "receivables.invoice"))))
    assert [r["number"] for r in rows] == [f"INV-{i:03d}" for i in range(30)]
    assert {r["customer"] for r in rows} == {"ACME GmbH"}


def test_export_then_import_gives_the_same_records(repo, customers):
    load(
        repo,
        "number,customer,issue_date,due_date,amount,description,disputed\n"
        'INV-1,ACME GmbH,2026-03-01,,1234.56,"Müller; ""quoted""\nnext line",\n'
        "INV-2,Sakura Precision K.K.,2026-03-02,2026-04-30,150000,,true\n",
    )
    for fmt in ("csv", "json"):
        before = export(repo, "receivables.invoice", fmt)
        for row in invoices(repo):
            repo.delete("receivables.invoice", row["id"])
        load(repo, before, fmt, f"invoices.{fmt}")
        after = export(repo, "receivables.invoice", fmt)
        assert _without_ids(after, fmt) == _without_ids(before, fmt)


def _without_ids(text: str, fmt: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)
    return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def test_format_of_and_key_field(appset):
    assert format_of("a/invoices.CSV") == "csv"
    assert format_of("x.json") == "json"
    assert format_of("x.txt", "csv") == "csv"
    assert format_of("x.xlsx") == "xlsx"
    with pytest.raises(FormworkError, match="use --format csv, json or xlsx"):
        format_of("invoices.txt")
    assert key_field(appset.entity("receivables.customer")).name == "name"
    assert key_field(appset.entity("receivables.invoice")).name == "number"
    assert key_field(appset.entity("receivables.bank_line")) is None


# -- big files: chunks, encodings, spreadsheets ------------------------------------------------


HEADER = "number,customer,issue_date,amount\n"


def test_an_error_in_the_last_chunk_rolls_back_every_earlier_chunk(repo, customers):
    good = "".join(f"INV-{i},ACME GmbH,2026-03-01,10.00\n" for i in range(7))
    text = HEADER + good + "INV-7,ACME GmbH,2026-03-01,ten\n"
    assert failure(repo, text, chunk_size=2) == ["invoices.csv:9: amount: 'ten' is not a number"]
    assert invoices(repo) == []
    assert repo.get("receivables.customer", customers["ACME GmbH"])["balance"] == 0
    assert load(repo, HEADER + good, chunk_size=2) == 7
    assert len(invoices(repo)) == 7


def test_a_value_used_in_an_earlier_chunk_is_used_twice_at_its_line(repo, customers):
    text = HEADER + (
        "INV-1,ACME GmbH,2026-03-01,1\n"
        "INV-2,ACME GmbH,2026-03-01,1\n"
        "INV-3,ACME GmbH,2026-03-01,1\n"
        "INV-1,ACME GmbH,2026-03-01,1\n"  # the second chunk repeats the first chunk's number
        "INV-3,ACME GmbH,2026-03-01,1\n"
    )
    assert failure(repo, text, chunk_size=3) == [
        "invoices.csv:5: number: INV-1 is used twice (also on line 2)",
        "invoices.csv:6: number: INV-3 is used twice (also on line 4)",
    ]
    # A number taken before this import is named by the record that has it.
    load(repo, HEADER + "INV-9,ACME GmbH,2026-03-01,1\n")
    taken = invoices(repo)[0]["id"]
    assert failure(repo, HEADER + "INV-8,ACME GmbH,2026-03-01,1\nINV-9,ACME GmbH,2026-03-01,1\n",
                   chunk_size=1) == [
        f"invoices.csv:3: number: INV-9 is already used by invoice #{taken}"
    ]  # fmt: skip


def test_json_chunks_name_their_records(repo, customers):
    records = [
        {"number": f"INV-{i % 3}", "customer": "ACME GmbH", "issue_date": "2026-03-01",
         "amount": "1"}
        for i in range(4)
    ]  # fmt: skip
    assert failure(repo, json.dumps(records), "json", "inv.json", chunk_size=2) == [
        "inv.json: record 4: number: INV-0 is used twice (also in record 1)"
    ]


def test_reading_stops_after_too_many_problems(repo, customers, monkeypatch):
    monkeypatch.setattr("engine.recordio.importer.MAX_ERRORS", 5)
    rows = "".join(f"INV-{i},ACME GmbH,not a date,1\n" for i in range(20))
    with pytest.raises(ImportFailed) as info:
        load(repo, HEADER + rows, chunk_size=3)
    assert len(info.value.errors) == 6  # two chunks read, then reading stopped
    assert info.value.lines()[-1] == (
        "(reading stopped at line 7: fix these and import the file again)"
    )


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_chinese_customer_names_resolve_in_every_encoding(repo, encoding):
    ids = repo.bulk_create(
        "receivables.customer",
        [
            {"name": "上海华东贸易有限公司", "currency": "CNY"},
            {"name": "北京科技", "currency": "CNY"},
        ],
    )
    text = (
        "number,customer,issue_date,amount,description\n"
        "FP-1,上海华东贸易有限公司,2026-03-01,1000.00,办公用品\n"
        "FP-2,北京科技,2026-03-02,88.80,服务费\n"
    )
    notes = []

    class Notes:
        def note(self, message):
            notes.append(message)

        def update(self, done, total, rows):
            pass

    assert load(repo, text.encode(encoding), progress=Notes()) == 2
    rows = invoices(repo)
    assert [r["customer"] for r in rows] == ids
    assert rows[0]["description"] == "办公用品" and rows[1]["amount"] == Decimal("88.80")
    if encoding.startswith("gb"):
        assert notes == [
            "invoices.csv is not UTF-8: reading it as GB18030 (detected; choose another with "
            "--encoding)"
        ]
    else:
        assert notes == []


def test_umlauts_in_cp1252_and_a_given_encoding(repo):
    repo.bulk_create(
        "receivables.customer", [{"name": "Müller & Söhne GmbH"}, {"name": "Bäckerei Größer"}]
    )
    text = (
        "number;customer;issue_date;amount;description\n"
        "R-1;Müller & Söhne GmbH;2026-03-01;12.50;Brötchen für März\n"
        "R-2;Bäckerei Größer;2026-03-01;3.00;Kaffee\n"
    )
    assert load(repo, text.encode("cp1252")) == 2
    assert invoices(repo)[0]["description"] == "Brötchen für März"
    for row in invoices(repo):
        repo.delete("receivables.invoice", row["id"])
    assert load(repo, text.encode("latin-1"), encoding="iso-8859-1") == 2
    assert failure(repo, text.encode("cp1252"), encoding="utf-8") == [
        "invoices.csv:2: is not UTF-8 text (as given); save the file as UTF-8, or give its "
        "encoding with --encoding"
    ]
    with pytest.raises(FormworkError, match="unknown encoding 'klingon'"):
        load(repo, text, encoding="klingon")


def test_xlsx_import_with_errors_at_sheet_rows(repo, customers):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Rechnungen"
    sheet.append(["number", "customer", "issue_date", "amount", "disputed"])
    sheet.append(["INV-1", "ACME GmbH", dt.date(2026, 3, 1), 1234.5, False])
    sheet.append(["INV-2", "Sakura Precision K.K.", dt.datetime(2026, 3, 2), 150000, True])
    book.save("invoices.xlsx")
    assert import_records(repo, "receivables.invoice", "invoices.xlsx") == 2
    first, second = invoices(repo)
    assert first["amount"] == Decimal("1234.50") and first["issue_date"] == dt.date(2026, 3, 1)
    assert second["amount"] == Decimal("150000") and second["disputed"] is True

    for row in invoices(repo):
        repo.delete("receivables.invoice", row["id"])
    sheet.append(["INV-3", "ACME GmbH", "2026-03-03", 1, None])
    sheet.append(["INV-3", "Nobody", "soon", 1.5, None])
    book.save("invoices.xlsx")
    with pytest.raises(ImportFailed) as info:
        import_records(repo, "receivables.invoice", "invoices.xlsx", chunk_size=1)
    assert [str(e) for e in info.value.errors] == [
        "invoices.xlsx: sheet Rechnungen, row 5: number: INV-3 is used twice (also in row 4)",
        "invoices.xlsx: sheet Rechnungen, row 5: customer: no customer has name 'Nobody'",
        "invoices.xlsx: sheet Rechnungen, row 5: issue_date: 'soon' is not a date (use YYYY-MM-DD)",
    ]
    assert invoices(repo) == []
    with pytest.raises(ImportFailed, match="has no sheet 'Invoices'; its sheets are"):
        import_records(repo, "receivables.invoice", "invoices.xlsx", sheet="Invoices")


# -- exports a spreadsheet opens safely -----------------------------------------------------------

PROBE = "=cmd|' /C calc'!A0"


def test_csv_export_neutralises_formulas_but_keeps_numbers(repo, customers):
    texts = [PROBE, "+1+2", "-1+cmd", "@SUM(A1:A2)", "-", "- dash", "-12.50x"]
    repo.bulk_create(
        "receivables.invoice",
        [
            {"number": f"INV-{i}", "customer": customers["ACME GmbH"], "issue_date": "2026-03-01",
             "amount": "1.00", "description": text}
            for i, text in enumerate(texts)
        ],
    )  # fmt: skip
    repo.create(
        "receivables.bank_line", {"date": "2026-03-05", "amount": "-12.50", "memo": "-5 fee"}
    )
    rows = list(csv.DictReader(io.StringIO(export(repo, "receivables.invoice"))))
    assert [r["description"] for r in rows] == ["'" + t for t in texts]
    (line,) = csv.DictReader(io.StringIO(export(repo, "receivables.bank_line")))
    assert line["amount"] == "-12.50"  # a plain negative number stays a number
    assert line["memo"] == "'-5 fee"
    out = io.StringIO()
    export_records(repo, "receivables.invoice", "csv", out, raw=True)
    raw = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["description"] for r in raw] == texts  # --raw: the exact text


def test_neutralised_leaves_plain_numbers_and_text_alone():
    assert neutralised(PROBE) == "'" + PROBE
    for kept in ("-12.50", "-3", "+7", "12", "ACME", "a=b", " =1", ""):
        assert neutralised(kept) == kept
    for bad in ("-1e5", "-12.50 ", "--1", "+", "@", "=1", "\t=1", "\r=1", "\t"):
        assert neutralised(bad) == "'" + bad


def test_xlsx_export_has_typed_cells_and_text_is_never_a_formula(repo, customers, tmp_path):
    from openpyxl import load_workbook

    load(
        repo,
        "number,customer,issue_date,amount,description,disputed\n"
        f'INV-1,ACME GmbH,2026-03-01,1234.56,"{PROBE}",\n'
        "INV-2,Sakura Precision K.K.,2026-03-02,150000,-12.50,true\n",
    )
    with open("invoices.xlsx", "wb") as out:
        assert export_records(repo, "receivables.invoice", "xlsx", out) == 2
    sheet = load_workbook("invoices.xlsx").active
    assert sheet.title == "invoice"
    header = [c.value for c in sheet[1]]
    first = dict(zip(header, sheet[2], strict=True))
    second = dict(zip(header, sheet[3], strict=True))
    assert first["description"].value == PROBE and first["description"].data_type == "s"
    assert second["description"].value == "-12.50" and second["description"].data_type == "s"
    assert first["amount"].value == Decimal("1234.56") or first["amount"].value == 1234.56
    assert first["issue_date"].value == dt.datetime(2026, 3, 1)
    assert first["customer"].value == "ACME GmbH"
    assert second["disputed"].value is True
    with zipfile.ZipFile("invoices.xlsx") as book:
        assert not any("<f>" in book.read(n).decode() for n in book.namelist() if "sheet" in n)
    # And back: the workbook imports as the records it came from.
    before = export(repo, "receivables.invoice")
    for row in invoices(repo):
        repo.delete("receivables.invoice", row["id"])
    assert import_records(repo, "receivables.invoice", "invoices.xlsx") == 2
    assert _without_ids(export(repo, "receivables.invoice"), "csv") == _without_ids(before, "csv")
