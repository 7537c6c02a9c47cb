"""Bounds on what one request may store: the probe sent a 20 MB text field, which was stored
and copied into the audit row. Text fields have a default length limit, and bodies beyond
MAX_CONTENT_LENGTH are refused with 413 (JSON for the API, a page for the UI)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.appdef.model import Field
from engine.auth import add_user
from engine.errors import Location
from engine.fieldtypes import FIELD_TYPES
from engine.permissions import Principal

APPS = Path(__file__).resolve().parent.parent / "apps"
BASIC_ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}
TEST_CONFIG = {"APPS_PATH": str(APPS), "SECRET_KEY": "test", "TESTING": True}
PROBE_TEXT = "x" * (20 * 1024 * 1024)  # the probe's 20 MB text field


def text_field(**options) -> Field:
    return Field(
        name="notes",
        type=FIELD_TYPES["text"],
        location=Location("t.yaml"),
        label="Notes",
        **options,
    )


def test_a_text_field_holds_ten_thousand_characters_unless_its_max_says_otherwise():
    text = FIELD_TYPES["text"]
    assert text.default_max_length == 10_000
    assert text.validate("x" * 10_000, text_field()) is None
    assert text.validate("x" * 10_001, text_field()) == "must be at most 10000 characters"
    assert text.validate(PROBE_TEXT, text_field()) == "must be at most 10000 characters"
    assert text.validate("x" * 50_000, text_field(max_length=50_000)) is None
    assert text.validate("x" * 50_001, text_field(max_length=50_000)) is not None
    assert text.validate("x" * 11, text_field(max_length=10)) == "must be at most 10 characters"


def test_a_text_fields_min_is_checked_too():
    text = FIELD_TYPES["text"]
    assert text.validate("abc", text_field(min_length=4)) == "must be at least 4 characters"
    assert text.validate("abcd", text_field(min_length=4)) is None


@pytest.mark.parametrize("name", ["string", "email", "phone", "url"])
def test_other_text_types_keep_their_limit_of_255(name):
    field = Field(name="f", type=FIELD_TYPES[name], location=Location("t.yaml"), label="F")
    assert FIELD_TYPES[name].validate("x" * 255, field) is None
    assert FIELD_TYPES[name].validate("x" * 256, field) == "must be at most 255 characters"


# -- whole requests ---------------------------------------------------------------------------


def _audit_rows(app) -> int:
    db = app.extensions["formwork"].db
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.system("audit"))).scalar()


@pytest.fixture
def customer(app):
    return (
        app.extensions["formwork"]
        .db.repository(Principal.system("t"))
        .create("receivables.customer", {"name": "ACME"})
    )


def test_the_probes_20_mb_text_through_the_api_is_a_413_in_json(app, client, customer):
    before = _audit_rows(app)
    body = {"number": "I-1", "customer": customer["id"], "issue_date": "2026-01-02"}
    response = client.post(
        "/api/receivables/invoice",
        json={**body, "amount": "10", "description": PROBE_TEXT},
        headers=BASIC_ADMIN,
    )
    assert response.status_code == 413
    assert response.is_json
    assert response.json["error"] == (
        "the request is larger than 4,194,304 bytes; send less at a time"
    )
    assert _audit_rows(app) == before
    # Under the request limit, the field's own limit still refuses it, by name.
    response = client.post(
        "/api/receivables/invoice",
        json={**body, "amount": "10", "description": "x" * 10_001},
        headers=BASIC_ADMIN,
    )
    assert response.status_code == 422
    assert response.json["fields"] == {"description": "must be at most 10000 characters"}
    assert _audit_rows(app) == before


def test_the_probes_20_mb_text_through_a_form_is_a_readable_413_page(app, login, customer):
    client = login("clerk")
    before = _audit_rows(app)
    form = {
        "number": "I-1",
        "customer": str(customer["id"]),
        "issue_date": "2026-01-02",
        "amount": "10",
        "currency": "EUR",
        "description": PROBE_TEXT,
    }
    response = client.post("/receivables/invoice/new", data=form)
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1>Too large</h1>" in html
    assert "larger than 4,194,304 bytes, so nothing was saved" in html
    assert _audit_rows(app) == before


def test_the_request_limit_is_configurable(db, database_url):  # db: migrated
    from web import create_app

    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "MAX_CONTENT_LENGTH": 1000})
    db = app.extensions["formwork"].db
    add_user(db, "admin", "admin-pass", "admin")
    try:
        response = app.test_client().post(
            "/api/receivables/customer", json={"name": "x" * 2000}, headers=BASIC_ADMIN
        )
        assert response.status_code == 413
        assert "larger than 1,000 bytes" in response.json["error"]
    finally:
        db.dispose()


def test_the_document_gives_text_its_limit_and_writes_their_413(appset):
    from engine.openapi import build_openapi

    doc = build_openapi(appset)
    schemas = doc["components"]["schemas"]
    assert schemas["receivables.invoice.create"]["properties"]["description"]["maxLength"] == 10_000
    for path in ("/api/receivables/invoice", "/api/receivables/invoice/_bulk"):
        assert "413" in doc["paths"][path]["post"]["responses"]
    for method in ("put", "patch"):
        assert "413" in doc["paths"]["/api/receivables/invoice/{id}"][method]["responses"]
