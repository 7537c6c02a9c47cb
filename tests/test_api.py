"""The JSON API over HTTP: log-in, permissions, validation, versions, lists, money, errors."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.appdef import load_apps
from engine.fieldtypes import jsonable
from engine.permissions import Principal
from engine.storage import Database

CUSTOMERS = "/api/receivables/customer"
INVOICES = "/api/receivables/invoice"


def basic(role: str) -> dict[str, str]:
    token = base64.b64encode(f"{role}:{role}-pass".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def js(response, status: int) -> dict:
    """The JSON body of a response that must have this status (and be JSON, errors too)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def repo(app):
    return app.extensions["formwork"].db.repository(Principal.system("tester"))


@pytest.fixture
def acme(repo) -> dict:
    return repo.create("receivables.customer", {"name": "ACME", "payment_terms_days": 30})


def invoice_body(customer_id: int, number: str = "INV-1", amount="100.50", **more) -> dict:
    return {
        "number": number,
        "customer": customer_id,
        "issue_date": "2026-03-01",
        "amount": amount,
        **more,
    }


# -- log-in and permissions -----------------------------------------------------------------


def test_without_login_every_api_route_answers_401_json(client, acme):
    for method, url in [
        ("get", "/api/"),
        ("get", "/api/openapi.json"),
        ("get", CUSTOMERS),
        ("get", f"{CUSTOMERS}/{acme['id']}"),
        ("post", CUSTOMERS),
        ("delete", f"{CUSTOMERS}/{acme['id']}"),
        ("get", "/api/no/such/thing"),
    ]:
        body = js(getattr(client, method)(url), 401)
        assert "log in" in body["error"]


def test_wrong_basic_password_is_401(client):
    headers = {"Authorization": "Basic " + base64.b64encode(b"clerk:wrong").decode()}
    js(client.get(CUSTOMERS, headers=headers), 401)


def test_http_basic_and_session_both_authenticate(client, login, acme):
    assert js(client.get(CUSTOMERS, headers=basic("viewer")), 200)["data"][0]["name"] == "ACME"
    login("viewer")
    assert js(client.get(CUSTOMERS), 200)["data"][0]["name"] == "ACME"


def test_viewer_may_read_but_not_create(client, acme):
    js(client.get(f"{CUSTOMERS}/{acme['id']}", headers=basic("viewer")), 200)
    body = js(client.post(CUSTOMERS, json={"name": "New"}, headers=basic("viewer")), 403)
    assert body["error"] == "the viewer role may not create customers"
    assert js(client.get(CUSTOMERS, headers=basic("viewer")), 200)["data"] == [jsonable(acme)]


def test_clerk_may_update_but_not_delete_a_customer(client, acme):
    # apps/receivables.yaml: customer delete is admin only; update includes clerk.
    url = f"{CUSTOMERS}/{acme['id']}"
    change = {"version": 1, "phone": "+49 30 1234"}
    patched = js(client.patch(url, json=change, headers=basic("clerk")), 200)
    assert patched["phone"] == "+49 30 1234"
    body = js(client.delete(f"{url}?version=2", headers=basic("clerk")), 403)
    assert "clerk" in body["error"] and "delete" in body["error"]
    js(client.get(url, headers=basic("clerk")), 200)  # still there


def test_collector_creates_collections_records_but_not_invoices(client, acme):
    task = {"title": "Call ACME", "customer": acme["id"]}
    js(client.post("/api/collections/collection_task", json=task, headers=basic("collector")), 201)
    js(client.post(INVOICES, json=invoice_body(acme["id"]), headers=basic("collector")), 403)


# -- round trip -----------------------------------------------------------------------------


def test_create_get_update_delete_round_trip(client, login, acme):
    login("admin")
    created = client.post(INVOICES, json=invoice_body(acme["id"], description="March"))
    record = js(created, 201)
    url = f"{INVOICES}/{record['id']}"
    assert created.headers["Location"] == f"http://localhost{url}"
    assert created.headers["ETag"] == '"1"'
    assert record["amount"] == "100.50"
    assert record["due_date"] == "2026-03-31"  # default: issue date + the customer's terms
    assert record["currency"] == "EUR"  # default from the customer
    assert record["open_amount"] == "100.50"
    assert record["status"] == "overdue"  # 31 March 2026 has passed
    assert record["version"] == 1 and record["created_by"] == "admin"

    fetched = client.get(url)
    assert js(fetched, 200) == record
    assert fetched.headers["ETag"] == '"1"'

    changed = js(client.patch(url, json={"amount": "80", "version": 1}), 200)
    assert changed["amount"] == "80.00" and changed["open_amount"] == "80.00"
    assert changed["version"] == 2 and changed["description"] == "March"

    etag = client.get(url).headers["ETag"]
    whole = invoice_body(acme["id"], amount="75", currency="EUR")
    replaced = js(client.put(url, json=whole, headers={"If-Match": etag}), 200)
    assert replaced["amount"] == "75.00"
    assert replaced["description"] is None and replaced["due_date"] is None  # PUT empties
    assert replaced["version"] == 3

    assert client.delete(url, headers={"If-Match": '"3"'}).status_code == 204
    js(client.get(url), 404)


def test_money_is_a_decimal_string_and_a_json_number_is_refused(client, login, acme):
    """The document types money as a decimal string: a JSON number (0.1, or the float sum
    0.30000000000000004) is refused with a message, never rounded quietly."""
    login("clerk")
    for number in ("0.1", "100", "0.30000000000000004"):
        raw = (
            f'{{"number": "N-1", "customer": {acme["id"]}, "issue_date": "2026-03-01", '
            f'"amount": {number}}}'
        )
        body = js(client.post(INVOICES, data=raw, content_type="application/json"), 422)
        if number.startswith("0.3"):  # the engine's own words: it would refuse the string too
            assert body["fields"] == {"amount": "has more than 4 decimal places"}
        else:
            assert body["fields"] == {
                "amount": 'must be a decimal string such as "100.50" (not a JSON number)'
            }
    one = js(client.post(INVOICES, json=invoice_body(acme["id"], "N-1", "0.10")), 201)
    two = js(client.post(INVOICES, json=invoice_body(acme["id"], "N-2", "0.20")), 201)
    assert (one["amount"], two["amount"]) == ("0.10", "0.20")
    customer = js(client.get(f"{CUSTOMERS}/{acme['id']}"), 200)
    assert customer["balance"] == "0.30"  # not 0.30000000000000004
    too_fine = js(client.post(INVOICES, json=invoice_body(acme["id"], "N-3", "0.12345")), 422)
    assert too_fine["fields"] == {"amount": "has more than 4 decimal places"}
    below = js(client.post(INVOICES, json=invoice_body(acme["id"], "N-3", "-1")), 422)
    assert below["fields"] == {"amount": "must be at least 0"}


def test_system_and_computed_fields_sent_back_are_ignored(client, login, acme):
    login("clerk")
    record = js(client.get(f"{CUSTOMERS}/{acme['id']}"), 200)
    record |= {"phone": "+1 555 0100", "balance": "999", "created_by": "mallory", "id": 77}
    updated = js(client.put(f"{CUSTOMERS}/{acme['id']}", json=record), 200)
    assert updated["id"] == acme["id"] and updated["balance"] == "0.00"
    assert updated["phone"] == "+1 555 0100" and updated["created_by"] == "tester"


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "abc", "is not a number"),
        ("issue_date", "2026-13-01", "is not a date"),
        ("amount", "-5", "must be at least 0"),
        ("amount", True, "is not a number"),
        ("number", ["x"], "must be text"),
    ],
)
def test_bad_values_answer_422_naming_the_field(client, login, acme, field, value, message):
    login("clerk")
    body = js(client.post(INVOICES, json=invoice_body(acme["id"]) | {field: value}), 422)
    assert message in body["fields"][field]
    assert field in body["error"]
    assert js(client.get(INVOICES), 200)["data"] == []  # nothing written


def test_missing_required_and_unknown_fields_are_named(client, login):
    login("clerk")
    body = js(client.post(INVOICES, json={"colour": "red"}), 422)
    assert body["fields"]["colour"] == "invoice has no field 'colour'"
    body = js(client.post(INVOICES, json={}), 422)
    assert {"number", "customer", "issue_date", "amount"} <= set(body["fields"])


def test_record_level_check_and_unique_messages(client, login, acme):
    """Values that each fit the document, refused by the app's rules or by stored
    records: a conflict (409), not a request the document forbids (422)."""
    login("clerk")
    bad = invoice_body(acme["id"], due_date="2026-02-01")
    body = js(client.post(INVOICES, json=bad), 409)
    assert body["fields"]["due_date"] == "The due date cannot be before the issue date"
    body = js(client.post(CUSTOMERS, json={"name": "ACME"}), 409)
    assert "already used" in body["fields"]["name"]
    body = js(client.post(INVOICES, json=invoice_body(999)), 409)
    assert body["fields"]["customer"] == "there is no customer #999"


def test_update_validation_names_the_field(client, login, acme):
    login("clerk")
    url = f"{CUSTOMERS}/{acme['id']}"
    body = js(client.patch(url, json={"version": 1, "payment_terms_days": "soon"}), 422)
    assert body["fields"] == {"payment_terms_days": "is not a whole number"}
    assert js(client.get(url), 200)["version"] == 1


# -- versions -------------------------------------------------------------------------------


def test_stale_version_is_409_and_says_so(client, login, acme):
    login("clerk")
    url = f"{CUSTOMERS}/{acme['id']}"
    js(client.patch(url, json={"version": 1, "phone": "+1 555 0101"}), 200)
    body = js(client.patch(url, json={"version": 1, "phone": "+1 555 0102"}), 409)
    assert "changed by someone else" in body["error"]
    assert body["version"] == 2 and body["fields"] == {"version": "is stale"}
    js(client.put(url, json={"name": "ACME", "currency": "EUR"}, headers={"If-Match": '"1"'}), 409)
    assert js(client.get(url), 200)["phone"] == "+1 555 0101"


def test_updates_and_deletes_must_name_a_version(client, login, acme):
    login("admin")
    url = f"{CUSTOMERS}/{acme['id']}"
    body = js(client.patch(url, json={"phone": "+1 555 0103"}), 428)
    assert body["fields"] == {"version": "is required"}
    js(client.delete(url), 428)
    js(client.patch(url, json={"version": "one"}), 422)
    huge = '{"version": 1e999999999}'
    js(client.patch(url, data=huge, content_type="application/json"), 422)
    js(client.patch(url, json={"phone": "+1 555"}, headers={"If-Match": "yesterday"}), 400)
    js(client.patch(url, json={"version": 2}, headers={"If-Match": '"1"'}), 409)  # disagree
    js(client.patch(url, json={}, headers={"If-Match": '"' + "9" * 5000 + '"'}), 400)
    # If-Match: * is an explicit "whatever the version".
    js(client.patch(url, json={"phone": "+1 555 0104"}, headers={"If-Match": "*"}), 200)
    js(client.delete(f"{url}?version=1"), 409)
    assert client.delete(f"{url}?version=2").status_code == 204


def test_deleting_a_referenced_record_is_409_with_the_reason(client, login, acme):
    login("admin")
    js(client.post(INVOICES, json=invoice_body(acme["id"])), 201)
    body = js(client.delete(f"{CUSTOMERS}/{acme['id']}?version=1"), 409)
    assert body["error"] == "cannot delete: 1 invoice refers to it; delete or move them first"
    js(client.get(f"{CUSTOMERS}/{acme['id']}"), 200)


# -- lists ----------------------------------------------------------------------------------


@pytest.fixture
def invoices(repo, acme):
    other = repo.create("receivables.customer", {"name": "Globex", "currency": "USD"})
    rows = []
    for i in range(7):
        customer = acme if i % 2 == 0 else other
        rows.append(
            repo.create(
                "receivables.invoice",
                {
                    "number": f"INV-{i:03}",
                    "customer": customer["id"],
                    "issue_date": f"2026-01-{i + 10}",
                    "amount": f"{(i + 1) * 100}.25",
                    "description": "rent" if i < 3 else "hardware",
                },
            )
        )
    return rows


def numbers(body: dict) -> list[str]:
    return [r["number"] for r in body["data"]]


def test_list_filters_search_and_sort(client, login, acme, invoices):
    login("viewer")
    body = js(client.get(f"{INVOICES}?customer={acme['id']}&sort=number"), 200)
    assert numbers(body) == ["INV-000", "INV-002", "INV-004", "INV-006"]
    body = js(client.get(f"{INVOICES}?amount__gte=400.25&amount__lt=600&sort=-amount"), 200)
    assert numbers(body) == ["INV-004", "INV-003"]
    body = js(client.get(f"{INVOICES}?number__in=INV-001,INV-005&sort=-number"), 200)
    assert numbers(body) == ["INV-005", "INV-001"]
    body = js(client.get(f"{INVOICES}?q=RENT&currency=USD"), 200)
    assert numbers(body) == ["INV-001"]
    body = js(client.get(f"{INVOICES}?issue_date__lte=2026-01-11&description__contains=en"), 200)
    assert numbers(body) == ["INV-001", "INV-000"]  # default sort: -issue_date
    body = js(client.get(f"{INVOICES}?status=overdue&disputed=false&sort=number&limit=2"), 200)
    assert numbers(body) == ["INV-000", "INV-001"]


def test_list_pages_follow_next_until_null(client, login, invoices):
    login("viewer")
    seen, url, pages = [], f"{INVOICES}?sort=number&limit=3&currency__ne=JPY&count=true", 0
    first = js(client.get(url), 200)
    assert (first["count"], first["count_capped"]) == (7, False)
    while url:
        body = js(client.get(url), 200)
        assert body["limit"] == 3 and len(body["data"]) <= 3
        assert "count" not in body or pages == 0
        seen += numbers(body)
        pages += 1
        if body["has_more"]:
            parts = urlsplit(body["next"])
            assert parse_qs(parts.query)["currency__ne"] == ["JPY"]
            url = f"{parts.path}?{parts.query}"
        else:
            assert body["next"] is None
            url = None
    assert pages == 3
    assert seen == [f"INV-{i:03}" for i in range(7)]


def test_list_without_parameters_uses_the_entitys_defaults(client, login, invoices):
    login("viewer")
    body = js(client.get(INVOICES), 200)
    assert body["limit"] == 50 and body["offset"] == 0 and body["has_more"] is False
    assert body["next"] is None and "count" not in body
    assert numbers(body) == [f"INV-{i:03}" for i in reversed(range(7))]  # -issue_date


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("amount__gte=lots", "amount__gte"),
        ("colour=red", "colour"),
        ("amount__near=5", "amount"),
        ("sort=colour", "sort"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("count=maybe", "count"),
        ("amount__contains=1", "amount"),
        ("id=99999999999999999999999", "id"),
        ("number=a%00b", "number"),
    ],
)
def test_bad_list_parameters_answer_422_naming_them(client, login, invoices, query, field):
    login("viewer")
    body = js(client.get(f"{INVOICES}?{query}"), 422)
    assert field in body["fields"], body


# -- errors are JSON ------------------------------------------------------------------------


def test_unknown_apps_entities_and_ids_are_404_json(client, login, acme):
    login("viewer")
    assert js(client.get("/api/receivables/nothing"), 404)["error"]
    assert js(client.get("/api/nothing/customer/1"), 404)["error"]
    body = js(client.get(f"{CUSTOMERS}/{acme['id'] + 100}"), 404)
    assert body["error"] == f"Customer #{acme['id'] + 100} does not exist"
    js(client.get(f"{CUSTOMERS}/99999999999999999999999"), 404)
    js(client.get(f"{CUSTOMERS}/abc"), 404)
    js(client.get("/api/a/b/c/d"), 404)


def test_writes_to_missing_records_are_404(client, login):
    login("admin")
    js(client.patch(f"{CUSTOMERS}/42", json={"name": "X"}), 404)
    js(client.patch(f"{CUSTOMERS}/42", json={"name": "X", "version": 1}), 404)
    js(client.delete(f"{CUSTOMERS}/42?version=1"), 404)


def test_wrong_method_is_405_json(client, login, acme):
    login("admin")
    response = client.delete(CUSTOMERS)
    assert "POST" in js(response, 405)["error"]
    assert "GET" in response.headers["Allow"]
    js(client.post(f"{CUSTOMERS}/{acme['id']}", json={}), 405)


def test_form_encoded_and_text_writes_are_415(client, login, acme):
    login("admin")
    body = js(client.post(CUSTOMERS, data={"name": "Form Ltd"}), 415)
    assert "application/json" in body["error"]
    js(client.post(CUSTOMERS, data='{"name": "Text Ltd"}', content_type="text/plain"), 415)
    js(client.patch(f"{CUSTOMERS}/{acme['id']}", data={"version": "1", "name": "F"}), 415)
    assert js(client.get(CUSTOMERS), 200)["data"][0]["name"] == "ACME"  # nothing written


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": ',
        "[1, 2]",
        '"ACME"',
        "",
        '{"credit_limit": NaN}',
        '{"name": "\\ud800"}',
        '{"payment_terms_days": 1' + "0" * 5000 + "}",
        b'{"name": "\xff"}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_malformed_json_is_400(client, login, raw):
    login("admin")
    body = js(client.post(CUSTOMERS, data=raw, content_type="application/json"), 400)
    assert body["error"]


def test_json_with_charset_and_vendor_types_is_accepted(client, login):
    login("admin")
    for i, ctype in enumerate(["application/json; charset=utf-8", "application/merge-patch+json"]):
        js(client.post(CUSTOMERS, data=f'{{"name": "C{i}"}}', content_type=ctype), 201)


# -- bulk -----------------------------------------------------------------------------------


def test_bulk_create_is_all_or_nothing(client, login, acme):
    login("clerk")
    url = f"{INVOICES}/_bulk"
    good = [invoice_body(acme["id"], f"B-{i}") for i in range(3)]
    bad = [*good, invoice_body(acme["id"], "B-9", amount="x"), invoice_body(acme["id"], "B-0")]
    body = js(client.post(url, json={"records": bad}), 422)
    assert body["rows"] == {
        "3": {"amount": "is not a number"},
        "4": {"number": "B-0 is used twice (also in row 1)"},
    }
    assert js(client.get(INVOICES), 200)["data"] == []
    ids = js(client.post(url, json={"records": good}), 201)["ids"]
    assert len(ids) == 3
    assert numbers(js(client.get(f"{INVOICES}?sort=number"), 200)) == ["B-0", "B-1", "B-2"]
    js(client.post(url, json={"records": []}), 422)
    js(client.post(url, json={"records": [1]}), 422)
    js(client.post(url, json=good), 400)


# -- index and document ---------------------------------------------------------------------


def test_index_lists_apps_and_entities_with_their_urls(client, login):
    login("collector")
    body = js(client.get("/api/"), 200)
    assert body["openapi"] == "http://localhost/api/openapi.json"
    apps = {a["name"]: a for a in body["apps"]}
    assert set(apps) == {"receivables", "collections"}
    tasks = {e["name"]: e for e in apps["collections"]["entities"]}["collection_task"]
    assert tasks["url"] == "http://localhost/api/collections/collection_task"
    assert tasks["allowed"] == ["read", "create", "update"]
    invoice = {e["name"]: e for e in apps["receivables"]["entities"]}["invoice"]
    assert invoice["allowed"] == ["read"]


def test_openapi_document_is_served(client, login):
    login("viewer")
    doc = js(client.get("/api/openapi.json"), 200)
    assert doc["openapi"].startswith("3.1")
    assert "/api/receivables/invoice/{id}" in doc["paths"]


def test_fields_named_like_list_parameters_filter_with_eq(tmp_path):
    """A field called `sort` is still filterable: `sort__eq=`; plain `sort=` sorts."""
    from engine.auth import add_user
    from web import create_app

    (tmp_path / "shop.yaml").write_text(
        "app: shop\n"
        "entities:\n"
        "  shelf:\n"
        "    fields:\n"
        "      name: {type: string, required: true}\n"
        "      sort: {type: integer}\n"
    )
    shop = Database(load_apps([tmp_path]), f"sqlite:///{tmp_path / 'shop.db'}")
    shop.migrate()
    shop.dispose()
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
            "APPS_PATH": str(tmp_path),
            "SECRET_KEY": "test",
            "TESTING": True,
        }
    )
    db = app.extensions["formwork"].db
    add_user(db, "clerk", "clerk-pass", "clerk")
    repo = db.repository(Principal.system("tester"))
    for name, sort in [("a", 2), ("b", 1), ("c", 2)]:
        repo.create("shop.shelf", {"name": name, "sort": sort})
    client = app.test_client()
    url = "/api/shop/shelf?sort__eq=2&sort=-name"
    body = js(client.get(url, headers=basic("clerk")), 200)
    assert [r["name"] for r in body["data"]] == ["c", "a"]
    doc = js(client.get("/api/openapi.json", headers=basic("clerk")), 200)
    names = {p["name"] for p in doc["paths"]["/api/shop/shelf"]["get"]["parameters"]}
    assert "sort__eq" in names and "sort__gte" in names
    db.dispose()


def test_fields_fixed_after_creation_are_ignored_on_update_whatever_is_sent(client, repo, acme):
    # The document says so ("Ignored: the server sets this value"); schemathesis sent
    # `"number": "1"` to an instalment and got a 422 for a value it was told was ignored.
    terms = repo.create("receivables.payment_terms", {"name": "half and half"})
    for percent, days in (("50", 30), ("50", 60)):
        repo.create(
            "receivables.payment_terms_line",
            {"payment_terms": terms["id"], "percent": percent, "days": days},
        )
    repo.create(
        "receivables.invoice", invoice_body(acme["id"], amount="100", payment_terms=terms["id"])
    )
    first = repo.query("receivables.instalment", sort="number").rows[0]
    url = f"/api/receivables/instalment/{first['id']}"
    change = {"version": first["version"], "number": "1", "amount": {}, "open_amount": "x"}
    patched = js(client.patch(url, json=change, headers=basic("admin")), 200)
    assert (patched["number"], patched["amount"]) == (1, "50.00")
