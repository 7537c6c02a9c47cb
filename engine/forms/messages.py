"""Messages as sentences a person reads beside a field or at the top of a form."""

from __future__ import annotations

from engine.appdef import Entity

# Messages from field types and the Repository start with a verb ("is required",
# "must be at least 0"): they read as a sentence after the field's label.
_VERBS = frozenset({"is", "are", "must", "has", "have", "does", "do", "could", "cannot", "was"})


def sentence(label: str, message: str) -> str:
    """'Amount' + 'is not a number' -> 'Amount is not a number'; other messages capitalised."""
    message = message.strip()
    if not message:
        return label
    if label and message.split(" ", 1)[0] in _VERBS:
        return f"{label} {message}"
    return message[0].upper() + message[1:]


def error_sentence(entity: Entity, key: str, message: str) -> str:
    """A message keyed by field name ("" for the whole record) as a sentence."""
    field = entity.fields.get(key)
    if field is not None:
        return sentence(field.label, message)
    if key == "":
        return sentence("", message)
    return sentence(key.replace("_", " ").capitalize(), message)
