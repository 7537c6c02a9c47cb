"""The OpenAPI document: valid OpenAPI 3.1, complete, and true to what the API answers."""

from __future__ import annotations

import base64

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from engine.appdef import AppSet
from engine.openapi import IGNORED, LIST_PARAMS, build_openapi, filter_ops
from engine.permissions import Principal


@pytest.fixture(scope="module")
def doc(appset: AppSet) -> dict:
    return build_openapi(appset)


def test_document_is_valid_openapi_3_1(doc):
    validate(doc)  # raises with the offending path when the document is not valid
    assert doc["openapi"] == "3.1.0"


def test_every_entity_has_schemas_and_every_route(appset, doc):
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    for entity in appset.entities():
        name, base = entity.qualname, f"/api/{entity.app}/{entity.name}"
        for suffix in ("", ".create", ".replace", ".patch", ".page", ".bulk"):
            assert f"{name}{suffix}" in schemas
        assert set(paths[base]) == {"get", "post"}
        assert {"get", "put", "patch", "delete"} <= set(paths[f"{base}/{{id}}"])
        assert set(paths[f"{base}/_bulk"]) == {"post"}
        assert set(schemas[name]["properties"]) == {
            "id", "version", "created_at", "updated_at", "created_by", "updated_by",
            *entity.fields,
        }  # fmt: skip
    assert {"/api/", "/api/openapi.json"} <= set(paths)


def test_operation_ids_are_unique(doc):
    ids = [op["operationId"] for item in doc["paths"].values() for op in _operations(item)]
    assert len(ids) == len(set(ids))


def _operations(item: dict) -> list[dict]:
    return [v for k, v in item.items() if k in ("get", "put", "post", "patch", "delete")]


def test_field_schemas_follow_the_definitions(doc):
    schemas = doc["components"]["schemas"]
    invoice = schemas["receivables.invoice"]["properties"]
    assert invoice["id"]["readOnly"] and invoice["created_at"]["readOnly"]
    assert invoice["open_amount"]["readOnly"] and invoice["status"]["readOnly"]
    assert "readOnly" not in invoice["amount"]
    assert invoice["amount"]["type"] == "string"  # money is text, to stay exact
    assert invoice["issue_date"]["format"] == "date"
    assert invoice["description"]["type"] == ["string", "null"]
    assert invoice["customer"]["type"] == "integer"
    assert "receivables.customer" in invoice["customer"]["description"]
    statuses = ["open", "partial", "overdue", "disputed", "paid", "written_off", None]
    assert invoice["status"]["enum"] == statuses  # listed outcomes
    customer = schemas["receivables.customer"]["properties"]
    assert customer["credit_status"]["enum"] == ["ok", "watch", "hold", "prepay", None]
    assert customer["payment_terms_days"]["minimum"] == 0
    assert customer["payment_terms_days"]["maximum"] == 365
    assert customer["name"]["maxLength"] == 200
    task = schemas["collections.collection_task"]["properties"]
    assert task["priority"]["enum"] == ["low", "normal", "high", "urgent", None]


def test_write_schemas_require_what_has_no_default(doc):
    schemas = doc["components"]["schemas"]
    create = schemas["receivables.invoice.create"]
    assert create["required"] == ["number", "customer", "issue_date", "amount"]
    assert create["properties"]["open_amount"] == IGNORED  # computed: sent back, ignored
    assert create["properties"]["amount"]["type"] == "string"  # never a float
    assert create["additionalProperties"] is False
    replace = schemas["receivables.invoice.replace"]
    assert "currency" in replace["required"] and "version" in replace["properties"]
    assert "required" not in schemas["receivables.invoice.patch"]


def test_list_parameters_cover_paging_search_sort_and_filters(appset, doc):
    entity = appset.entity("receivables.invoice")
    params = {p["name"]: p for p in doc["paths"]["/api/receivables/invoice"]["get"]["parameters"]}
    assert set(LIST_PARAMS) <= set(params)
    assert params["limit"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 500, "default": 50,
    }  # fmt: skip
    assert params["sort"]["schema"]["default"] == "-issue_date,-id"
    for name in entity.list_filters:
        assert name in params and f"{name}__in" in params
    assert {"amount__gte", "due_date__lt", "number__contains", "disputed"} <= set(params)
    assert "disputed__lt" not in params and "amount__contains" not in params
    assert params["customer__isnull"]["schema"] == {"type": "boolean"}
    assert filter_ops(entity.fields["number"]) == (
        "eq", "ne", "contains", "startswith", "in", "isnull",
    )  # fmt: skip


def test_errors_and_security_are_described(doc):
    components = doc["components"]
    assert components["schemas"]["Error"]["required"] == ["error"]
    patch = doc["paths"]["/api/receivables/invoice/{id}"]["patch"]
    assert {"401", "403", "404", "409", "415", "422", "428"} <= set(patch["responses"])
    assert {"401", "429"} <= set(doc["paths"]["/api/"]["get"]["responses"])
    assert components["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert components["securitySchemes"]["sessionCookie"]["in"] == "cookie"
    assert doc["security"] == [{"bearerAuth": []}, {"basicAuth": []}, {"sessionCookie": []}]


def test_served_document_matches_what_the_api_answers(client, appset, doc):
    """Records, pages and errors from the live API validate against the document's schemas."""
    headers = {"Authorization": "Basic " + base64.b64encode(b"clerk:clerk-pass").decode()}
    served = client.get("/api/openapi.json", headers=headers).get_json()
    clerk = build_openapi(appset, principal=Principal("clerk", "clerk"))
    assert served["paths"] == clerk["paths"]
    # A clerk may not delete: those operations are left out, the rest is the full document.
    assert "delete" in doc["paths"]["/api/receivables/invoice/{id}"]
    assert "delete" not in served["paths"]["/api/receivables/invoice/{id}"]
    validate(served)
    assert served["components"]["securitySchemes"]["sessionCookie"]["name"] == "session"
    schemas = served["components"]["schemas"]

    def check(schema_name: str, instance: object) -> None:
        # '#/components/schemas/...' refs resolve inside a schema that carries the components.
        schema = {**schemas[schema_name], "components": {"schemas": schemas}}
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        assert not errors, [e.message for e in errors]

    customer = {"name": "ACME", "credit_limit": "1000", "credit_status": "ok"}
    check("receivables.customer.create", customer)
    created = client.post("/api/receivables/customer", json=customer, headers=headers)
    check("receivables.customer", created.get_json())
    invoice = {"number": "I-1", "customer": created.get_json()["id"], "issue_date": "2026-01-05"}
    invoice["amount"] = "12.30"
    check("receivables.invoice.create", invoice)
    record = client.post("/api/receivables/invoice", json=invoice, headers=headers).get_json()
    check("receivables.invoice", record)
    page = client.get("/api/receivables/invoice?count=true", headers=headers).get_json()
    check("receivables.invoice.page", page)
    error = client.post("/api/receivables/invoice", json={"amount": "x"}, headers=headers)
    assert error.status_code == 422
    check("Error", error.get_json())
    index = client.get("/api/", headers=headers).get_json()
    check("Index", index)
    # And a body the document forbids is one the API refuses.
    bad = {**invoice, "number": "I-2", "amount": "twelve"}
    with pytest.raises(AssertionError):
        check("receivables.invoice.create", bad)
    answer = client.post("/api/receivables/invoice", json=bad, headers=headers)
    assert answer.status_code == 422
