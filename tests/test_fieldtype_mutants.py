"""Behaviour of the field types that a mutation run (./scripts/mutation) found unpinned:
column types and sizes, the default locale of parsing and formatting, formatting in a
reader's language and time zone, schema keys, exact messages, the computed type's
definition checks."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from test_fieldtypes import make_field

from engine.fieldtypes import FIELD_TYPES, FieldType, json_value, jsonable
from engine.i18n import Text

T = FIELD_TYPES
MOMENT = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)


def compiled(field_type: str, dialect, **options) -> str:
    column_type = T[field_type].sql_type(make_field(field_type, **options))
    return str(column_type.compile(dialect=dialect))


def test_the_registry_holds_one_instance_per_type() -> None:
    assert all(isinstance(ftype, FieldType) for ftype in T.values())


def test_column_types_and_sizes() -> None:
    pg, lite = postgresql.dialect(), sqlite.dialect()
    assert compiled("string", pg) == "VARCHAR(255)"
    assert compiled("string", pg, max_length=40) == "VARCHAR(40)"
    assert compiled("choice", pg) == "VARCHAR(255)"
    assert compiled("currency", pg) == "VARCHAR(3)"
    assert compiled("iban", pg) == "VARCHAR(34)" and compiled("bic", pg) == "VARCHAR(11)"
    for name in ("integer", "ref"):  # BIGINT, but SQLite's INTEGER (its rowid alias)
        assert compiled(name, pg) == "BIGINT" and compiled(name, lite) == "INTEGER"
    assert compiled("computed", pg, result="string", max_length=12) == "VARCHAR(12)"
    decimal = T["decimal"].sql_type(make_field("decimal"))
    money = T["money"].sql_type(make_field("money"))
    assert (decimal.impl.precision, decimal.impl.scale) == (24, 6)
    assert (money.impl.precision, money.impl.scale) == (20, 4)
    assert isinstance(T["text"].sql_type(make_field("text")), sa.Text)


def test_parsing_reads_english_numbers_unless_told_otherwise() -> None:
    integer, decimal, money = make_field("integer"), make_field("decimal"), make_field("money")
    assert T["integer"].parse("1,234", integer) == 1234
    assert T["integer"].parse("1\u00a0234", integer) == 1234  # a no-break space groups
    assert T["decimal"].parse("1,234.5", decimal) == Decimal("1234.5")
    assert T["decimal"].parse("1\u00a0234.5", decimal) == Decimal("1234.5")
    assert T["decimal"].parse("1 234.5", decimal) == Decimal("1234.5")
    assert T["money"].parse("1,234.50", money) == Decimal("1234.50")
    assert T["money"].parse("1.234,50", money, "de_DE") == Decimal("1234.50")
    plain = T["money"].parse("12.50", money)
    assert getattr(plain, "currency", None) is None  # no currency named, none remembered
    assert T["money"].parse("JPY 1000", money).currency == "JPY"
    assert T["date"].parse("31.03.2026", make_field("date"), "de_DE") == dt.date(2026, 3, 31)


def test_exponents_become_plain_digits() -> None:
    decimal = make_field("decimal")
    assert str(T["decimal"].coerce("1e3", decimal)) == "1000"
    assert str(T["decimal"].coerce("1e1", decimal)) == "10"
    assert json_value(Decimal("1E+3")) == "1000"
    assert jsonable(None) is None
    assert jsonable({"a": Decimal("1.50"), "d": dt.date(2026, 3, 31)}) == {
        "a": "1.50",
        "d": "2026-03-31",
    }


def test_formatting_in_the_readers_language() -> None:
    assert T["boolean"].format(True, make_field("boolean"), "zh_Hans_CN") == "是"
    labels = {"open": Text({"en": "Open", "zh": "未收款"})}
    choice = make_field("choice", options=("open",), option_labels=labels)
    assert T["choice"].format("open", choice, "zh_Hans_CN") == "未收款"
    assert T["choice"].format("open", choice) == "Open"
    computed = make_field("computed", result="decimal")
    assert T["computed"].format(Decimal("1234.5"), computed, "de_DE") == "1.234,5"
    assert T["decimal"].format(Decimal("1234.5"), make_field("decimal")) == "1,234.5"
    assert T["money"].format(Decimal("1200"), make_field("money")) == "1,200"  # JPY's places
    assert T["date"].format(MOMENT.date(), make_field("date"), "de_DE") == "31.03.2026"
    assert T["date"].format(MOMENT.date(), make_field("date"), "en_US") == "Mar 31, 2026"


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """A local time zone where 23:30 UTC is another day: UTC must not depend on it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_date_times_show_in_utc_whatever_the_local_zone(far_from_utc) -> None:
    field = make_field("datetime")
    assert T["datetime"].format(MOMENT, field, "en_US") == "Mar 31, 2026 11:30\u202fPM UTC"
    assert T["datetime"].format(MOMENT, field, "zh_Hans_CN") == "2026年3月31日 23:30 UTC"
    assert T["datetime"].format(MOMENT, field) == "2026-03-31 23:30 UTC"


def test_exact_messages() -> None:
    with pytest.raises(ValueError, match=r"^is out of range$"):
        T["datetime"].coerce("0001-01-01T00:00+01:00", make_field("datetime"))
    money = T["money"]
    assert (
        money.currency_problem(Decimal("1.005"), "EUR") == "has more than 2 decimal places for EUR"
    )
    assert money.currency_problem(Decimal("1.005"), None) == "has more than 2 decimal places"
    assert money.currency_problem(Decimal("1.005"), "KWD") is None  # three places
    assert money.currency_problem(Decimal("1.00"), None) is None


def test_schema_keys() -> None:
    string = T["string"].json_schema(make_field("string", min_length=2, max_length=40))
    assert (string["minLength"], string["maxLength"]) == (2, 40)
    assert T["text"].json_schema(make_field("text"))["maxLength"] == 10_000
    choice = make_field("choice")
    assert T["choice"].json_schema(choice)["maxLength"] == 255
    assert "maxLength" not in T["choice"].json_schema(choice, bounds=False)
    currency = T["currency"].json_schema(make_field("currency"))
    assert "EUR" in currency["enum"] and "pattern" not in currency
    assert T["integer"].json_schema(make_field("integer", min=0))["minimum"] == 0
    ref = T["ref"].json_schema(make_field("ref"))
    assert ref["maximum"] == 2**63 - 1 and ref["x-formwork-ref"] == "shop.customer"


def test_decimal_schemas_state_places_and_bounds_only_where_they_apply() -> None:
    bounded = make_field("money", min=Decimal("0.01"))
    read = T["money"].json_schema(bounded)
    assert read["pattern"] == r"^-?[0-9]{1,13}(\.[0-9]{1,4})?$" and "allOf" not in read
    assert "allOf" not in T["money"].json_schema(bounded, writing=True, bounds=False)
    written = T["money"].json_schema(bounded, writing=True)
    assert len(written["allOf"]) == 1 and written["pattern"] == read["pattern"]
    both = T["decimal"].json_schema(make_field("decimal", min=0, max=10), writing=True)
    assert len(both["allOf"]) == 2
    assert T["decimal"].json_schema(make_field("decimal"))["pattern"].endswith(r"{1,6})?$")


def test_a_computed_field_takes_no_default_required_or_unique() -> None:
    problems = T["computed"].definition_problems
    message = [((), "a computed field takes no default, required or unique")]
    assert list(problems({"default": None})) == message
    assert list(problems({"required": True})) == message
    assert list(problems({"unique": True})) == message
    assert list(problems({"required": False, "unique": False})) == []


def test_more_exact_behaviour() -> None:
    slow = make_field("string", pattern="(a|aa)+")
    assert T["string"].validate("a" * 37 + "!", slow) == (
        "could not be checked against the pattern in time"
    )
    assert type(T["money"].parse("12.50", make_field("money"))) is Decimal  # not an Amount
    assert T["money"].currency_problem(Decimal("1.5"), "JPY") == (
        "has more than 0 decimal places for JPY"
    )
    assert T["date"].parse("3/31/2026", make_field("date")) == dt.date(2026, 3, 31)  # en_US
    with pytest.raises(ValueError, match=r"^must be a record id$"):
        T["ref"].coerce(Decimal("1.5"), make_field("ref"))
    choice = make_field("computed", result="choice", options=("in_progress",))
    assert T["computed"].format("in_progress", choice) == "In progress"
    text = make_field("computed", result="string")
    assert T["computed"].json_schema(text)["maxLength"] == 255


def test_bound_patterns_are_patterns() -> None:
    import jsonschema

    bounded = make_field("money", min=Decimal("0.01"))
    valid = jsonschema.Draft202012Validator(T["money"].json_schema(bounded, writing=True)).is_valid
    assert valid("0.01") and not valid("0") and not valid("-1")


def test_local_times_show_in_utc(far_from_utc) -> None:
    shanghai = MOMENT.astimezone(dt.timezone(dt.timedelta(hours=8)))
    shown = T["datetime"].format(shanghai, make_field("datetime"), "en_US")
    assert shown == "Mar 31, 2026 11:30\u202fPM UTC"


# -- an expression's result stored in a field (Repository -> derived.computed_value) ----------


def test_a_computed_money_value_is_rounded_half_even_to_the_records_currency() -> None:
    total = make_field("computed", result="money")
    stored = T["money"].computed_value
    assert stored(Decimal("1234.5"), total, "JPY") == Decimal("1234")  # half to even
    assert stored(Decimal("1235.5"), total, "JPY") == Decimal("1236")
    assert str(stored(Decimal("0.125"), total, "EUR")) == "0.12"
    assert str(stored(Decimal("1.2345"), total, "KWD")) == "1.234"
    assert str(stored(Decimal("0.135"), total, None)) == "0.14"  # no currency: 2 places
    assert str(stored(7, total, "EUR")) == "7.00"  # a whole number, at the currency's places


def test_a_computed_money_value_that_is_not_a_number_is_read_or_refused() -> None:
    total = make_field("computed", result="money")
    stored = T["money"].computed_value
    assert str(stored("12.5", total, "EUR")) == "12.50"  # text is read, then rounded too
    assert str(stored("12.345", total, "EUR")) == "12.34"
    assert str(stored("1234.5", total, "JPY")) == "1234"
    assert stored(None, total, "EUR") is None
    for value in (True, "twelve"):  # refused with a message, not a crash
        with pytest.raises(ValueError, match=r"^is not a number$"):
            stored(value, total, "EUR")


def test_a_computed_decimal_value_is_rounded_to_six_places() -> None:
    ratio = make_field("computed", result="decimal")
    stored = T["decimal"].computed_value
    assert str(stored(Decimal(1) / Decimal(3), ratio)) == "0.333333"
    assert str(stored(Decimal("0.0000025"), ratio)) == "0.000002"  # half to even
    assert stored(7, ratio) == Decimal(7)
    assert str(stored("12.5", ratio)) == "12.5"
    assert stored(None, ratio) is None
    for value in (True, "twelve"):
        with pytest.raises(ValueError, match=r"^is not a number$"):
            stored(value, ratio)


def test_a_computed_value_of_another_type_is_read_as_that_type() -> None:
    assert T["integer"].computed_value(Decimal("3"), make_field("computed", result="integer")) == 3
    with pytest.raises(ValueError, match=r"^is not a whole number$"):
        T["integer"].computed_value(Decimal("3.5"), make_field("computed", result="integer"))
    day = make_field("computed", result="date")
    assert T["date"].computed_value("2026-03-31", day) == dt.date(2026, 3, 31)
    assert T["date"].computed_value(None, day) is None
    label = make_field("computed", result="string")
    assert T["string"].computed_value(Decimal("12.50"), label) == "12.50"  # numbers as text
    assert T["string"].computed_value(None, label) is None  # blank, not "None"


def test_links_of_e_mail_addresses_and_web_addresses() -> None:
    assert T["email"].link("ap@example.com") == "mailto:ap@example.com"
    assert T["url"].link("https://example.com/a") == "https://example.com/a"
    for name in ("email", "url"):
        assert T[name].link(None) is None and T[name].link("") is None
    assert T["string"].link("https://example.com") is None  # only these types link


def test_a_type_that_names_no_length_gets_a_column_of_255_characters() -> None:
    """An extension type built on FieldType alone, as a third party would write one."""

    class Note(FieldType):
        name = "note"

    pg = postgresql.dialect()
    assert str(Note().sql_type(make_field("string")).compile(dialect=pg)) == "VARCHAR(255)"
    assert str(Note().sql_type(make_field("string", max_length=40)).compile(dialect=pg)) == (
        "VARCHAR(40)"
    )


def test_the_published_schema_of_a_ref_is_exactly_a_bounded_id() -> None:
    assert T["ref"].json_schema(make_field("ref")) == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
        "x-formwork-ref": "shop.customer",
    }


def test_a_computed_fields_schema_without_bounds_has_none() -> None:
    label = make_field("computed", result="string")
    assert T["computed"].json_schema(label, bounds=False) == {"type": "string", "readOnly": True}
    assert T["computed"].json_schema(label, writing=True, bounds=False) == {
        "type": "string",
        "readOnly": True,
    }
    assert T["computed"].json_schema(label)["maxLength"] == 255


def test_the_first_and_last_moments_a_datetime_holds(far_from_utc) -> None:
    field = make_field("datetime")
    first = T["datetime"].coerce("0001-01-01T00:00", field)  # naive: UTC, not Shanghai
    assert first == dt.datetime.min.replace(tzinfo=dt.UTC)
    last = T["datetime"].coerce("9999-12-31T23:59:59.999999Z", field)
    assert last == dt.datetime.max.replace(tzinfo=dt.UTC)
    assert T["datetime"].format(last, field) == "9999-12-31 23:59 UTC"
    for beyond in ("0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00"):  # outside, in UTC
        with pytest.raises(ValueError, match=r"^is out of range$"):
            T["datetime"].coerce(beyond, field)
    with pytest.raises(ValueError, match=r"^is not a date and time"):
        T["datetime"].coerce("10000-01-01T00:00", field)


APP = """
app: shop
entities:
  order:
    fields:
      currency: {type: currency, required: true}
      total: {type: money}
      third: {type: computed, result: money, expr: "total / 3"}
      quoted: {type: computed, result: money, expr: "'12.345'"}
"""


def test_a_computed_amount_is_stored_at_its_records_currency(tmp_path, repository_for) -> None:
    """An expression's text was stored as 12.345 EUR (read back 12.3450): three places."""
    from engine.appdef import load_apps

    (tmp_path / "shop.yaml").write_text(APP, encoding="utf-8")
    repo = repository_for(load_apps([tmp_path]))
    euro = repo.create("shop.order", {"currency": "EUR", "total": "10"})
    yen = repo.create("shop.order", {"currency": "JPY", "total": "10"})
    stored = [repo.get("shop.order", row["id"]) for row in (euro, yen)]
    assert [(row["third"], row["quoted"]) for row in stored] == [
        (Decimal("3.33"), Decimal("12.34")),
        (Decimal("3"), Decimal("12")),
    ]
    assert [str(row["quoted"]) for row in stored] == ["12.34", "12"]


def test_text_of_a_str_subclass_is_read_like_plain_text() -> None:
    """A definition's text (i18n.Text) is a str subclass: it takes the general path."""
    string = make_field("string")
    assert T["string"].coerce(Text("  Open  "), string) == "Open"
    assert T["string"].coerce(Text("   "), string) is None
    with pytest.raises(ValueError, match=r"^must not contain NUL characters$"):
        T["string"].coerce(Text("a\x00b"), string)


def test_decimals_at_the_edges_of_their_size_and_exponent() -> None:
    """A Decimal value (from an expression or the database) meets the limits text meets."""
    for name, limit in (("decimal", "1000000000000"), ("money", "10000000000000")):
        field = make_field(name)
        with pytest.raises(ValueError, match=r"^is too large$"):
            T[name].coerce(Decimal(limit), field)
        assert T[name].coerce(Decimal(limit) - 1, field) == Decimal(limit) - 1
        ten = T[name].coerce(Decimal("1E+1"), field)
        assert T[name].form_value(ten) == "10" and json_value(ten) == "10"
