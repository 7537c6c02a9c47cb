"""CSV and JSON import and export of records: refs by name, exact money, located errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from engine.errors import FormworkError
from engine.recordio import ImportFailed, export_records, format_of, import_records, key_field
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


def load(repo: Repository, text: str, fmt: str = "csv", name: str = "invoices.csv", **kw):
    entity = kw.get("entity", "receivables.invoice")
    return import_records(repo, entity, text.encode("utf-8"), fmt, name)


def failure(repo: Repository, text: str, fmt: str = "csv", name: str = "invoices.csv", **kw):
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
    ids = load(repo, text)
    assert len(ids) == 2
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
    with pytest.raises(ImportFailed) as info:
        import_records(repo, "receivables.invoice", b"number\n\xff\xfe\n", "csv", "x.csv")
    assert [str(e) for e in info.value.errors] == [
        "x.csv:2: is not UTF-8 text; save the file as UTF-8 and try again"
    ]


def test_a_header_alone_imports_nothing(repo, customers):
    assert load(repo, "number,customer,issue_date,amount\n") == []


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
    assert rows[0]["open_amount"] == "1234.50" and rows[0]["status"] == "open"
    assert rows[0]["disputed"] == "false" and rows[0]["description"] == ""
    assert rows[1]["amount"] == "150000" and rows[1]["disputed"] == "true"
    data = json.loads(export(repo, "receivables.invoice", "json"))
    assert data[0]["amount"] == "1234.50" and data[0]["customer"] == "ACME GmbH"
    assert data[1]["disputed"] is True and data[0]["description"] is None
    assert data[0]["issue_date"] == "2026-03-01"
    assert json.loads(export(repo, "receivables.exchange_rate", "json")) == []


def test_export_pages_through_every_record(repo, customers, monkeypatch):
    monkeypatch.setattr("engine.recordio.PAGE", 7)
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
    with pytest.raises(FormworkError, match="use --format csv or --format json"):
        format_of("invoices.txt")
    assert key_field(appset.entity("receivables.customer")).name == "name"
    assert key_field(appset.entity("receivables.invoice")).name == "number"
    assert key_field(appset.entity("receivables.bank_line")) is None
