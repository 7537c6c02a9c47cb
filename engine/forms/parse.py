"""Form text in, typed values and per-field messages out.

Each field's own type parses the text (ISO or the locale's dates, money with the
locale's separators) and checks its constraints. Entity checks and uniqueness need
the database: the Repository reports those on save, in the same {field: message} form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.appdef import Entity, Field
from engine.forms.spec import has_default
from engine.i18n import _, message_of

# A ref input posts the record id under the field's name; a searchable ref also posts
# what the person typed under this suffix, so a name typed but never picked is not lost.
TEXT_SUFFIX = "__text"


def parse_form(
    entity: Entity,
    formdata: Mapping[str, str],
    locale: str = "en_US",
    *,
    editing: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of the entity's editable fields and the messages of those that are wrong.

    A field missing from the form is left out (the record keeps its value), except a
    checkbox: a browser sends nothing for an unticked box, so absent means False.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in entity.fields.values():
        if field.computed or (field.readonly and editing):
            continue
        is_checkbox = field.type.widget == "checkbox"
        if field.name not in formdata and not is_checkbox:
            continue
        text = formdata.get(field.name) or ""
        try:
            value = field.type.parse(text, field, locale)
        except ValueError as exc:
            errors[field.name] = message_of(exc)
            continue
        problem = _problem(field, value, formdata, editing)
        if problem:
            errors[field.name] = problem
            continue
        values[field.name] = value
    return values, errors


def _problem(field: Field, value: Any, formdata: Mapping[str, str], editing: bool) -> str | None:
    if value is None:
        typed = (formdata.get(field.name + TEXT_SUFFIX) or "").strip()
        if field.ref and typed:
            return _(
                "“%(typed)s” was not picked from the list: choose one of the suggestions",
                typed=typed,
            )
        if field.required and (editing or not has_default(field)):
            return _("is required")
        return None
    return field.type.validate(value, field)
