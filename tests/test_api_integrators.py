"""What got in the way of an integrator with a client generated from /api/openapi.json, each
with the probe's input: the document now states the rules the server enforces, and the
server refuses what the document forbids instead of reading it leniently."""

from __future__ import annotations

import jsonschema
import pytest

from engine.openapi import NOT_BLANK, build_openapi

INVOICES = "/api/receivables/invoice"
CUSTOMERS = "/api/receivables/customer"


@pytest.fixture(scope="module")
def doc(appset):
    return build_openapi(appset)


@pytest.fixture
def acme(app):
    from engine.permissions import Principal

    repo = app.extensions["formwork"].db.repository(Principal.system("tester"))
    return repo.create("receivables.customer", {"name": "ACME", "currency": "USD"})


def test_isnull_takes_a_boolean_and_banana_is_a_422(login, client, acme):
    login("clerk")
    refused = client.get(f"{CUSTOMERS}?email__isnull=banana")  # the probe read it as true
    assert refused.status_code == 422
    assert refused.json["fields"] == {"email__isnull": "must be true or false"}
    for other in ("yes", "1", "on"):  # true in the engine's eyes, but not the document's
        assert client.get(f"{CUSTOMERS}?email__isnull={other}").status_code == 422
    assert len(client.get(f"{CUSTOMERS}?email__isnull=true").json["data"]) == 1
    assert client.get(f"{CUSTOMERS}?email__isnull=false").json["data"] == []


def test_the_engine_refuses_a_non_boolean_isnull_for_every_interface(appset):
    from engine.errors import ValidationError
    from engine.storage.query import Filter, coerce_filter

    customer = appset.entity("receivables.customer")
    with pytest.raises(ValidationError) as raised:
        coerce_filter(customer, Filter("email", "isnull", "banana"))
    assert raised.value.errors == {"email": "'isnull' takes true or false, not 'banana'"}
    assert coerce_filter(customer, Filter("email", "isnull", "yes")).value is True


def test_an_empty_currency_is_refused_and_only_an_omitted_one_takes_the_default(login, client):
    login("clerk")
    refused = client.post(CUSTOMERS, json={"name": "Blank Ltd", "currency": ""})
    assert refused.status_code == 422  # the probe: it silently became EUR
    assert refused.json["fields"] == {"currency": "is not an ISO 4217 currency code"}
    omitted = client.post(CUSTOMERS, json={"name": "Default Ltd"})
    assert omitted.status_code == 201 and omitted.json["currency"] == "EUR"
    record = omitted.json
    patched = client.patch(
        f"{CUSTOMERS}/{record['id']}", json={"currency": "", "version": record["version"]}
    )
    assert patched.status_code == 422


def test_money_is_a_decimal_string_in_every_write_schema(doc):
    schemas = doc["components"]["schemas"]
    for suffix in ("create", "replace", "patch"):
        amount = schemas[f"receivables.invoice.{suffix}"]["properties"]["amount"]
        assert amount["type"] == "string"  # the probe: string | number
        valid = jsonschema.Draft202012Validator(amount).is_valid
        assert valid("10.50") and valid("0") and valid("-0")  # places stored; min: 0
        assert not valid("-5") and not valid("-0.01") and not valid("1.23456")
        assert not valid(10.5) and not valid("1e3") and not valid("\u0661\u0660")  # Arabic-Indic 10
    assert schemas["receivables.invoice"]["properties"]["amount"]["pattern"].startswith("^-?")


def test_the_schema_states_the_rules_the_server_enforces(doc):
    create = doc["components"]["schemas"]["receivables.invoice.create"]["properties"]
    assert create["number"]["minLength"] == 1 and create["number"]["pattern"] == NOT_BLANK
    currency = doc["components"]["schemas"]["receivables.customer.create"]["properties"]["currency"]
    assert {"EUR", "JPY", "KWD", "CNY"} <= set(currency["enum"])  # the ISO 4217 list
    assert "XYZ" not in currency["enum"]
    terms = doc["components"]["schemas"]["receivables.customer.create"]["properties"][
        "payment_terms_days"
    ]
    assert (terms["minimum"], terms["maximum"]) == (0, 365)


def test_summaries_read_as_english_and_the_document_names_its_server(doc, login, client):
    summaries = [
        op["summary"] for item in doc["paths"].values() for op in item.values() if "summary" in op
    ]
    assert "Read an invoice" in summaries and "Create an allocation" in summaries
    assert "Read a customer" in summaries
    assert not [s for s in summaries if " a a" in s or " a i" in s or " a e" in s]
    login("clerk")
    served = client.get("/api/openapi.json").json
    assert served["servers"] == [
        {"url": "http://localhost/", "description": "The server that serves this document"}
    ]


def test_a_client_following_the_document_gets_what_it_describes(login, client, acme, doc):
    """The requests a generated client makes: bodies valid by the write schemas are taken,
    answers validate against the read schemas, and a body the schema forbids is a 422."""
    login("clerk")
    schemas = doc["components"]["schemas"]
    resolver = {"components": doc["components"]}

    def check(instance, name):
        schema = {**schemas[name], "components": resolver["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    body = {
        "number": "INV-9",
        "customer": acme["id"],
        "issue_date": "2026-03-01",
        "amount": "120.50",
        "currency": "USD",
    }
    check(body, "receivables.invoice.create")
    created = client.post(INVOICES, json=body)
    assert created.status_code == 201
    check(created.json, "receivables.invoice")
    patch = {"version": created.json["version"], "amount": "99.99"}
    check(patch, "receivables.invoice.patch")
    changed = client.patch(f"{INVOICES}/{created.json['id']}", json=patch)
    assert changed.status_code == 200
    check(changed.json, "receivables.invoice")
    page = client.get(f"{INVOICES}?amount__gte=50")
    check(page.json, "receivables.invoice.page")
    for forbidden in ({"amount": 99.99}, {"currency": "usd1"}, {"number": " "}):
        with pytest.raises(jsonschema.ValidationError):
            check({**patch, **forbidden}, "receivables.invoice.patch")
        latest = client.get(f"{INVOICES}/{created.json['id']}").json["version"]
        refused = client.patch(
            f"{INVOICES}/{created.json['id']}", json={**patch, **forbidden, "version": latest}
        )
        assert refused.status_code == 422, forbidden
