"""The daily refresh of computed fields that read the date (`refresh: daily`).

An invoice becomes overdue the day after its due date with nothing written to it. Its
status is still a stored column, so lists, filters, the API, reports and the
`[status, due_date]` index read it as they read any value; this job keeps it true: it
computes the `refresh: daily` fields (and the computed fields that read them) of every
record again, writes those whose value changed, and lets their parents and dependents
follow, as a parent refresh does (an `updated` event each, no audit row, no new version).
Every write computes these fields too, with the day's date, so only records nobody
wrote since yesterday can be a day behind, until the job runs: `formwork refresh`, from
cron or the scheduler, shortly after midnight. A passing day refuses nothing: checks are
not run here. One transaction per CHUNK records, so a long run blocks no writer for long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.appdef import Entity, Field
from engine.appdef.paths import computed_dependencies
from engine.appdef.plan import entity_plan
from engine.permissions import Principal
from engine.storage import fastexpr
from engine.storage.dependents import write_back
from engine.storage.derived import computed_value
from engine.storage.records import RefView, RelationView, normalise

if TYPE_CHECKING:
    from engine.storage.database import Database
    from engine.storage.repository import Repository

CHUNK = 2000


def daily_fields(db: Database, ent: Entity) -> tuple[Field, ...]:
    """The `refresh: daily` fields and the computed fields that read them, in order."""
    graph = computed_dependencies(db.appset)
    affected = {f.name for f in ent.computed_fields if f.refresh == "daily"}
    grown = True
    while grown:
        more = {
            f.name
            for f in ent.computed_fields
            if f.name not in affected
            and any(o == ent.qualname and d in affected for o, d in graph[(ent.qualname, f.name)])
        }
        affected |= more
        grown = bool(more)
    return tuple(f for f in entity_plan(db.appset, ent.qualname).computed_order
                 if f.name in affected)  # fmt: skip


def refresh_daily(db: Database, user: str = "daily refresh") -> Mapping[str, int]:
    """Compute the date-dependent fields of every record again; records changed, by entity."""
    repo = db.repository(Principal.system(user))
    counts: dict[str, int] = {}
    for ent in db.appset.entities():
        fields = daily_fields(db, ent)
        if not fields:
            continue
        table = db.table(ent.qualname)
        last, changed = 0, 0
        while True:
            with repo.transaction() as conn:
                stmt = sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(CHUNK)
                rows = [normalise(ent, r) for r in conn.execute(stmt).mappings()]
                if not rows:
                    break
                changed += _refresh_rows(repo, ent, fields, rows)
                last = rows[-1]["id"]
        counts[ent.qualname] = changed
    return counts


def _refresh_rows(
    repo: Repository, ent: Entity, fields: tuple[Field, ...], rows: list[dict[str, Any]]
) -> int:
    appset, loader = repo.db.appset, repo.loader
    used = {c[0] for f in fields for c in (f.expr.paths if f.expr else ())}
    relations = [r for r in ent.relations if r.name in used]
    for relation in relations:
        loader.fetch_children(relation, [r["id"] for r in rows])
    changed = []
    with fastexpr.exact():
        for current in rows:
            row = dict(current)
            names: dict[str, Any] = {"id": row["id"]}
            for f in ent.fields.values():
                value = row.get(f.name)
                ref = f.ref and value is not None
                names[f.name] = RefView(loader, appset, f.ref, value) if ref else value  # type: ignore[arg-type]
            for relation in relations:
                names[relation.name] = RelationView(loader.children(relation, row["id"]))
            for f in fields:
                value = fastexpr.evaluate(f.expr, names)  # type: ignore[arg-type]
                row[f.name] = names[f.name] = computed_value(ent, f, value, row)
            if any(row[f.name] != current.get(f.name) for f in fields):
                changed.append((current, row))
    for relation in relations:
        loader.children_cache.pop((relation.child, relation.field), None)
    write_back(repo, ent, [f.name for f in fields], changed)
    return len(changed)
