"""Who may do what: the principal every read and write carries, and the policy over it.

The rules live here, not in `web/`, because the Reader and the Repository call them at
their public entry points: the UI, the JSON API, the CLI, imports, automations and the
customer portal then get the same answer, and a new interface cannot forget a check.

Default deny: a principal may do an action on an entity only when the entity's
`permissions` (from the YAML) list its role for that action. A principal without a
role, or with a role the engine does not know, may do nothing. `Principal.system(name)`
is the one exception, for code that acts on its own authority (the CLI, the demo,
imports run by an operator, automations): it may do everything, and `name` is what the
audit trail records.

Scope narrows a principal to the records of some parent records, for the customer
portal: `scope={"receivables.customer": 42}` lets it see customer #42 itself and the
records whose ref points straight at it (its invoices, its notes). Records that reach
the customer only through a chain of refs (an allocation, through its invoice) are not
followed yet: to a scoped principal such entities are refused as a whole, which is the
safe side of default deny. When an entity has several refs to a scoped entity, a record
is in scope when any of them points at the scoped record.

What hiding means, so that nobody can probe for records they may not read:
- an entity the principal may not read at all is refused (PermissionDenied, HTTP 403)
  whatever the id asked for, so the answer says nothing about which records exist;
- labels of refs to it are just "#id" (the id is part of the readable record already);
- a record outside the principal's scope is "not found", exactly as a missing one;
- a ref to a record the principal may not see cannot be set: the message is the same
  whether or not the record exists.

Defaults, computed fields and checks are worked out by the engine over every record
whoever writes: a computed field that copies a closed entity's data into a readable
one shows what its definition chose to show.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from engine.appdef import ROLES
from engine.errors import PermissionDenied
from engine.i18n import _

if TYPE_CHECKING:
    from engine.appdef import AppSet, Entity

SYSTEM_ROLE = "system"
ACTIONS = ("read", "create", "update", "delete")


@dataclass(frozen=True)
class Principal:
    """The user an operation runs for, their role, and optionally the records they are
    limited to (`scope`: entity qualname -> record id)."""

    user: str | None
    role: str | None
    scope: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.scope is not None:
            scope = {}
            for qualname, record_id in dict(self.scope).items():
                if "." not in str(qualname) or isinstance(record_id, bool):
                    raise ValueError(f"scope {qualname!r}: {record_id!r} is not app.entity: id")
                scope[str(qualname)] = int(record_id)
            object.__setattr__(self, "scope", MappingProxyType(scope))

    def __hash__(self) -> int:
        return hash((self.user, self.role, tuple(sorted((self.scope or {}).items()))))

    @classmethod
    def system(cls, name: str) -> Principal:
        """The engine acting on its own authority (CLI, demo, imports, automations)."""
        return cls(name, SYSTEM_ROLE)

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM_ROLE and not self.scope


ANONYMOUS = Principal(None, None)


class _UserLike(Protocol):
    username: str
    role: str


def principal_of(user: _UserLike | None) -> Principal:
    """The principal of a logged-in user (engine.auth.User or the web's user object).

    Only the roles the engine knows count: a stored role of "system" grants nothing.
    """
    if user is None or not getattr(user, "active", True):
        return ANONYMOUS
    role = user.role if user.role in ROLES else None
    return Principal(user.username, role)


def _scope_fields(principal: Principal, entity: Entity) -> list[tuple[str, int]]:
    """(field, record id) pairs, any of which puts a record of `entity` in scope."""
    scope = principal.scope or {}
    pairs = [("id", scope[entity.qualname])] if entity.qualname in scope else []
    pairs += [
        (f.name, scope[f.ref])
        for f in entity.fields.values()
        if f.ref is not None and f.ref in scope and f.ref != entity.qualname
    ]
    return pairs


def can(principal: Principal, entity: Entity, action: str) -> bool:
    """May `principal` do `action` (read, create, update, delete) on records of `entity`?"""
    if principal.is_system:
        return True
    if principal.role not in ROLES or not entity.allows(principal.role, action):
        return False
    return not principal.scope or bool(_scope_fields(principal, entity))


def require(principal: Principal, entity: Entity, action: str) -> None:
    """Raise PermissionDenied unless `can(principal, entity, action)`."""
    if not can(principal, entity, action):
        raise PermissionDenied(denied_message(principal, entity, action))


def denied_message(principal: Principal, entity: Entity, action: str) -> str:
    """Why `action` is refused, for the person who tried (one message per action, so that
    each translates as a whole sentence)."""
    plural = entity.plural.lower()
    if principal.role not in ROLES:
        return _("you have no role that may see or change %(plural)s", plural=plural)
    if principal.scope and entity.allows(principal.role, action):
        return _("%(plural)s are outside what you may see", plural=plural)
    role = principal.role
    if action == "read":
        return _("the %(role)s role may not read %(plural)s", role=role, plural=plural)
    if action == "create":
        return _("the %(role)s role may not create %(plural)s", role=role, plural=plural)
    if action == "update":
        return _("the %(role)s role may not change %(plural)s", role=role, plural=plural)
    return _("the %(role)s role may not delete %(plural)s", role=role, plural=plural)


def scope_filter(principal: Principal, entity: Entity) -> list[tuple[str, int]] | None:
    """None when the principal sees every record of `entity`; else the (field, id) pairs
    of which a visible record matches at least one (an empty list: none is visible)."""
    if not principal.scope or principal.is_system:
        return None
    return _scope_fields(principal, entity)


def in_scope(principal: Principal, entity: Entity, row: Mapping[str, Any]) -> bool:
    """Whether a record (as a dict of values) is one the principal may see."""
    pairs = scope_filter(principal, entity)
    return pairs is None or any(row.get(name) == value for name, value in pairs)


def readable(principal: Principal, appset: AppSet) -> Iterator[Entity]:
    """The entities whose records the principal may read, in definition order."""
    return (e for e in appset.entities() if can(principal, e, "read"))


__all__ = [
    "ANONYMOUS", "Principal", "can", "denied_message", "in_scope", "principal_of",
    "readable", "require", "scope_filter",
]  # fmt: skip
