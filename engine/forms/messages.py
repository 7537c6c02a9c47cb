"""Messages as sentences a person reads beside a field or at the top of a form."""

from __future__ import annotations

from engine.appdef import Entity
from engine.i18n import _, derived

# Messages from field types and the Repository start with a verb ("is required",
# "must be at least 0"): they read as a sentence after the field's label.
_VERBS = frozenset({"is", "are", "must", "has", "have", "does", "do", "could", "cannot", "was"})


def sentence(label: str, message: str) -> str:
    """'Amount' + 'is not a number' -> 'Amount is not a number'; other messages capitalised.

    Both may be translatable (engine.i18n): the sentence then is too, so that in Chinese
    it reads 金额不是数字, without the space and whatever the English word order.
    """
    if not message.strip():
        return label
    if label and message.strip().split(" ", 1)[0] in _VERBS:
        return _("%(label)s %(message)s", label=label, message=message)
    return derived(message, _capitalised)


def _capitalised(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def error_sentence(entity: Entity, key: str, message: str) -> str:
    """A message keyed by field name ("" for the whole record) as a sentence."""
    field = entity.fields.get(key)
    if field is not None:
        return sentence(field.label, message)
    if key == "":
        return sentence("", message)
    return sentence(key.replace("_", " ").capitalize(), message)
