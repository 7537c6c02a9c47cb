"""Bounds on what one request may store: the probe sent a 20 MB text field, which was stored
and copied into the audit row. Text fields have a default length limit, and bodies beyond
MAX_CONTENT_LENGTH are refused with 413 (JSON for the API, a page for the UI)."""

from __future__ import annotations

import pytest

from engine.appdef.model import Field
from engine.errors import Location
from engine.fieldtypes import FIELD_TYPES

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
