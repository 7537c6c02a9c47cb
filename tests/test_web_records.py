"""The generic record pages: list, count, lookup, detail, create, edit, delete, permissions."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from engine.permissions import Principal
from web import records


@pytest.fixture
def repo(app):
    return app.extensions["formwork"].db.repository(Principal.system("tester"))


@pytest.fixture
def data(repo):
    """Two customers and three invoices."""
    acme = repo.create("receivables.customer", {"name": "ACME Ltd", "email": "ar@acme.example"})
    globex = repo.create("receivables.customer", {"name": "Globex", "currency": "USD"})
    invoices = [
        repo.create(
            "receivables.invoice",
            {
                "number": number,
                "customer": customer["id"],
                "issue_date": issued,
                "amount": Decimal(amount),
                "description": text,
            },
        )
        for number, customer, issued, amount, text in [
            ("INV-001", acme, "2026-01-10", "1234.50", "Consulting, January"),
            ("INV-002", acme, "2026-02-10", "99.00", "Licence"),
            ("INV-003", globex, "2026-03-01", "5000.00", "Hardware"),
        ]
    ]
    return {"acme": acme, "globex": globex, "invoices": invoices}


@contextmanager
def statements(app):
    """Every SQL statement the app runs inside the block."""
    seen: list[str] = []
    engine = app.extensions["formwork"].db.engine

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def body_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", tbody, re.S)


def input_tag(html: str, name: str) -> str:
    match = re.search(rf'<(?:input|select|textarea)[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    assert match, f"no input named {name}"
    return match.group(0)


# -- list -------------------------------------------------------------------------------------


def test_list_shows_configured_columns_with_ref_labels_and_money(login, client, data):
    login("viewer")
    response = client.get("/receivables/invoice/")
    assert response.status_code == 200
    html = text_of(response)
    headers = re.findall(r'<th scope="col"[^>]*>\s*<a [^>]*>([^<]+)<', html)
    assert headers == [
        "Number", "Customer", "Issue date", "Due date", "Currency", "Amount", "Open amount",
        "Status",
    ]  # fmt: skip
    rows = body_rows(html)
    assert len(rows) == 3
    assert "INV-003" in rows[0]  # default sort: newest issue date first
    first = rows[2]
    acme_url = f"/receivables/customer/{data['acme']['id']}"
    assert f'<a href="{acme_url}">ACME Ltd</a>' in first
    assert re.search(r'<td class="num">\s*1,234\.50\s*</td>', first)
    assert "Feb 9, 2026" in first  # due date defaulted from 30 days of payment terms


def test_list_filters_by_ref_and_date_range(login, client, data):
    login("viewer")
    html = text_of(client.get(f"/receivables/invoice/?customer={data['acme']['id']}"))
    assert [r for r in body_rows(html) if "INV-003" in r] == []
    assert len(body_rows(html)) == 2
    html = text_of(
        client.get("/receivables/invoice/?issue_date__gte=2026-02-01&issue_date__lte=2026-02-28")
    )
    rows = body_rows(html)
    assert len(rows) == 1 and "INV-002" in rows[0]
    # a filter with no control of its own is shown as a removable chip and kept by the form
    assert "Issue date ≥ 2026-02-01" in html
    assert 'type="hidden" name="issue_date__gte" value="2026-02-01"' in html


def test_list_filter_controls_follow_the_field_types(login, client, data):
    login("viewer")
    html = text_of(client.get("/receivables/invoice/?disputed=false"))
    customer_select = re.search(
        r'<select id="flt-customer" name="customer">.*?</select>', html, re.S
    )
    assert customer_select and "ACME Ltd" in customer_select.group(0)
    assert '<option value="false" selected>No</option>' in html
    assert len(body_rows(html)) == 3
    assert len(body_rows(text_of(client.get("/receivables/invoice/?disputed=true")))) == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("amount__gte=lots", "Amount: 'lots' is not a number"),
        ("app=x&entity=y", "Invoice has no field 'app'"),
        ("issue_date=tomorrow", "is not a date"),
        ("colour=red", "Invoice has no field 'colour'"),
        ("amount__near=5", "Amount: unknown operator 'near'"),
        ("sort=colour", "no field 'colour' to sort by"),
    ],
)
def test_a_bad_filter_shows_a_message_not_an_error_page(login, client, data, query, message):
    login("viewer")
    response = client.get(f"/receivables/invoice/?{query}")
    assert response.status_code == 400
    html = text_of(response)
    assert "This filter cannot be applied" in html
    assert message in html
    assert "<tbody>" not in html


def test_records_whose_first_column_is_a_ref_get_their_own_link(login, client, repo, data):
    invoice = data["invoices"][0]
    line = repo.create("receivables.bank_line", {"date": "2026-03-01", "amount": "500"})
    repo.create(
        "receivables.allocation",
        {"bank_line": line["id"], "invoice": invoice["id"], "amount": "50"},
    )
    login("viewer")
    html = text_of(client.get("/receivables/allocation/"))
    row = body_rows(html)[0]
    assert '<a href="/receivables/allocation/1">#1</a>' in row
    assert f'<a href="/receivables/bank_line/{line["id"]}">2026-03-01 500.00</a>' in row
    html = text_of(client.get(f"/receivables/invoice/{invoice['id']}"))
    related = html.split("<h2>Allocations</h2>", 1)[1].split("</section>", 1)[0]
    assert '<a href="/receivables/allocation/1">#1</a>' in related
    assert "Paid or credited" in html and "50.00" in html


def test_list_sorts_by_a_column_header(login, client, data):
    login("viewer")
    html = text_of(client.get("/receivables/invoice/?sort=amount"))
    numbers = [re.search(r"INV-\d+", r).group(0) for r in body_rows(html)]
    assert numbers == ["INV-002", "INV-001", "INV-003"]
    # the sorted column's header offers the other direction
    assert 'aria-sort="ascending"' in html
    assert 'href="/receivables/invoice/?sort=-amount"' in html
    html = text_of(client.get("/receivables/invoice/?sort=-amount"))
    numbers = [re.search(r"INV-\d+", r).group(0) for r in body_rows(html)]
    assert numbers == ["INV-003", "INV-001", "INV-002"]


def test_list_searches_the_search_fields(login, client, data):
    login("viewer")
    html = text_of(client.get("/receivables/invoice/?q=licence"))
    rows = body_rows(html)
    assert len(rows) == 1 and "INV-002" in rows[0]
    assert 'value="licence"' in html
    assert "No invoices match." in text_of(client.get("/receivables/invoice/?q=nothing-like-it"))


def test_list_pages_without_counting(app, login, client, repo):
    customer = repo.create("receivables.customer", {"name": "Big buyer"})
    repo.bulk_create(
        "receivables.invoice",
        [
            {
                "number": f"B-{i:03d}",
                "customer": customer["id"],
                "issue_date": dt.date(2026, 1, 1) + dt.timedelta(days=i),
                "amount": Decimal("10.00"),
            }
            for i in range(60)
        ],
    )
    login("viewer")
    with statements(app) as seen:
        response = client.get("/receivables/invoice/")
    html = text_of(response)
    assert len(body_rows(html)) == 50
    assert 'rel="next"' in html and 'rel="prev"' not in html
    assert not [s for s in seen if "count(" in s.lower()], "a list page must not COUNT its rows"
    # one labels query for the customer column, however many rows reference customers
    customer_reads = [s for s in seen if "from receivables_customer" in s.lower()]
    assert len(customer_reads) <= 3  # the column's labels, and the filter's options (2)
    html = text_of(client.get("/receivables/invoice/?page=2"))
    rows = body_rows(html)
    assert len(rows) == 10 and "B-009" in rows[0]
    assert 'rel="prev"' in html and 'rel="next"' not in html
    assert "Page 2 · 51\u201360" in html  # an en dash between the row numbers


def test_lazy_count_uses_the_same_filters(login, client, data, monkeypatch):
    login("viewer")
    html = text_of(client.get(f"/receivables/invoice/?customer={data['acme']['id']}&q=inv"))
    count_url = re.search(r'data-count-url="([^"]+)"', html).group(1)
    assert client.get(count_url).get_json() == {"count": 2, "capped": False}
    assert client.get("/receivables/invoice/count").get_json() == {"count": 3, "capped": False}
    monkeypatch.setattr(records, "COUNT_CAP", 2)
    assert client.get("/receivables/invoice/count").get_json() == {"count": 2, "capped": True}
    bad = client.get("/receivables/invoice/count?amount__gte=x")
    assert bad.status_code == 400
    assert "is not a number" in bad.get_json()["error"]


def test_lookup_searches_the_targets_search_fields(login, client, repo):
    repo.bulk_create("receivables.customer", [{"name": f"Acme {i:02d}"} for i in range(25)])
    repo.create("receivables.customer", {"name": "Zeta", "vat_number": "DE999"})
    login("clerk")
    found = client.get("/receivables/customer/lookup?q=acme").get_json()
    assert len(found) == 20
    assert found[0] == {"id": 1, "label": "Acme 00"}  # the customer list's own order (name)
    assert client.get("/receivables/customer/lookup?q=de99").get_json() == [
        {"id": 26, "label": "Zeta"}
    ]
    assert client.get("/receivables/customer/lookup?q=nobody").get_json() == []


# -- detail -----------------------------------------------------------------------------------


def test_detail_shows_fields_refs_related_records_and_history(login, client, repo, data):
    invoice = data["invoices"][0]
    repo.update("receivables.invoice", invoice["id"], {"amount": Decimal("1300")})
    login("viewer")
    html = text_of(client.get(f"/receivables/invoice/{invoice['id']}"))
    assert "<h1>INV-001</h1>" in html
    assert f'<a href="/receivables/customer/{data["acme"]["id"]}">ACME Ltd</a>' in html
    assert "1,300.00" in html
    assert "Updated</strong> by tester" in html
    assert re.search(r"Amount</span>: <del>1,234\.50</del> → <ins>1,300\.00</ins>", html)
    assert "Created</strong> by tester" in html
    # viewers see no buttons they may not use
    assert "/edit" not in html and "/delete" not in html

    html = text_of(client.get(f"/receivables/customer/{data['acme']['id']}"))
    related = html.split("<h2>Invoices</h2>", 1)[1].split("</section>", 1)[0]
    assert "INV-001" in related and "INV-002" in related and "INV-003" not in related
    assert f'href="/receivables/invoice/?customer={data["acme"]["id"]}"' in related
    assert "New invoice" not in related  # a viewer may not create
    assert "<span>No collection tasks</span>" in html  # empty relations: one line each


def test_detail_offers_a_prefilled_child_form(login, client, data):
    login("clerk")
    acme = data["acme"]["id"]
    html = text_of(client.get(f"/receivables/customer/{acme}"))
    assert f'href="/receivables/invoice/new?customer={acme}"' in html
    html = text_of(client.get(f"/receivables/invoice/new?customer={acme}"))
    assert f'<option value="{acme}" selected>ACME Ltd</option>' in html


def test_unknown_entity_and_record_get_a_404_page_in_the_layout(login, client, data):
    login("viewer")
    for url in ("/receivables/nothing/", "/receivables/invoice/9999", "/nope/invoice/9999/edit"):
        response = client.get(url)
        assert response.status_code == 404, url
        html = text_of(response)
        assert '<header class="topbar">' in html and "Not found" in html


# -- create -----------------------------------------------------------------------------------


def new_invoice_form(customer_id, **changes):
    form = {
        "number": "INV-100",
        "customer": str(customer_id),
        "issue_date": "2026-04-01",
        "due_date": "",
        "currency": "",
        "amount": "1,234.50",
        "description": "",
    }
    form.update(changes)
    return form


def test_create_parses_locale_money_and_applies_defaults(login, client, repo, data):
    login("clerk")
    response = client.post("/receivables/invoice/new", data=new_invoice_form(data["acme"]["id"]))
    assert response.status_code == 302
    record = repo.query("receivables.invoice", search="INV-100").rows[0]
    assert response.headers["Location"] == f"/receivables/invoice/{record['id']}"
    assert record["amount"] == Decimal("1234.50")
    assert record["due_date"] == dt.date(2026, 5, 1)
    assert record["currency"] == "EUR"
    assert record["disputed"] is False
    assert "Invoice INV-100 was created." in text_of(client.get(response.headers["Location"]))


def test_create_with_a_bad_value_shows_the_message_beside_the_field(login, client, repo, data):
    login("clerk")
    form = new_invoice_form(data["acme"]["id"], amount="12,x", issue_date="2026-13-45")
    response = client.post("/receivables/invoice/new", data=form)
    assert response.status_code == 422
    html = text_of(response)
    amount = input_tag(html, "amount")
    assert 'value="12,x"' in amount  # what was typed is kept
    assert 'aria-describedby="f-amount-error"' in amount and 'aria-invalid="true"' in amount
    assert re.search(r'id="f-amount-error"><span[^>]*>Error: </span>Amount is not a number<', html)
    assert "Issue date is not a date (use YYYY-MM-DD)" in html
    summary = html.split('class="error-summary', 1)[1].split("</div>", 1)[0]
    assert '<a href="#f-issue_date">' in summary and '<a href="#f-amount">' in summary
    assert 'value="INV-100"' in input_tag(html, "number")
    assert repo.count("receivables.invoice") == 3  # nothing written


def test_entity_checks_and_uniqueness_show_beside_their_fields(login, client, repo, data):
    login("clerk")
    form = new_invoice_form(data["acme"]["id"], due_date="2026-03-01")
    html = text_of(client.post("/receivables/invoice/new", data=form))
    message = "The due date cannot be before the issue date"
    assert re.search(rf'id="f-due_date-error"><span[^>]*>Error: </span>{message}<', html)
    assert 'aria-describedby="f-due_date-help f-due_date-error"' in input_tag(html, "due_date")
    html = text_of(
        client.post(
            "/receivables/invoice/new", data=new_invoice_form(data["acme"]["id"], number="INV-001")
        )
    )
    assert "INV-001 is already used by invoice #1" in html
    assert repo.count("receivables.invoice") == 3


def test_searchable_ref_input_for_large_tables(app, login, client, repo, data):
    app.config["REF_SELECT_MAX"] = 1  # two customers: more than a select would list
    login("clerk")
    html = text_of(client.get(f"/receivables/invoice/new?customer={data['globex']['id']}"))
    combo = re.search(
        r'<div class="combo" data-lookup="/receivables/customer/lookup">.*?</div>', html, re.S
    )
    assert combo, "expected a searchable ref input"
    assert 'role="combobox"' in combo.group(0) and 'value="Globex"' in combo.group(0)
    assert f'type="hidden" name="customer" value="{data["globex"]["id"]}"' in combo.group(0)
    form = new_invoice_form("", customer__text="Globx")
    response = client.post("/receivables/invoice/new", data=form)
    assert response.status_code == 422
    html = text_of(response)
    assert "“Globx” was not picked from the list" in html
    assert 'value="Globx"' in html  # the typed text is kept
    # the list's filter on that ref searches the same way, showing the chosen record's name
    html = text_of(client.get(f"/receivables/invoice/?customer={data['acme']['id']}"))
    assert 'role="combobox"' in html and 'value="ACME Ltd"' in html
    assert len(body_rows(html)) == 2


def test_create_form_has_csrf_labels_and_sections(app, login, client):
    login("clerk")
    app.config["WTF_CSRF_ENABLED"] = True
    html = text_of(client.get("/receivables/customer/new"))
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert "<legend>Contact</legend>" in html and "<legend>Terms and credit</legend>" in html
    for name in ("name", "email", "currency", "credit_status"):
        assert f'<label for="f-{name}">' in html
        assert f'id="f-{name}"' in input_tag(html, name)
    assert 'value="EUR"' in input_tag(html, "currency")
    assert "Open balance" not in html  # computed: nothing to show before it exists
    response = client.post("/receivables/customer/new", data={"name": "No token"})
    assert response.status_code == 400
    assert "The form had expired" in text_of(response)


# -- edit -------------------------------------------------------------------------------------


def test_edit_saves_with_the_version_read(login, client, repo, data):
    invoice = data["invoices"][1]
    login("clerk")
    html = text_of(client.get(f"/receivables/invoice/{invoice['id']}/edit"))
    assert '<input type="hidden" name="version" value="1">' in html
    assert 'value="99.00"' in input_tag(html, "amount")
    form = new_invoice_form(
        data["acme"]["id"], number="INV-002", issue_date="2026-02-10", amount="150", currency="EUR"
    )
    form["version"] = "1"
    form["disputed"] = "on"
    response = client.post(f"/receivables/invoice/{invoice['id']}/edit", data=form)
    assert response.status_code == 302
    saved = repo.get("receivables.invoice", invoice["id"])
    assert (saved["amount"], saved["disputed"], saved["version"]) == (Decimal("150.00"), True, 2)


def test_a_stale_edit_shows_the_conflict_and_overwrites_nothing(login, client, repo, data):
    invoice = data["invoices"][0]
    login("clerk")
    client.get(f"/receivables/invoice/{invoice['id']}/edit")  # the clerk reads version 1
    repo.update("receivables.invoice", invoice["id"], {"amount": Decimal("2000")})  # someone else
    form = new_invoice_form(
        data["acme"]["id"], number="INV-001", issue_date="2026-01-10", amount="1500", currency="EUR"
    )
    form["version"] = "1"
    response = client.post(f"/receivables/invoice/{invoice['id']}/edit", data=form)
    assert response.status_code == 409
    html = text_of(response)
    assert "Someone else changed this invoice while you were editing it" in html
    assert re.search(r"<th scope=\"row\">Amount</th><td>2,000\.00</td><td>1,500</td>", html)
    assert 'value="1500"' in input_tag(html, "amount")  # the clerk's text is kept
    assert '<input type="hidden" name="version" value="2">' in html
    assert repo.get("receivables.invoice", invoice["id"])["amount"] == Decimal("2000.00")
    form["version"] = "2"  # saving again, knowingly, keeps the clerk's value
    assert client.post(f"/receivables/invoice/{invoice['id']}/edit", data=form).status_code == 302
    assert repo.get("receivables.invoice", invoice["id"])["amount"] == Decimal("1500.00")


def test_edit_errors_keep_the_version_the_user_read(login, client, repo, data):
    invoice = data["invoices"][0]
    login("clerk")
    form = new_invoice_form(data["acme"]["id"], number="", amount="x")
    form["version"] = "1"
    html = text_of(client.post(f"/receivables/invoice/{invoice['id']}/edit", data=form))
    assert "Number is required" in html and "Amount is not a number" in html
    assert '<input type="hidden" name="version" value="1">' in html


# -- delete -----------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes(login, client, repo, data):
    login("admin")
    invoice = data["invoices"][2]
    html = text_of(client.get(f"/receivables/invoice/{invoice['id']}/delete"))
    assert "Delete invoice INV-003?" in html
    assert '<input type="hidden" name="version" value="1">' in html
    assert repo.get("receivables.invoice", invoice["id"]) is not None
    response = client.post(f"/receivables/invoice/{invoice['id']}/delete", data={"version": "1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/receivables/invoice/"
    assert repo.get("receivables.invoice", invoice["id"]) is None


def test_delete_is_refused_while_records_refer_to_it(login, client, repo, data):
    login("admin")
    acme = data["acme"]["id"]
    response = client.post(f"/receivables/customer/{acme}/delete", data={"version": "1"})
    assert response.status_code == 409
    assert "Cannot delete: 2 invoices refer to it; delete or move them first" in text_of(response)
    assert repo.get("receivables.customer", acme) is not None


def test_a_stale_delete_is_refused(login, client, repo, data):
    login("admin")
    invoice = data["invoices"][2]
    repo.update("receivables.invoice", invoice["id"], {"description": "changed"})
    response = client.post(f"/receivables/invoice/{invoice['id']}/delete", data={"version": "1"})
    assert response.status_code == 409
    html = text_of(response)
    assert "was changed by someone else" in html
    assert '<input type="hidden" name="version" value="2">' in html
    assert repo.get("receivables.invoice", invoice["id"]) is not None


# -- permissions ------------------------------------------------------------------------------


def test_viewer_may_read_but_not_create_edit_or_delete(login, client, repo, data):
    login("viewer")
    invoice = data["invoices"][0]["id"]
    html = text_of(client.get("/receivables/invoice/"))
    assert "New invoice" not in html
    for method, url in [
        ("get", "/receivables/invoice/new"),
        ("post", "/receivables/invoice/new"),
        ("get", f"/receivables/invoice/{invoice}/edit"),
        ("post", f"/receivables/invoice/{invoice}/edit"),
        ("post", f"/receivables/invoice/{invoice}/delete"),
    ]:
        response = getattr(client, method)(url, data=new_invoice_form(data["acme"]["id"]))
        assert response.status_code == 403, (method, url)
        assert "Not allowed" in text_of(response)
    assert repo.count("receivables.invoice") == 3


def test_buttons_follow_the_role(login, client, data):
    acme = data["acme"]["id"]
    login("clerk")  # may edit customers, only admins delete them
    html = text_of(client.get(f"/receivables/customer/{acme}"))
    assert f'href="/receivables/customer/{acme}/edit"' in html
    assert f'href="/receivables/customer/{acme}/delete"' not in html
    assert client.get(f"/receivables/customer/{acme}/delete").status_code == 403
    assert "New customer" in text_of(client.get("/receivables/customer/"))
    login("admin")
    assert f'href="/receivables/customer/{acme}/delete"' in text_of(
        client.get(f"/receivables/customer/{acme}")
    )


def test_pages_need_a_log_in(client, data):
    response = client.get("/receivables/invoice/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.get("/receivables/invoice/count").status_code == 302


def test_out_of_range_numbers_in_urls_are_not_errors(login, client, data):
    huge = "9" * 25
    login("clerk")
    assert client.get(f"/receivables/invoice/{huge}").status_code == 404
    assert client.get(f"/receivables/invoice/{huge}/edit").status_code == 404
    response = client.get(f"/receivables/invoice/?customer={huge}")
    assert response.status_code == 400
    assert "Customer: '" in text_of(response)
    assert client.get(f"/receivables/invoice/new?customer={huge}").status_code == 200
    response = client.get(f"/receivables/invoice/?page={huge}")
    assert response.status_code == 200
    assert "No invoices match." in text_of(response)
