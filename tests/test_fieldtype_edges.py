"""The edges of the field types, each pinned with the probe's exact input: patterns that
backtrack, anchors, record ids, length and value boundaries, blanks from JSON, money's
places, a currency named in a money text, and datetimes under a time zone east of UTC."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.appdef import AppSet, load_apps
from engine.appdef.model import Field
from engine.errors import Location, ValidationError
from engine.fieldtypes import FIELD_TYPES
from engine.forms.parse import parse_form
from engine.storage import Repository

D = Decimal


def field(type_name: str, **options: Any) -> Field:
    return Field(name="f", type=FIELD_TYPES[type_name], location=Location("t.yaml", 1, 1),
                 label="F", **options)  # fmt: skip


def check(type_name: str, value: Any, **options: Any) -> str | None:
    """The message for `value` (from JSON) in a field of that type, or None when it is fine."""
    f = field(type_name, **options)
    try:
        return f.type.validate(f.type.coerce(value, f), f)
    except ValueError as exc:
        return str(exc)


# -- patterns ---------------------------------------------------------------------------------


def test_a_backtracking_pattern_ends_in_time_with_a_message() -> None:
    """`(a|aa)+` against 37 a's and a `!` took 4 s through `re`."""
    started = time.perf_counter()
    problem = check("string", "a" * 37 + "!", pattern="(a|aa)+")
    assert time.perf_counter() - started < 1
    assert problem is not None


def test_a_pattern_is_checked_on_text_fields_too() -> None:
    assert check("text", "ABC", pattern="[A-Z]{3}") is None
    assert check("text", "ABCD", pattern="[A-Z]{3}") == "does not match the pattern [A-Z]{3}"
    assert check("text", "abc", pattern="[A-Z]{3}", pattern_message="three capitals") == (
        "three capitals"
    )


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("phone", "123abc"),
        ("phone", "1234abc"),
        ("phone", "+49 30 1234 x"),
        ("url", "http://a b"),
        ("url", "https://example.com\nx"),
        ("email", "a@b.co x"),
        ("email", "a@b.co\nx"),
    ],
)
def test_formats_must_match_the_whole_value(type_name: str, value: str) -> None:
    assert check(type_name, value) is not None


@pytest.mark.parametrize(
    ("type_name", "value"),
    [("phone", "+49 30 1234"), ("url", "http://a.b/c?d"), ("email", "a@b.co")],
)
def test_formats_accept_a_whole_value(type_name: str, value: str) -> None:
    assert check(type_name, value) is None


# -- record ids and lengths -------------------------------------------------------------------


@pytest.mark.parametrize("good", [1, "1", 2**63 - 1, str(2**63 - 1)])
def test_a_ref_takes_every_id_a_bigint_holds(good: Any) -> None:
    assert FIELD_TYPES["ref"].coerce(good, field("ref")) == int(good)


@pytest.mark.parametrize("bad", [0, "0", -1, 2**63, str(2**63), True, "1.5", "x"])
def test_a_ref_refuses_what_is_no_record_id(bad: Any) -> None:
    with pytest.raises(ValueError, match="must be a record id"):
        FIELD_TYPES["ref"].coerce(bad, field("ref"))


@pytest.mark.parametrize("type_name", ["string", "text", "email"])
def test_lengths_are_inclusive_at_both_ends(type_name: str) -> None:
    suffix = "@b.co" if type_name == "email" else ""
    at = lambda n: "a" * (n - len(suffix)) + suffix  # noqa: E731  # exactly n characters
    bounds = {"min_length": 8, "max_length": 12}
    assert check(type_name, at(8), **bounds) is None
    assert check(type_name, at(12), **bounds) is None
    assert check(type_name, at(7), **bounds) == "must be at least 8 characters"
    assert check(type_name, at(13), **bounds) == "must be at most 12 characters"


def test_a_string_is_255_characters_unless_told() -> None:
    assert check("string", "a" * 255) is None
    assert check("string", "a" * 256) == "must be at most 255 characters"


# -- blanks, numbers and bounds ---------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["integer", "decimal", "money", "date", "datetime", "ref"])
def test_a_blank_string_from_json_is_no_value(type_name: str) -> None:
    """Decided: "" is blank, as in a form; `required` then says what is missing."""
    assert FIELD_TYPES[type_name].coerce("", field(type_name)) is None
    assert FIELD_TYPES[type_name].coerce("  ", field(type_name)) is None


@pytest.mark.parametrize("text", ["1,2,3", "1,2", "12,34,5"])
def test_digit_groups_in_the_wrong_places_are_no_integer(text: str) -> None:
    f = field("integer")
    with pytest.raises(ValueError, match="is not a whole number"):
        f.type.parse(text, f)
    with pytest.raises(ValueError, match="is not a whole number"):
        f.type.coerce(text, f)
    assert f.type.parse("1,234", f) == 1234


def test_value_bounds_are_inclusive() -> None:
    assert check("integer", 0, min=0, max=365) is None
    assert check("integer", 365, min=0, max=365) is None
    assert check("integer", -1, min=0, max=365) == "must be at least 0"
    assert check("integer", 366, min=0, max=365) == "must be at most 365"


# -- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (D("1.200"), "1.200"),  # KWD, read back at its 3 places
        (D("1234.567"), "1,234.567"),
        (D("1234.5678"), "1,234.5678"),  # a 4-place stored value keeps every place
        (D("1200"), "1,200"),  # JPY
        (D("12.50"), "12.50"),
        (D("12.5"), "12.50"),
    ],
)
def test_money_is_shown_with_the_places_it_has(stored: Decimal, shown: str) -> None:
    assert FIELD_TYPES["money"].format(stored, field("money")) == shown


# -- datetimes ------------------------------------------------------------------------------


@pytest.fixture(params=["UTC", "Asia/Shanghai", "America/St_Johns"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone set to `request.param`, then restored."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_datetimes_do_not_depend_on_the_local_time_zone(local_zone: str) -> None:
    f = field("datetime")
    noon = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert f.type.coerce("2026-03-31T12:00", f) == noon  # naive is UTC, not local time
    assert f.type.coerce("2026-03-31T20:00+08:00", f) == noon
    assert f.type.parse(f.type.form_value(noon), f) == noon
    assert f.type.format(noon, f) == "2026-03-31 12:00 UTC"
    assert f.type.to_json(noon) == "2026-03-31T12:00:00+00:00"
    assert FIELD_TYPES["date"].coerce(dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC), f) == (
        dt.date(2026, 3, 31)
    )


def test_datetime_bounds_are_inclusive_whatever_the_offset(local_zone: str) -> None:
    f = field("datetime")
    low = f.type.coerce("2026-01-01T00:00Z", f)
    high = f.type.coerce("2026-12-31T23:59Z", f)
    bounded = field("datetime", min=low, max=high)
    assert check("datetime", "2026-01-01T08:00+08:00", min=low, max=high) is None
    assert check("datetime", "2026-12-31T23:59:00Z", min=low, max=high) is None
    assert bounded.type.validate(f.type.coerce("2026-01-01T07:59+08:00", f), bounded) == (
        "must be at least 2026-01-01 00:00 UTC"
    )
    assert check("datetime", "2027-01-01T00:00Z", min=low, max=high) == (
        "must be at most 2026-12-31 23:59 UTC"
    )


# -- a currency named in a money text ------------------------------------------------------

APP = """
app: shop
entities:
  order:
    fields:
      currency: {type: currency, required: true}
      total: {type: money}
"""


@pytest.fixture
def shop(tmp_path: Path) -> AppSet:
    (tmp_path / "shop.yaml").write_text(APP, encoding="utf-8")
    return load_apps([tmp_path])


@pytest.fixture
def repo(shop: AppSet, repository_for: Callable[[AppSet], Repository]) -> Repository:
    return repository_for(shop)


def test_a_money_text_in_another_currency_is_refused(shop: AppSet, repo: Repository) -> None:
    """`JPY 1000` was taken as 1000 EUR."""
    order = shop.entity("shop.order")
    values, errors = parse_form(order, {"currency": "EUR", "total": "JPY 1000"})
    assert errors == {}
    with pytest.raises(ValidationError) as refused:
        repo.create(order, values)
    assert refused.value.errors == {"total": "is in JPY, but the record's currency is EUR"}
    for same in ("EUR 1000", "1000 EUR", "€1000", "1000"):
        values, errors = parse_form(order, {"currency": "EUR", "total": same})
        assert repo.create(order, values)["total"] == D("1000.00"), same
    values, _ = parse_form(order, {"currency": "JPY", "total": "JPY 1000"})
    assert repo.create(order, values)["total"] == D("1000")
