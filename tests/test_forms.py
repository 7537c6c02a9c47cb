"""engine.forms: form specifications from the definitions, and parsing what people type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.forms import (
    audit_changes,
    error_sentence,
    filter_args,
    filter_controls,
    filters_from_args,
    form_spec,
    initial_values,
    parse_form,
    record_values,
    sentence,
)
from engine.storage import Filter


@pytest.fixture(scope="module")
def customer(appset):
    return appset.entity("receivables.customer")


@pytest.fixture(scope="module")
def invoice(appset):
    return appset.entity("receivables.invoice")


def parse_one(entity, name, text, locale="en_US", **kw):
    values, errors = parse_form(entity, {name: text}, locale, **kw)
    return values.get(name), errors.get(name)


# -- specifications ---------------------------------------------------------------------------


def test_spec_follows_the_sections_then_puts_computed_fields_last(invoice):
    spec = form_spec(invoice)
    assert [s.title for s in spec.sections] == ["Invoice", "Amount", "Calculated"]
    assert [f.name for f in spec.sections[0].fields] == [
        "number",
        "customer",
        "issue_date",
        "due_date",
    ]
    calculated = spec.sections[-1].fields
    assert [f.name for f in calculated] == [
        "paid_amount",
        "written_off_amount",
        "bad_debt_amount",
        "open_amount",
        "overdue_amount",
        "status",
    ]
    assert all(f.readonly and f.computed and f.widget == "readonly" for f in calculated)
    assert [f.name for f in spec.inputs] == [
        "number", "customer", "issue_date", "due_date",
        "currency", "amount", "payment_terms", "description", "disputed",
    ]  # fmt: skip


def test_spec_fields_carry_what_a_form_needs(invoice, customer):
    spec = form_spec(invoice)
    ref = spec.field("customer")
    assert (ref.widget, ref.ref, ref.required, ref.label) == (
        "ref",
        "receivables.customer",
        True,
        "Customer",
    )
    amount = spec.field("amount")
    assert (amount.widget, amount.type, amount.min) == ("money", "money", 0)
    status = form_spec(customer).field("credit_status")
    assert status.widget == "select"
    assert status.options == ("ok", "watch", "hold", "prepay")
    assert form_spec(customer).field("email").help == "Where statements and reminders go"
    assert form_spec(customer).field("balance").type == "money"


def test_a_default_makes_a_field_optional_when_creating_but_not_when_editing(invoice, customer):
    # currency is required with a default: blank on a new record means "use the default"
    assert form_spec(customer).field("currency").required is False
    assert form_spec(customer, editing=True).field("currency").required is True
    assert form_spec(invoice).field("due_date").help.startswith("Left empty")
    # a computed default with no help of its own gets a hint
    assert (
        form_spec(invoice).field("currency").help
        == "Left empty, it is filled in from the other fields."
    )


def test_fields_no_section_names_get_a_section_of_their_own(appset, customer):
    bank_line = appset.entity("receivables.bank_line")  # no sections at all
    spec = form_spec(bank_line)
    assert spec.sections[0].title == "Bank line"
    # in the order the YAML declares them
    assert [f.name for f in spec.sections[0].fields][:3] == list(bank_line.fields)[:3]
    # customer's sections skip nothing editable, so no "More" section appears
    assert [s.title for s in form_spec(customer).sections] == [
        *(s.title for s in customer.sections),
        "Calculated",
    ]


def test_initial_values_take_constant_defaults_and_given_values(invoice, customer):
    assert initial_values(customer) == {
        "currency": "EUR",
        "payment_terms_days": "30",
        "credit_status": "ok",
    }
    given = initial_values(invoice, {"customer": "3", "status": "paid", "nope": "x"})
    assert given == {"disputed": "", "customer": "3"}  # computed and unknown fields are ignored


def test_record_values_fill_an_edit_form(invoice):
    record = {
        "number": "INV-1",
        "customer": 3,
        "issue_date": dt.date(2026, 3, 14),
        "amount": Decimal("1234.50"),
        "disputed": True,
    }
    texts = record_values(invoice, record)
    assert texts["number"] == "INV-1"
    assert texts["customer"] == "3"
    assert texts["issue_date"] == "2026-03-14"
    assert texts["amount"] == "1234.50"
    assert texts["disputed"] == "on"
    assert texts["due_date"] == ""


# -- parsing per type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("1,234.50", "en_US", Decimal("1234.50")),
        ("1234.5", "en_US", Decimal("1234.5")),
        (" 12 ", "en_US", Decimal("12")),
        ("EUR 99.90", "en_US", Decimal("99.90")),
        ("1.234,50", "de_DE", Decimal("1234.50")),
        ("1234,5", "de_DE", Decimal("1234.5")),
    ],
)
def test_money_reads_the_locales_separators(invoice, text, locale, expected):
    value, error = parse_one(invoice, "amount", text, locale)
    assert error is None
    assert value == expected
    assert isinstance(value, Decimal)


@pytest.mark.parametrize(
    ("text", "locale", "message"),
    [
        ("12,x", "en_US", "is not a number"),
        ("abc", "en_US", "is not a number"),
        ("1.234,50", "en_US", "is not a number"),
        ("-1", "en_US", "must be at least 0"),
        ("1.23456", "en_US", "has more than 4 decimal places"),
        ("", "en_US", "is required"),
    ],
)
def test_money_messages(invoice, text, locale, message):
    value, error = parse_one(invoice, "amount", text, locale)
    assert value is None
    assert error == message


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("2026-03-14", "en_US"),
        ("3/14/2026", "en_US"),
        ("14.03.2026", "de_DE"),
        ("2026-03-14", "de_DE"),
    ],
)
def test_dates_read_iso_and_the_locales_format(invoice, text, locale):
    assert parse_one(invoice, "issue_date", text, locale) == (dt.date(2026, 3, 14), None)


@pytest.mark.parametrize("text", ["14th of March", "2026-02-30", "31/02/2026"])
def test_a_bad_date_says_how_to_write_one(invoice, text):
    assert parse_one(invoice, "issue_date", text) == (None, "is not a date (use YYYY-MM-DD)")


def test_datetime_is_timezone_aware_utc(appset):
    log = appset.entity("collections.contact_log")
    value, error = parse_one(log, "contacted_at", "2026-03-14T09:30")
    assert error is None
    assert value == dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)
    assert parse_one(log, "contacted_at", "yesterday")[1].startswith("is not a date and time")


def test_integers_take_thousands_separators_and_bounds(customer):
    assert parse_one(customer, "payment_terms_days", "45") == (45, None)
    assert parse_one(customer, "payment_terms_days", "1.5") == (None, "is not a whole number")
    assert parse_one(customer, "payment_terms_days", "400") == (None, "must be at most 365")
    assert parse_one(customer, "payment_terms_days", "-1") == (None, "must be at least 0")


def test_decimal_bounds(appset):
    rate = appset.entity("receivables.exchange_rate")
    assert parse_one(rate, "rate", "1.0850") == (Decimal("1.0850"), None)
    assert parse_one(rate, "rate", "0") == (None, "must be at least 0.000001")


def test_text_types(customer):
    assert parse_one(customer, "name", "  ACME Ltd  ") == ("ACME Ltd", None)
    assert parse_one(customer, "name", "x" * 201) == (None, "must be at most 200 characters")
    assert parse_one(customer, "email", "ar@acme.example") == ("ar@acme.example", None)
    assert parse_one(customer, "email", "not-an-address") == (None, "is not an e-mail address")
    assert parse_one(customer, "phone", "+49 30 1234567") == ("+49 30 1234567", None)
    assert parse_one(customer, "phone", "call me")[1].startswith("is not a phone number")
    assert parse_one(customer, "currency", "usd") == ("USD", None)
    assert parse_one(customer, "currency", "XYZ") == (
        None,
        "is not an ISO 4217 currency code",
    )


def test_choice_must_be_an_option(customer):
    assert parse_one(customer, "credit_status", "hold") == ("hold", None)
    assert parse_one(customer, "credit_status", "bogus") == (
        None,
        "must be one of: ok, watch, hold, prepay",
    )
    # blank with a default: left to the default on save
    assert parse_one(customer, "credit_status", "") == (None, None)


def test_a_checkbox_absent_from_the_form_is_false(invoice):
    values, errors = parse_form(invoice, {"number": "INV-1"})
    assert values["disputed"] is False
    assert "disputed" not in errors
    values, _ = parse_form(invoice, {"disputed": "on"})
    assert values["disputed"] is True


def test_ref_takes_an_id(invoice):
    assert parse_one(invoice, "customer", "3") == (3, None)
    assert parse_one(invoice, "customer", "three") == (None, "must be a record id")
    assert parse_one(invoice, "customer", "") == (None, "is required")


def test_a_name_typed_in_a_ref_search_but_never_picked_is_an_error(invoice):
    _, errors = parse_form(invoice, {"customer": "", "customer__text": "Acme"})
    assert (
        errors["customer"] == "“Acme” was not picked from the list: choose one of the suggestions"
    )
    values, errors = parse_form(invoice, {"customer": "7", "customer__text": "Acme"})
    assert values["customer"] == 7
    assert "customer" not in errors


def test_computed_fields_are_never_taken_from_a_form(invoice):
    values, errors = parse_form(invoice, {"open_amount": "5", "status": "paid", "paid_amount": "x"})
    assert not {"open_amount", "status", "paid_amount"} & (set(values) | set(errors))


def test_every_problem_is_reported_at_once(invoice):
    form = {"number": "", "customer": "", "issue_date": "soon", "amount": "12,x", "due_date": ""}
    values, errors = parse_form(invoice, form)
    assert errors == {
        "number": "is required",
        "customer": "is required",
        "issue_date": "is not a date (use YYYY-MM-DD)",
        "amount": "is not a number",
    }
    assert values == {"due_date": None, "disputed": False}


def test_editing_leaves_out_missing_fields_and_requires_defaulted_ones(customer):
    values, errors = parse_form(customer, {"name": "ACME", "currency": ""}, editing=True)
    assert errors == {"currency": "is required"}
    assert "email" not in values  # not in the form: the record keeps its value
    values, errors = parse_form(customer, {"name": "ACME", "currency": ""})
    assert errors == {}
    assert values == {"name": "ACME", "currency": None}  # the default fills it on save


# -- messages ---------------------------------------------------------------------------------


def test_messages_read_as_sentences(invoice):
    assert sentence("Amount", "is not a number") == "Amount is not a number"
    assert sentence("Amount", "must be at least 0.00") == "Amount must be at least 0.00"
    assert sentence("Customer", "there is no customer #9") == "There is no customer #9"
    assert error_sentence(invoice, "due_date", "The due date cannot be before the issue date") == (
        "The due date cannot be before the issue date"
    )
    assert error_sentence(invoice, "", "cannot delete: 2 invoices refer to it") == (
        "Cannot delete: 2 invoices refer to it"
    )
    assert error_sentence(invoice, "customer", "is required") == "Customer is required"


# -- lists ------------------------------------------------------------------------------------


def test_filter_controls_by_field_type(invoice, appset):
    controls = {c.field: c for c in filter_controls(invoice)}
    assert list(controls) == ["customer", "currency", "status", "disputed"]
    assert controls["customer"].kind == "ref"
    assert controls["customer"].ref == "receivables.customer"
    assert controls["disputed"].kind == "boolean"
    assert controls["currency"].kind == "text"
    # a computed choice lists its outcomes, so it filters like any choice
    assert (controls["status"].kind, controls["status"].options) == (
        "choice",
        ("open", "partial", "overdue", "disputed", "paid", "written_off"),
    )
    customer = appset.entity("receivables.customer")
    status = next(c for c in filter_controls(customer) if c.field == "credit_status")
    assert (status.kind, status.options) == ("choice", ("ok", "watch", "hold", "prepay"))
    task = appset.entity("collections.collection_task")
    assert [c.kind for c in filter_controls(task)] == ["choice", "choice", "text", "ref"]


def test_range_controls_set_gte_and_lte(appset):
    entity = appset.entity("receivables.bank_line")
    from dataclasses import replace

    with_date = replace(entity, list_filters=("date", "amount"))
    controls = filter_controls(with_date)
    assert [(c.kind, c.params) for c in controls] == [
        ("range", ("date__gte", "date__lte")),
        ("range", ("amount__gte", "amount__lte")),
    ]


def test_filters_from_query_arguments():
    args = [
        ("customer", "3"),
        ("due_date__gte", "2026-01-01"),
        ("status", ""),
        ("q", "acme"),
        ("sort", "-amount"),
        ("page", "2"),
    ]
    assert filters_from_args(args) == [
        Filter("customer", "eq", "3"),
        Filter("due_date", "gte", "2026-01-01"),
    ]
    assert filter_args(args) == {"customer": "3", "due_date__gte": "2026-01-01"}


def test_audit_changes_are_typed_again(invoice):
    before = {"amount": "100.00", "number": "INV-1", "customer": 3, "disputed": False}
    after = {"amount": "120.50", "number": "INV-1", "customer": 4, "disputed": False}
    assert audit_changes(invoice, before, after) == [
        ("customer", 3, 4),
        ("amount", Decimal("100.00"), Decimal("120.50")),
    ]
    assert audit_changes(invoice, None, {"number": "INV-2"}) == [("number", None, "INV-2")]
