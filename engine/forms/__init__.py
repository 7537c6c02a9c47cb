"""Forms from app definitions: specifications to render, and parsing of what people type."""

from engine.forms.listing import (
    RESERVED,
    FilterControl,
    audit_changes,
    filter_args,
    filter_controls,
    filters_from_args,
)
from engine.forms.messages import error_sentence, sentence
from engine.forms.parse import TEXT_SUFFIX, parse_form
from engine.forms.spec import (
    FormField,
    FormSection,
    FormSpec,
    field_text,
    form_spec,
    initial_values,
    record_values,
)

__all__ = [
    "RESERVED", "TEXT_SUFFIX", "FilterControl", "FormField", "FormSection", "FormSpec",
    "audit_changes", "error_sentence", "field_text", "filter_args", "filter_controls",
    "filters_from_args", "form_spec", "initial_values", "parse_form", "record_values", "sentence",
]  # fmt: skip
