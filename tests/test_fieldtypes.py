"""Field types: parsing form text, coercing JSON values, validating options, JSON and display."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.appdef.model import Field
from engine.errors import Location
from engine.expr import compile_expression
from engine.fieldtypes import FIELD_TYPES, FieldType, register

D = Decimal
WIDGETS = {
    "text", "textarea", "number", "money", "date", "datetime-local", "checkbox", "select",
    "currency", "email", "tel", "url", "ref", "readonly",
}  # fmt: skip
UTC = dt.UTC


def make_field(type_name: str, **options: Any) -> Field:
    """A field as the loader would build it, with the extra options a type needs."""
    if type_name == "choice":
        options.setdefault("options", ("open", "paid"))
    if type_name == "ref":
        options.setdefault("ref", "shop.customer")
    if type_name == "computed":
        options.setdefault("result", "money")
        options.setdefault("expr", compile_expression("amount * 2"))
    return Field(
        name="f", type=FIELD_TYPES[type_name], location=Location("t.yaml", 1, 1), label="F",
        **options,
    )  # fmt: skip


# -- the registry ---------------------------------------------------------------------------------


def test_registry_has_the_documented_types() -> None:
    assert set(FIELD_TYPES) == {
        "string", "text", "email", "phone", "url", "choice", "currency", "integer", "decimal",
        "money", "date", "datetime", "boolean", "ref", "computed", "iban", "bic",
    }  # fmt: skip
    for name, ftype in FIELD_TYPES.items():
        assert ftype.name == name


@pytest.mark.parametrize("name", sorted(FIELD_TYPES))
def test_every_type_has_a_widget_a_json_schema_and_a_column(name: str) -> None:
    ftype = FIELD_TYPES[name]
    field = make_field(name)
    assert ftype.widget in WIDGETS
    schema = ftype.json_schema(field)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "type" in schema
    assert isinstance(ftype.sql_type(field), sa.types.TypeEngine)


def test_a_type_name_registered_twice_fails() -> None:
    before = dict(FIELD_TYPES)

    class Again(FieldType):
        name = "money"

    with pytest.raises(RuntimeError, match="registered twice"):
        register(Again)
    assert before == FIELD_TYPES


# -- coerce: JSON and Python values ---------------------------------------------------------------

GOOD_VALUES = [
    ("string", "  Acme  ", "Acme"),
    ("string", "", None),
    ("string", "   ", None),
    ("string", None, None),
    ("text", "line 1\nline 2", "line 1\nline 2"),
    ("email", "ar@example.com", "ar@example.com"),
    ("phone", "+41 (0)44 123-45.67", "+41 (0)44 123-45.67"),
    ("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("choice", "paid", "paid"),
    ("currency", "eur", "EUR"),
    ("currency", " JPY ", "JPY"),
    ("integer", 42, 42),
    ("integer", "42", 42),
    ("integer", "-7", -7),
    ("integer", 3.0, 3),
    ("integer", "1e3", 1000),
    ("integer", 2**63 - 1, 2**63 - 1),
    ("decimal", "1.234567", D("1.234567")),
    ("decimal", 0.1, D("0.1")),
    ("decimal", 5, D("5")),
    ("decimal", "1e3", D("1000")),
    ("money", "12.3456", D("12.3456")),
    ("money", D("-0.01"), D("-0.01")),
    ("money", "9999999999999.99", D("9999999999999.99")),
    ("date", "2024-02-29", dt.date(2024, 2, 29)),
    ("date", dt.datetime(2024, 3, 1, 23, 0, tzinfo=UTC), dt.date(2024, 3, 1)),
    ("date", dt.date(2024, 3, 1), dt.date(2024, 3, 1)),
    ("datetime", "2024-01-01T10:00", dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
    ("datetime", "2024-01-01T10:00+02:00", dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
    ("datetime", dt.datetime(2024, 1, 1, 10, 0), dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
    ("boolean", True, True),
    ("boolean", "yes", True),
    ("boolean", "Off", False),
    ("boolean", 0, False),
    ("boolean", None, None),
    ("ref", "12", 12),
    ("ref", 7, 7),
    ("ref", "", None),
    ("computed", "2.50", D("2.50")),
]


@pytest.mark.parametrize(("type_name", "value", "expected"), GOOD_VALUES)
def test_coerce(type_name: str, value: Any, expected: Any) -> None:
    result = FIELD_TYPES[type_name].coerce(value, make_field(type_name))
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, dt.datetime):
        assert result.utcoffset() == dt.timedelta(0)


BAD_VALUES = [
    ("string", 5, "must be text"),
    ("string", "a\x00b", "must not contain NUL characters"),
    ("email", "nobody", "is not an e-mail address"),
    ("email", "a@b", "is not an e-mail address"),
    ("phone", "call me", "is not a phone number (digits, spaces, + ( ) - . /)"),
    ("url", "ftp://example.com", "is not a web address (http:// or https://)"),
    ("url", "example.com", "is not a web address (http:// or https://)"),
    ("currency", "EURO", "is not an ISO 4217 currency code"),
    ("currency", "XYZ", "is not an ISO 4217 currency code"),
    ("integer", "abc", "is not a whole number"),
    ("integer", 1.5, "is not a whole number"),
    ("integer", "12.5", "is not a whole number"),
    ("integer", True, "is not a whole number"),
    ("integer", "NaN", "is not a whole number"),
    ("integer", 2**63, "is too large"),
    ("integer", str(-(2**63)), "is too large"),
    ("decimal", "abc", "is not a number"),
    ("decimal", "NaN", "is not a number"),
    ("decimal", "Infinity", "is not a number"),
    ("decimal", False, "is not a number"),
    ("decimal", [1], "is not a number"),
    ("decimal", "1.1234567", "has more than 6 decimal places"),
    ("decimal", "1e13", "is too large"),
    ("money", "12.34567", "has more than 4 decimal places"),
    ("money", "-10000000000000", "is too large"),
    ("date", "2024-02-30", "is not a date (use YYYY-MM-DD)"),
    ("date", "tomorrow", "is not a date (use YYYY-MM-DD)"),
    ("date", 5, "is not a date (use YYYY-MM-DD)"),
    ("datetime", "soon", "is not a date and time (use YYYY-MM-DDTHH:MM)"),
    ("boolean", "maybe", "must be yes or no"),
    ("boolean", 2, "must be yes or no"),
    ("ref", "x", "must be a record id"),
    ("ref", 0, "must be a record id"),
    ("ref", -3, "must be a record id"),
    ("ref", True, "must be a record id"),
    ("computed", "lots", "is not a number"),
]


@pytest.mark.parametrize(("type_name", "value", "message"), BAD_VALUES)
def test_coerce_refuses_with_a_message(type_name: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        FIELD_TYPES[type_name].coerce(value, make_field(type_name))
    assert str(raised.value) == message


# -- parse: text typed into a form, in the user's locale -----------------------------------------

PARSED = [
    ("string", "  x ", "en_US", "x"),
    ("string", "   ", "en_US", None),
    ("integer", "1,234", "en_US", 1234),
    ("integer", "1.234", "de_DE", 1234),
    ("integer", "1 234", "fr_FR", 1234),
    ("integer", "", "en_US", None),
    ("decimal", "1,234.56", "en_US", D("1234.56")),
    ("decimal", "1.234,56", "de_DE", D("1234.56")),
    ("decimal", "1234.56", "de_DE", D("1234.56")),
    ("money", "€ 12.30", "en_US", D("12.30")),
    ("money", "EUR 12.30", "en_US", D("12.30")),
    ("money", "12.30 CHF", "en_US", D("12.30")),
    ("date", "2024-03-01", "en_US", dt.date(2024, 3, 1)),
    ("date", "3/1/2024", "en_US", dt.date(2024, 3, 1)),
    ("date", "01.03.2024", "de_DE", dt.date(2024, 3, 1)),
    ("datetime", "2024-03-01T09:30", "en_US", dt.datetime(2024, 3, 1, 9, 30, tzinfo=UTC)),
    ("boolean", "", "en_US", False),
    ("boolean", "on", "en_US", True),
    ("ref", " 12 ", "en_US", 12),
]


@pytest.mark.parametrize(("type_name", "text", "locale", "expected"), PARSED)
def test_parse(type_name: str, text: str, locale: str, expected: Any) -> None:
    field = make_field(type_name)
    assert FIELD_TYPES[type_name].parse(text, field, locale) == expected


@pytest.mark.parametrize(
    ("type_name", "text", "locale", "message"),
    [
        ("integer", "1.5", "en_US", "is not a whole number"),
        ("integer", "twelve", "en_US", "is not a whole number"),
        ("decimal", "12,3,4.5.6", "en_US", "is not a number"),
        ("money", "1.2345678", "en_US", "has more than 4 decimal places"),
        ("date", "31/31/2024", "en_US", "is not a date (use YYYY-MM-DD)"),
        ("boolean", "perhaps", "en_US", "must be yes or no"),
        ("email", "not-an-address", "en_US", "is not an e-mail address"),
    ],
)
def test_parse_refuses_with_a_message(type_name: str, text: str, locale: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        FIELD_TYPES[type_name].parse(text, make_field(type_name), locale)
    assert str(raised.value) == message


# -- validate: the field's options --------------------------------------------------------------

VALIDATED = [
    ("string", {"max_length": 5}, "abcdef", "must be at most 5 characters"),
    ("string", {"max_length": 5}, "abcde", None),
    ("string", {}, "x" * 256, "must be at most 255 characters"),
    ("string", {"min_length": 2}, "a", "must be at least 2 characters"),
    ("string", {"pattern": "[A-Z]{3}"}, "ABCD", "does not match the pattern [A-Z]{3}"),
    (
        "string",
        {"pattern": "[A-Z]{3}", "pattern_message": "three capitals"},
        "ab",
        "three capitals",
    ),
    ("string", {"pattern": "[A-Z]{3}"}, "ABC", None),
    ("text", {}, "x" * 10_000, None),
    ("text", {"max_length": 10}, "x" * 11, "must be at most 10 characters"),
    ("choice", {"options": ("a", "b")}, "c", "must be one of: a, b"),
    ("choice", {"options": ("a", "b")}, "b", None),
    ("integer", {"min": 0, "max": 365}, -1, "must be at least 0"),
    ("integer", {"min": 0, "max": 365}, 366, "must be at most 365"),
    ("integer", {"min": 0, "max": 365}, 365, None),
    ("money", {"min": D("0.01")}, D("0.00"), "must be at least 0.01"),
    ("decimal", {"max": D("1.5")}, D("1.6"), "must be at most 1.5"),
    ("date", {"min": dt.date(2024, 1, 1)}, dt.date(2023, 12, 31), "must be at least 2024-01-01"),
    ("boolean", {}, False, None),
]


@pytest.mark.parametrize(("type_name", "options", "value", "message"), VALIDATED)
def test_validate(type_name: str, options: dict[str, Any], value: Any, message: str | None) -> None:
    field = make_field(type_name, **options)
    assert FIELD_TYPES[type_name].validate(value, field) == message


@pytest.mark.parametrize("name", sorted(FIELD_TYPES))
def test_blank_is_always_valid_for_the_type(name: str) -> None:
    """`required` is the Repository's rule, not the type's."""
    assert FIELD_TYPES[name].validate(None, make_field(name)) is None


# -- JSON, display and form values ---------------------------------------------------------------

SAMPLES = [
    ("string", "Acme", "Acme", "Acme", "Acme"),
    ("integer", 1234, 1234, "1234", "1234"),
    ("decimal", D("1234.5"), "1234.5", "1,234.5", "1234.5"),
    ("decimal", D("0.000001"), "0.000001", "0.000001", "0.000001"),
    ("money", D("1234.5"), "1234.5", "1,234.50", "1234.5"),
    ("money", D("-0.0100"), "-0.0100", "-0.01", "-0.0100"),
    ("date", dt.date(2024, 3, 1), "2024-03-01", "2024-03-01", "2024-03-01"),
    (
        "datetime",
        dt.datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        "2024-03-01T09:30:00+00:00",
        "2024-03-01 09:30 UTC",
        "2024-03-01T09:30",
    ),
    ("boolean", True, True, "yes", "on"),  # what a checked checkbox posts
    ("boolean", False, False, "no", ""),
    ("ref", 12, 12, "12", "12"),
    ("choice", "open", "open", "Open", "open"),  # shown by its label
    ("computed", D("2.5"), "2.5", "2.50", "2.5"),
]


@pytest.mark.parametrize(("type_name", "value", "as_json", "shown", "in_form"), SAMPLES)
def test_json_display_and_form_value(
    type_name: str, value: Any, as_json: Any, shown: str, in_form: str
) -> None:
    ftype, field = FIELD_TYPES[type_name], make_field(type_name)
    assert ftype.to_json(value) == as_json
    assert ftype.format(value, field) == shown
    assert ftype.form_value(value) == in_form
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator(ftype.json_schema(field), format_checker=checker).validate(
        as_json
    )


@pytest.mark.parametrize("name", sorted(FIELD_TYPES))
def test_blank_shows_as_nothing(name: str) -> None:
    ftype = FIELD_TYPES[name]
    assert ftype.to_json(None) is None
    assert ftype.format(None, make_field(name)) == ""
    assert ftype.form_value(None) == ""


def test_money_is_shown_in_the_users_locale() -> None:
    field = make_field("money")
    assert FIELD_TYPES["money"].format(D("1234567.5"), field, "de_DE") == "1.234.567,50"
    assert FIELD_TYPES["money"].format(D("1234567.5"), field, "en_US") == "1,234,567.50"


def test_json_schema_follows_the_field_options() -> None:
    choice = FIELD_TYPES["choice"].json_schema(make_field("choice", options=("a", "b")))
    assert choice == {"type": "string", "enum": ["a", "b"], "maxLength": 255}
    patterned = FIELD_TYPES["string"].json_schema(make_field("string", pattern="[A-Z]{3}"))
    validator = jsonschema.Draft202012Validator(patterned)
    assert validator.is_valid("ABC")
    assert not validator.is_valid("xABCx"), "the pattern must match the whole value"
    computed = FIELD_TYPES["computed"].json_schema(make_field("computed", result="integer"))
    assert computed == {"type": "integer", "minimum": -(2**63 - 1), "maximum": 2**63 - 1,
                        "readOnly": True}  # fmt: skip
    bounded = make_field("integer", min=0, max=365)
    assert FIELD_TYPES["integer"].json_schema(bounded)["maximum"] == 365
    # a filter's value may lie outside the field's bounds, never outside BIGINT's
    assert FIELD_TYPES["integer"].json_schema(bounded, bounds=False)["maximum"] == 2**63 - 1


@settings(max_examples=60, deadline=None)
@given(
    number=st.decimals(
        min_value=D("-9999999999999.9999"),
        max_value=D("9999999999999.9999"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_money_survives_json_exactly(number: Decimal) -> None:
    field = make_field("money")
    ftype = FIELD_TYPES["money"]
    as_json = ftype.to_json(ftype.coerce(number, field))
    assert isinstance(as_json, str)
    assert jsonschema.Draft202012Validator(ftype.json_schema(field)).is_valid(as_json)
    back = ftype.coerce(as_json, field)
    assert back == number
    assert ftype.parse(ftype.form_value(back), field) == number
