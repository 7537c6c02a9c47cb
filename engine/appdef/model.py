"""The loaded app definitions: frozen objects that know nothing of databases or HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.errors import Location, NotFound
from engine.expr import Expression
from engine.fieldtypes import FieldType
from engine.i18n import Text

if TYPE_CHECKING:
    from engine.appdef.automations import Automation
    from engine.appdef.generate import Generator
    from engine.appdef.imports import ImportProfile
    from engine.appdef.matching import Matching
    from engine.appdef.reports import Report

ROLES = ("admin", "editor", "clerk", "collector", "viewer")
ACTIONS = ("read", "create", "update", "delete")
DEFAULT_PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "read": frozenset(ROLES),
        "create": frozenset({"admin", "editor", "clerk"}),
        "update": frozenset({"admin", "editor", "clerk"}),
        "delete": frozenset({"admin", "editor"}),
    }
)
SYSTEM_COLUMNS = ("id", "version", "created_at", "updated_at", "created_by", "updated_by")


def frozen_map(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Field:
    """One field. Its texts (label, help, option labels) are engine.i18n.Text: a `str` in
    English that interfaces show in the reader's language with `localize`."""

    name: str
    type: FieldType
    location: Location
    label: str
    help: str = ""
    required: bool = False
    unique: bool = False
    index: bool = False
    readonly: bool = False
    default: Any = None
    default_expr: Expression | None = None
    min: Any = None
    max: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    options: tuple[str, ...] = ()
    # What people see for each option, per language (engine.i18n.Text); see option_label.
    option_labels: Mapping[str, str] = field(default_factory=frozen_map)
    ref: str | None = None  # qualified target entity, "app.entity"
    on_delete: str = "restrict"
    expr: Expression | None = None  # computed fields
    result: str | None = None  # computed fields: the result type's name
    currency_field: str | None = None  # money fields
    # "daily": a computed field that reads today(), stored and computed again each day
    # (engine.storage.daily), so lists, filters and indexes see the date's value.
    refresh: str | None = None

    @property
    def computed(self) -> bool:
        return self.expr is not None

    def option_label(self, value: str) -> str:
        """`in_progress` as people read it: its label, or "In progress"."""
        return self.option_labels.get(value) or Text(value.replace("_", " ").capitalize())

    @property
    def editable(self) -> bool:
        return not (self.computed or self.readonly)

    @cached_property
    def value_type(self) -> FieldType:
        """The type of the stored value (a computed field's result type)."""
        return self.type.result(self)


@dataclass(frozen=True)
class Check:
    when: Expression
    message: str
    field: str | None
    location: Location


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Relation:
    """A one-to-many link seen from the parent: `child` records whose `field` points here."""

    name: str  # how expressions and pages call it: the child entity's name
    child: str  # qualified child entity
    field: str  # the child's ref field


@dataclass(frozen=True)
class Entity:
    app: str
    name: str
    location: Location
    label: str
    plural: str
    display: str
    fields: Mapping[str, Field]
    checks: tuple[Check, ...] = ()
    list_columns: tuple[str, ...] = ()
    list_filters: tuple[str, ...] = ()
    default_sort: tuple[tuple[str, bool], ...] = (("id", True),)  # (field, descending)
    page_size: int = 50
    search: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    sections: tuple[Section, ...] = ()
    permissions: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_PERMISSIONS)
    relations: tuple[Relation, ...] = ()
    description: str = ""

    @property
    def qualname(self) -> str:
        return f"{self.app}.{self.name}"

    @property
    def table_name(self) -> str:
        return f"{self.app}_{self.name}"

    @property
    def computed_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields.values() if f.computed)

    def allows(self, role: str | None, action: str) -> bool:
        return role is not None and role in self.permissions.get(action, frozenset())

    def field(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise NotFound(f"{self.qualname} has no field {name!r}") from None


@dataclass(frozen=True)
class App:
    name: str
    title: str
    location: Location
    entities: Mapping[str, Entity]
    uses: tuple[str, ...] = ()
    description: str = ""
    # The other registered sections (engine.appdef.sections), built to typed definitions.
    imports: Mapping[str, ImportProfile] = field(default_factory=frozen_map)
    matching: Matching | None = None
    automations: Mapping[str, Automation] = field(default_factory=frozen_map)
    reports: Mapping[str, Report] = field(default_factory=frozen_map)
    generate: Mapping[str, Generator] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class AppSet:
    """Every loaded app; entities are found by qualified name, `app.entity`."""

    apps: Mapping[str, App]

    def entity(self, qualname: str) -> Entity:
        app, _, name = qualname.partition(".")
        try:
            return self.apps[app].entities[name]
        except KeyError:
            raise NotFound(f"no entity {qualname!r}") from None

    def entities(self) -> list[Entity]:
        return [e for app in self.apps.values() for e in app.entities.values()]
