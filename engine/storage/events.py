"""Record events: what the automation engine listens to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordEvent:
    kind: str  # created | updated | deleted
    entity: str  # qualified name, app.entity
    record_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    user: str | None

    @property
    def changed(self) -> frozenset[str]:
        """Names of the fields whose value differs between before and after."""
        before, after = self.before or {}, self.after or {}
        keys = set(before) | set(after)
        return frozenset(k for k in keys if before.get(k) != after.get(k))
