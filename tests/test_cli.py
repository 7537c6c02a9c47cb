"""The `formwork` command, driven through click's CliRunner against real databases."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from engine.appdef import load_apps
from engine.auth import authenticate, list_users
from engine.cli import cli
from engine.permissions import Principal
from engine.storage import Database

APPS = Path(__file__).resolve().parent.parent / "apps"
CLEAN_ENV = {"FORMWORK_APPS": None, "FORMWORK_DATABASE_URL": None}


def run(*args: str | Path, input: str | None = None) -> Result:
    """Run `formwork ARGS`; an unexpected exception fails the test instead of being hidden."""
    return CliRunner().invoke(
        cli, [str(a) for a in args], input=input, env=CLEAN_ENV, catch_exceptions=False
    )


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A copy of the shipped apps that a test may edit."""
    return Path(shutil.copytree(APPS, tmp_path / "apps"))


def where(text: str, needle: str, token: str) -> tuple[int, int]:
    """1-based line and column of `token` inside the line holding `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number, line.index(token, line.index(needle)) + 1
    raise AssertionError(f"{needle!r} not found")


def edit(path: Path, old: str, new: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text


def add_customer_field(apps: Path, line: str) -> None:
    """Insert a field definition as the customer's first field."""
    path = apps / "receivables.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\n  customer:\n")
    at = text.index("    fields:\n", start) + len("    fields:\n")
    path.write_text(text[:at] + line + "\n" + text[at:], encoding="utf-8")


# -- check ----------------------------------------------------------------------------------------


def test_check_passes_on_the_shipped_apps():
    result = run("--apps", APPS, "check")
    assert result.exit_code == 0, result.output
    assert re.match(r"OK: 2 apps \(receivables, collections\), \d+ entities, ", result.stdout)
    assert result.stderr == ""


def test_check_reports_every_error_with_file_line_column_and_path(apps, monkeypatch):
    monkeypatch.chdir(apps.parent)
    rec, col = apps / "receivables.yaml", apps / "collections.yaml"
    # (a) a misspelt field type
    text = edit(rec, "phone: {type: phone,", "phone: {type: phnoe,")
    a = where(text, "phone: {type: phnoe,", "phnoe")
    # (c) an expression naming a missing field
    text = edit(rec, "expr: amount - paid_amount", "expr: amount - payed_amount")
    c = where(text, "expr: amount - payed_amount", "amount - payed")
    # (b) a ref to an unknown entity
    text = edit(
        col,
        "invoice: {type: ref, to: receivables.invoice,",
        "invoice: {type: ref, to: receivables.invoise,",
    )
    b = where(text, "to: receivables.invoise", "receivables.invoise")
    # (d) a YAML syntax error in the second file (collections < dunning < receivables)
    (apps / "dunning.yaml").write_text(
        "app: dunning\nentities:\n  letter:\n    fields:\n"
        "      text: {type: text\n"  # the closing brace is missing
        "      sent: {type: date}\n",
        encoding="utf-8",
    )

    result = run("--apps", "apps", "check")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"apps/collections.yaml:{b[0]}:{b[1]}: entities.collection_task.fields.invoice.to: "
        "ref to unknown entity 'receivables.invoise' (did you mean 'receivables.invoice'?)",
        "apps/dunning.yaml:6:11: YAML syntax error: while parsing a flow mapping: "
        "expected ',' or '}', but got ':'",
        f"apps/receivables.yaml:{a[0]}:{a[1]}: entities.customer.fields.phone.type: "
        "'phnoe' is not a field type (did you mean 'phone'?)",
        f"apps/receivables.yaml:{c[0]}:{c[1]}: entities.invoice.fields.open_amount.expr: "
        "in 'amount - payed_amount - written_off_amount': 'payed_amount' is not a field of invoice "
        "(did you mean 'paid_amount'?)",
        "formwork check: 4 errors",
    ]


def test_check_takes_paths_and_says_when_there_is_nothing(tmp_path):
    assert run("check", APPS / "receivables.yaml").exit_code == 0
    result = run("check", tmp_path)
    assert result.exit_code == 1
    assert "no app files (*.yaml) found" in result.stderr


# -- migrate --------------------------------------------------------------------------------------


def seed(apps: Path, url: str) -> None:
    db = Database(load_apps([apps]), url)
    repo = db.repository(Principal.system("test"))
    ids = repo.bulk_create(
        "receivables.customer", [{"name": "ACME GmbH"}, {"name": "Nordlicht Logistik GmbH"}]
    )
    repo.bulk_create(
        "receivables.invoice",
        [
            {"number": f"INV-{i}", "customer": ids[i % 2], "issue_date": "2026-03-01",
             "amount": "100.00"}
            for i in range(5)
        ],
    )  # fmt: skip
    db.dispose()


def snapshot(apps: Path, url: str) -> dict[str, list[dict]]:
    db = Database(load_apps([apps]), url)
    repo = db.repository(Principal.system("tester"))
    out = {
        e: repo.query(e, sort="id", limit=1000).rows
        for e in ("receivables.customer", "receivables.invoice")
    }
    db.dispose()
    return out


def test_migrate_adds_a_field_and_keeps_every_row(apps, database_url):
    first = run("--apps", apps, "--database", database_url, "migrate")
    assert first.exit_code == 0, first.output
    assert "create table receivables_invoice" in first.stdout
    seed(apps, database_url)
    before = snapshot(apps, database_url)
    add_customer_field(apps, "      website: {type: url}")

    dry = run("--apps", apps, "--database", database_url, "migrate", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "add column receivables_customer.website" in dry.stdout
    assert "Dry run: nothing changed." in dry.stdout
    again = run("--apps", apps, "--database", database_url, "migrate", "--dry-run")
    assert "add column receivables_customer.website" in again.stdout

    result = run("--apps", apps, "--database", database_url, "migrate")
    assert result.exit_code == 0, result.output
    assert "Applied 1 step." in result.stdout
    after = snapshot(apps, database_url)
    assert [
        {k: v for k, v in r.items() if k != "website"} for r in after["receivables.customer"]
    ] == (before["receivables.customer"])
    assert all(r["website"] is None for r in after["receivables.customer"])
    assert after["receivables.invoice"] == before["receivables.invoice"]
    assert "nothing to do" in run("--apps", apps, "--database", database_url, "migrate").stdout


def test_dropping_a_field_is_refused_unless_allowed(apps, database_url):
    add_customer_field(apps, "      website: {type: url}")
    assert run("--apps", apps, "--database", database_url, "migrate").exit_code == 0
    seed(apps, database_url)
    db = Database(load_apps([apps]), database_url)
    db.repository(Principal.system("tester")).update(
        "receivables.customer", 1, {"website": "https://acme.example"}
    )
    db.dispose()
    before = snapshot(apps, database_url)
    edit(apps / "receivables.yaml", "      website: {type: url}\n", "")

    refused = run("--apps", apps, "--database", database_url, "migrate")
    assert refused.exit_code == 1
    assert "DESTRUCTIVE drop column receivables_customer.website" in refused.stdout
    assert "Error: Refusing destructive changes" in refused.stderr
    assert "drop column receivables_customer.website" in refused.stderr
    engine = sa.create_engine(database_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("receivables_customer")}
    engine.dispose()
    assert "website" in columns  # nothing was changed

    allowed = run("--apps", apps, "--database", database_url, "migrate", "--allow-destructive")
    assert allowed.exit_code == 0, allowed.output
    after = snapshot(apps, database_url)
    assert after["receivables.customer"] == [
        {k: v for k, v in r.items() if k != "website"} for r in before["receivables.customer"]
    ]
    assert after["receivables.invoice"] == before["receivables.invoice"]  # references intact


# -- records --------------------------------------------------------------------------------------


@pytest.fixture
def filled(db, database_url, tmp_path, monkeypatch) -> str:
    """A migrated database with two customers; the working folder is a temporary one."""
    monkeypatch.chdir(tmp_path)
    db.repository(Principal.system("test")).bulk_create(
        "receivables.customer",
        [
            {"name": "ACME GmbH", "payment_terms_days": 14},
            {"name": "Sakura K.K.", "currency": "JPY"},
        ],
    )
    return database_url


def records(url: str, *args: str | Path) -> Result:
    return run("--apps", APPS, "--database", url, "records", *args)


def test_import_resolves_customers_by_name(filled, db):
    Path("invoices.csv").write_text(
        "number,customer,issue_date,amount,description\n"
        "INV-2026-0001,ACME GmbH,2026-03-01,1234.50,Spare parts\n"
        "INV-2026-0002,Sakura K.K.,2026-03-05,150000,\n",
        encoding="utf-8",
    )
    result = records(filled, "import", "receivables.invoice", "invoices.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 2 records into receivables.invoice\n"
    rows = (
        db.repository(Principal.system("tester")).query("receivables.invoice", sort="number").rows
    )
    assert [(r["number"], r["amount"], r["currency"]) for r in rows] == [
        ("INV-2026-0001", Decimal("1234.50"), "EUR"),
        ("INV-2026-0002", Decimal("150000"), "JPY"),
    ]
    assert str(rows[0]["due_date"]) == "2026-03-15"
    assert db.repository(Principal.system("tester")).labels(
        "receivables.customer", [rows[0]["customer"]]
    ) == {rows[0]["customer"]: "ACME GmbH"}


def test_one_bad_date_loads_nothing_and_names_the_row(filled, db):
    Path("invoices.csv").write_text(
        "number;customer;issue_date;amount\n"
        "INV-1;ACME GmbH;2026-02-28;10.00\n"
        "INV-2;ACME GmbH;2026-02-30;10.00\n"
        "INV-3;ACME GmbH;2026-03-01;10.00\n",
        encoding="utf-8",
    )
    result = records(filled, "import", "receivables.invoice", "invoices.csv")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "invoices.csv:3: issue_date: '2026-02-30' is not a date (use YYYY-MM-DD)",
        "Error: nothing imported: 1 problem in the file",
    ]
    assert db.repository(Principal.system("tester")).count("receivables.invoice") == 0


def test_import_refuses_unknown_columns_and_formats(filled, db):
    Path("invoices.csv").write_text("number,colour\nINV-1,red\n", encoding="utf-8")
    result = records(filled, "import", "receivables.invoice", "invoices.csv")
    assert result.exit_code == 1
    assert "invoices.csv:1: unknown column 'colour': invoice has no such field" in result.stderr
    Path("invoices.txt").write_text("number\nINV-1\n", encoding="utf-8")
    result = records(filled, "import", "receivables.invoice", "invoices.txt")
    assert result.exit_code == 1
    assert "use --format csv, json or xlsx" in result.stderr
    result = records(filled, "import", "receivables.invoise", "invoices.csv")
    assert result.exit_code == 1
    assert "no entity 'receivables.invoise'; the entities are: receivables.customer" in (
        result.stderr
    )
    assert db.repository(Principal.system("tester")).count("receivables.invoice") == 0


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_round_trip(filled, db, fmt):
    repo = db.repository(Principal.system("test"))
    Path("in.csv").write_text(
        "number,customer,issue_date,due_date,amount,description,disputed\n"
        'INV-1,ACME GmbH,2026-03-01,,1234.56,"Müller; ""Nord""\nzweite Zeile",\n'
        "INV-2,Sakura K.K.,2026-03-02,2026-04-30,150000,,yes\n",
        encoding="utf-8",
    )
    assert records(filled, "import", "receivables.invoice", "in.csv").exit_code == 0
    customers = records(filled, "export", "receivables.customer", "--format", fmt)
    assert customers.exit_code == 0, customers.output
    assert customers.stderr == "exported 2 records of receivables.customer\n"
    Path(f"customers.{fmt}").write_text(customers.stdout, encoding="utf-8")
    out = records(filled, "export", "receivables.invoice", "--format", fmt, "-o", f"inv.{fmt}")
    assert out.exit_code == 0, out.output
    before = Path(f"inv.{fmt}").read_text(encoding="utf-8")

    for entity in ("receivables.invoice", "receivables.customer"):
        for row in repo.query(entity, limit=100).rows:
            repo.delete(entity, row["id"])
    assert records(filled, "import", "receivables.customer", f"customers.{fmt}").exit_code == 0
    result = records(filled, "import", "receivables.invoice", f"inv.{fmt}")
    assert result.exit_code == 0, result.output
    after = records(filled, "export", "receivables.invoice", "--format", fmt).stdout

    def rows(text: str) -> list[dict]:
        data = list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)
        return [{k: v for k, v in r.items() if k != "id"} for r in data]

    assert rows(after) == rows(before)
    assert rows(before)[0]["amount"] == "1234.56"
    assert rows(before)[0]["customer"] == "ACME GmbH"


def test_records_need_a_migrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run("--apps", APPS, "--database", url, "records", "export", "receivables.customer")
    assert result.exit_code == 1
    assert "does not match the app definitions" in result.stderr
    assert "run `formwork migrate` first" in result.stderr


# -- users ----------------------------------------------------------------------------------------


def users(url: str, *args: str, input: str | None = None) -> Result:
    return run("--apps", APPS, "--database", url, "user", *args, input=input)


def test_user_add_and_list(db, database_url, monkeypatch):
    result = users(database_url, "add", "maria", "--role", "collector", "--password", "s3cret-pw")
    assert result.exit_code == 0, result.output
    assert result.stdout == "user maria (collector) saved\n"
    assert authenticate(db, "maria", "s3cret-pw").role == "collector"

    piped = users(database_url, "add", "tom", "--role", "clerk", input="from-stdin-pw\n")
    assert piped.exit_code == 0, piped.output
    assert authenticate(db, "tom", "from-stdin-pw") is not None

    monkeypatch.setattr("engine.cli._stdin_is_tty", lambda: True)
    typed = users(
        database_url, "add", "ann", "--role", "viewer",
        input="first-try\nsecond-try\ntyped-pass\ntyped-pass\n",
    )  # fmt: skip
    assert typed.exit_code == 0, typed.output
    assert "The two entered values do not match." in typed.output
    assert authenticate(db, "ann", "typed-pass") is not None
    assert "first-try" not in typed.output  # hidden input

    short = users(database_url, "add", "bob", "--role", "admin", "--password", "short")
    assert short.exit_code == 1
    assert "password: must be at least 8 characters" in short.stderr
    bad_role = users(database_url, "add", "bob", "--role", "boss", "--password", "long-enough")
    assert bad_role.exit_code == 2

    listed = users(database_url, "list")
    assert listed.stdout.splitlines() == ["ann    viewer", "maria  collector", "tom    clerk"]
    assert [u.username for u in list_users(db)] == ["ann", "maria", "tom"]


# -- demo and serve -------------------------------------------------------------------------------


def test_demo_builds_once_and_never_duplicates(database_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run("--apps", APPS, "demo", "--database", database_url, "--no-serve")
    assert first.exit_code == 0, first.output
    assert "Built the demo data" in first.stdout
    assert re.search(r"Imported the latest statement: \d+ bank lines; the rules matched \d+",
                     first.stdout)  # fmt: skip
    assert "Log in at http://127.0.0.1:5000 as admin / formwork-admin" in first.stdout
    assert "collector / formwork-collector" in first.stdout
    second = run("--apps", APPS, "demo", "--database", database_url, "--no-serve")
    assert second.exit_code == 0, second.output
    assert "already has data" in second.stdout
    db = Database(load_apps([APPS]), database_url)
    repo = db.repository(Principal.system("tester"))
    assert repo.count("receivables.customer") == 40
    assert repo.count("receivables.invoice") == 400
    assert repo.count("collections.collection_task") > 50
    assert authenticate(db, "clerk", "formwork-clerk") is not None
    db.dispose()

    reset = run("--apps", APPS, "demo", "--database", database_url, "--reset", "--no-serve",
                input="y\n")  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert "Built the demo data" in reset.stdout
    db = Database(load_apps([APPS]), database_url)
    assert db.repository(Principal.system("tester")).count("receivables.invoice") == 400
    db.dispose()


def test_demo_defaults_to_a_file_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("--apps", APPS, "demo", "--no-serve", "--port", "5099")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "formwork-demo.db").exists()
    assert "Log in at http://127.0.0.1:5099 as viewer / formwork-viewer" in result.stdout
    assert not (tmp_path / "formwork.db").exists()


def test_serve_runs_the_web_app_on_the_database(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("flask.Flask.run", lambda app, **kw: calls.append((app, kw)))
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    assert run("--apps", APPS, "--database", url, "migrate").exit_code == 0
    result = run("--apps", APPS, "--database", url, "serve", "--port", "5123", "--debug")
    assert result.exit_code == 0, result.output
    (app, options), = calls  # fmt: skip
    assert options == {"host": "127.0.0.1", "port": 5123, "debug": True, "use_reloader": True}
    assert app.extensions["formwork"].db.url == url
    app.extensions["formwork"].db.dispose()
    assert "gunicorn" in run("serve", "--help").stdout


# -- errors ---------------------------------------------------------------------------------------


def test_database_errors_are_messages_with_the_password_hidden():
    url = "postgresql://formwork:s3cret@127.0.0.1:1/formwork"
    result = run("--apps", APPS, "--database", url, "migrate")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot use the database postgresql+psycopg://formwork:***@127.0.0.1:1/formwork: "
    )
    assert "s3cret" not in result.output
    result = run("--apps", APPS, "--database", "nosuchdb://x", "user", "list")
    assert result.exit_code == 1
    assert "cannot use the database URL nosuchdb://x" in result.stderr


def test_definition_errors_stop_every_command(apps, tmp_path):
    edit(apps / "receivables.yaml", "phone: {type: phone,", "phone: {type: phnoe,")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run("--apps", apps, "--database", url, "migrate")
    assert result.exit_code == 1
    assert "'phnoe' is not a field type" in result.stderr
    assert "Error: 1 error in the app definitions" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_help_reads_well():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("check", "migrate", "serve", "demo", "user", "records"):
        assert f"  {command} " in result.stdout
    assert "FORMWORK_DATABASE_URL" in result.stdout and "FORMWORK_APPS" in result.stdout
