"""The shortcuts `coerce` takes for values already of their type (a bulk write's usual
input) give exactly what the general steps give.

A subclass of str, int, Decimal or date is not the exact type, so it takes the general
steps: each value is coerced both ways and the results (value, type and exponent) or the
messages must be the same.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.appdef.model import Field
from engine.errors import Location
from engine.fieldtypes import FIELD_TYPES, MAX_BIGINT


class Text(str):
    pass


class Whole(int):
    pass


class Number(Decimal):
    pass


class Day(dt.date):
    pass


def field(type_name: str) -> Field:
    options = {"options": {"a": "A"}} if type_name == "choice" else {}
    where = Location("t.yaml", 1, 1)
    return Field(name="f", type=FIELD_TYPES[type_name], location=where, label="F", **options)


def outcome(type_name: str, value: Any) -> tuple[Any, ...]:
    try:
        result = FIELD_TYPES[type_name].coerce(value, field(type_name))
    except ValueError as exc:
        return ("error", str(exc))
    # the general steps may give the subclass back: compare as the type it is a kind of
    kind = next(t for t in (type(None), bool, str, int, Decimal, dt.date) if isinstance(result, t))
    if isinstance(result, Decimal):
        return ("value", kind, str(result), result.as_tuple())
    return ("value", kind, result)


def same(type_name: str, fast: Any, general: Any) -> None:
    assert outcome(type_name, fast) == outcome(type_name, general)


TEXT = st.text(alphabet=st.sampled_from(["a", " ", "\t", "\x00", "\n", "é", "\u3000", "Z"]))


@given(TEXT, st.sampled_from(["string", "text", "currency", "email", "choice"]))
def test_text_as_str_or_as_a_subclass(value: str, type_name: str) -> None:
    same(type_name, value, Text(value))


@given(
    st.one_of(
        st.integers(-5, 5),
        st.integers(MAX_BIGINT - 2, MAX_BIGINT + 2),
        st.integers(-(2**70), 2**70),
    )
)
def test_ids_and_whole_numbers_as_int_or_as_a_subclass(value: int) -> None:
    same("ref", value, Whole(value))
    same("integer", value, Whole(value))


@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True, places=None),
        st.decimals(min_value=-(10**14), max_value=10**14, places=6),
        st.sampled_from(["1e3", "1E+2", "0E-9", "-0", "0.00", "9999999999999.9999", "1e13"]),
    ).map(Decimal),
    st.sampled_from(["decimal", "money"]),
)
def test_decimals_as_decimal_or_as_a_subclass(value: Decimal, type_name: str) -> None:
    same(type_name, value, Number(value))


@given(st.dates())
def test_dates_as_date_or_as_a_subclass(value: dt.date) -> None:
    same("date", value, Day(value.year, value.month, value.day))
