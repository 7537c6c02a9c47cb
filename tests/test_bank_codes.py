"""`iban` and `bic` are one class each in engine.fieldtypes, and nothing else: loading,
search, filters, bounds, import keys, forms and the OpenAPI document all follow from the
traits the classes declare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from engine.appdef import AppSet, load_apps
from engine.errors import ValidationError
from engine.fieldtypes import FIELD_TYPES
from engine.forms.listing import filter_controls
from engine.forms.parse import parse_form
from engine.forms.spec import form_spec, record_values
from engine.openapi import build_openapi, filter_ops
from engine.recordio import import_records, key_field
from engine.storage import Filter, Repository

APP = """
app: bank
entities:
  account:
    display: "{holder}"
    fields:
      holder: {type: string, required: true}
      iban: {type: iban, required: true, unique: true}
      bic: {type: bic}
    list: {filters: [bic]}
    search: [iban, holder]
  payment:
    fields:
      account: {type: ref, to: account, required: true}
      amount: {type: decimal}
"""
IBAN = "DE89370400440532013000"
IBAN_TYPED = " de89 3704 0044 0532 0130 00 "  # as people copy it from a letter
OTHER_IBAN = "GB82WEST12345698765432"


@pytest.fixture
def bank(tmp_path: Path) -> AppSet:
    (tmp_path / "bank.yaml").write_text(APP, encoding="utf-8")
    return load_apps([tmp_path])


@pytest.fixture
def repo(bank: AppSet, repository_for: Callable[[AppSet], Repository]) -> Repository:
    return repository_for(bank)


def test_the_types_are_registered_and_in_the_published_schema() -> None:
    from engine.appdef import app_schema

    assert {"iban", "bic"} <= set(FIELD_TYPES)
    assert {"iban", "bic"} <= set(app_schema()["$defs"]["field_type"]["enum"])


def test_values_are_checked_and_normalised(repo: Repository) -> None:
    created = repo.create("bank.account", {"holder": "Acme", "iban": IBAN_TYPED, "bic": "deutdeff"})
    assert (created["iban"], created["bic"]) == (IBAN, "DEUTDEFF")
    with pytest.raises(ValidationError) as bad:
        repo.create("bank.account", {"holder": "Typo", "iban": IBAN[:-1] + "1", "bic": "DEUTXXFF"})
    assert bad.value.errors == {
        "iban": "is not an IBAN: its check digits do not match (a typing error?)",
        "bic": "is not a BIC (8 or 11 letters and digits, e.g. DEUTDEFF)",
    }


def test_search_and_filters(bank: AppSet, repo: Repository) -> None:
    repo.create("bank.account", {"holder": "Acme", "iban": IBAN, "bic": "DEUTDEFF"})
    repo.create("bank.account", {"holder": "Brit", "iban": OTHER_IBAN, "bic": "NWBKGB2L"})
    holders = lambda page: [r["holder"] for r in page.rows]  # noqa: E731
    assert holders(repo.query("bank.account", search="gb82west")) == ["Brit"]
    # An equality filter reads the value as the type does: spaces and case do not matter.
    assert holders(repo.query("bank.account", [Filter("iban", "eq", IBAN_TYPED)])) == ["Acme"]
    assert holders(repo.query("bank.account", [Filter("iban", "startswith", "DE89")])) == ["Acme"]
    with pytest.raises(ValidationError):
        repo.query("bank.account", [Filter("iban", "eq", "DE00 0000")])
    account = bank.entity("bank.account")
    (control,) = filter_controls(account)
    assert (control.field, control.kind) == ("bic", "text")
    assert filter_ops(account.fields["iban"]) == ("eq", "ne", "contains", "startswith", "in",
                                                  "isnull")  # fmt: skip


def test_import_finds_the_account_by_its_iban(
    bank: AppSet, repo: Repository, tmp_path: Path
) -> None:
    acme = repo.create("bank.account", {"holder": "Acme", "iban": IBAN})
    assert key_field(bank.entity("bank.account")) == bank.entity("bank.account").fields["iban"]
    csv = tmp_path / "payments.csv"
    csv.write_text(f"account,amount\n{IBAN},10.5\n", encoding="utf-8")
    assert import_records(repo, "bank.payment", csv) == 1
    (new,) = repo.query("bank.payment").rows
    assert new["account"] == acme["id"]


def test_forms_show_the_iban_grouped_and_read_it_back(bank: AppSet) -> None:
    account = bank.entity("bank.account")
    spec = form_spec(account)
    iban = spec.field("iban")
    assert iban is not None and iban.widget == "text" and iban.required
    shown = record_values(account, {"holder": "Acme", "iban": IBAN, "bic": None})
    assert shown["iban"] == "DE89 3704 0044 0532 0130 00"
    values, errors = parse_form(account, {"holder": "Acme", **shown, "bic": "deut deff"})
    assert errors == {} and values["iban"] == IBAN and values["bic"] == "DEUTDEFF"
    _, errors = parse_form(account, {"holder": "Acme", "iban": "DE89 0000", "bic": ""})
    assert errors == {"iban": "is not an IBAN"}
    assert FIELD_TYPES["iban"].format(IBAN, account.fields["iban"]) == "DE89 3704 0044 0532 0130 00"


def test_openapi_describes_them_with_their_bounds(bank: AppSet) -> None:
    document = build_openapi(bank)
    props = document["components"]["schemas"]["bank.account"]["properties"]
    iban, bic = props["iban"], props["bic"]
    assert iban["maxLength"] == 34 and bic["maxLength"] == 11
    assert jsonschema.Draft202012Validator(iban).is_valid(IBAN)
    assert not jsonschema.Draft202012Validator(iban).is_valid(IBAN_TYPED)
    assert jsonschema.Draft202012Validator(bic).is_valid("DEUTDEFF500")
    assert not jsonschema.Draft202012Validator(bic).is_valid("DEUTDEFF5")
