"""Form specifications made from an entity: what a form shows, in which order, and how.

A FormSpec is plain data. The web layer renders it; the rules of what is required,
read-only or a choice come from the definition here, not from templates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.appdef import Entity, Field
from engine.i18n import N_

OTHER_SECTION = N_("More")
COMPUTED_SECTION = N_("Calculated")
AUTO_HINT = N_("Left empty, it is filled in from the other fields.")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    help: str
    widget: str  # the field type's widget: text, textarea, money, date, checkbox, select, ref...
    type: str  # the value type's name (a computed field's result type)
    required: bool  # must be filled in: nothing (no default) fills it otherwise
    options: tuple[str, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()  # (option, its label, engine.i18n.Text)
    ref: str | None = None  # target entity, "app.entity"
    min: Any = None
    max: Any = None
    max_length: int | None = None
    readonly: bool = False  # shown, never parsed: computed, or fixed once created
    computed: bool = False
    inputmode: str | None = None  # the keyboard a phone shows (HTML inputmode)
    multiline: bool = False  # prose: shown as paragraphs
    input_type: str | None = None  # HTML input type of a one-line input (email, tel, url)


@dataclass(frozen=True)
class FormSection:
    title: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class FormSpec:
    entity: str  # qualified name
    editing: bool
    sections: tuple[FormSection, ...]

    def fields(self) -> Iterator[FormField]:
        for section in self.sections:
            yield from section.fields

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields() if f.name == name), None)

    @property
    def inputs(self) -> tuple[FormField, ...]:
        """The fields a person types into (not read-only)."""
        return tuple(f for f in self.fields() if not f.readonly)


def has_default(field: Field) -> bool:
    return field.default is not None or field.default_expr is not None


def form_field(field: Field, editing: bool) -> FormField:
    readonly = field.computed or (field.readonly and editing)
    return FormField(
        name=field.name,
        label=field.label,
        help=field.help or (AUTO_HINT if field.default_expr and not editing else ""),
        widget="readonly" if readonly else field.type.widget,
        type=field.value_type.name,
        inputmode=field.value_type.inputmode,
        multiline=field.value_type.multiline,
        input_type=field.value_type.input_type,
        # Creating, a default fills a blank field; editing, defaults no longer apply.
        required=field.required and not readonly and (editing or not has_default(field)),
        options=tuple(field.options),
        choices=tuple((o, field.option_label(o)) for o in field.options),
        ref=field.ref,
        min=field.min,
        max=field.max,
        max_length=field.max_length,
        readonly=readonly,
        computed=field.computed,
    )


def form_spec(entity: Entity, editing: bool = False) -> FormSpec:
    """The entity's sections as fieldsets; fields no section names go last, computed at the end."""
    placed: set[str] = set()
    sections: list[FormSection] = []
    for section in entity.sections:
        names = [n for n in section.fields if n in entity.fields and n not in placed]
        placed.update(names)
        if names:
            fields = tuple(form_field(entity.fields[n], editing) for n in names)
            sections.append(FormSection(section.title, fields))
    rest = [f for f in entity.fields.values() if f.name not in placed and not f.computed]
    if rest:
        title = OTHER_SECTION if sections else entity.label
        sections.append(FormSection(title, tuple(form_field(f, editing) for f in rest)))
    computed = [f for f in entity.fields.values() if f.name not in placed and f.computed]
    if computed:
        fields = tuple(form_field(f, editing) for f in computed)
        sections.append(FormSection(COMPUTED_SECTION, fields))
    return FormSpec(entity.qualname, editing, tuple(sections))


def field_text(field: Field, value: Any) -> str:
    """A stored value as the text of its form input ("on" or "" for a checkbox)."""
    return field.value_type.form_value(value)


def record_values(entity: Entity, record: Mapping[str, Any]) -> dict[str, str]:
    """Input texts of an existing record, to fill an edit form."""
    return {f.name: field_text(f, record.get(f.name)) for f in entity.fields.values()}


def initial_values(entity: Entity, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Input texts of a new record: constant defaults, then values given (e.g. ?customer=3)."""
    values = {
        f.name: field_text(f, f.default) for f in entity.fields.values() if f.default is not None
    }
    for name, text in (given or {}).items():
        field = entity.fields.get(name)
        if field is not None and field.editable and text is not None:
            values[name] = text
    return values
