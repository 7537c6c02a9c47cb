"""The refresh of parents that sum over the records just written, set-based.

When allocations are written, the invoices and bank lines they point at hold sums over
them (`paid_amount: sum(allocation.amount)`), and the customers over those invoices. A
write of 100,000 allocations touches 200,000 parents: they are refreshed per parent
entity and batch, not per record. One statement per CHUNK of parents reads the columns
their computed fields and checks need, with the sums over their children as correlated
subqueries (the database adds them up, from its index on the ref); the computed fields
are evaluated from those, by the same code as on a write (money at its currency); the
checks of the parents whose values changed run on the same freshly read values; the
changed ones are written with one executemany, and their own parents follow.

A refresh changes no version number and writes no audit row of its own: it follows from
the audited write that caused it; listeners still hear an `updated` event for each parent
whose values changed (with whole records: the parents are then read whole).

Within `deferred()` (an import of many chunks in one transaction), the parents are only
collected, and refreshed once at its end: each parent once, however many chunks touched it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import money
from engine.appdef import Entity
from engine.errors import ValidationError
from engine.storage import dependents, fastexpr, idlist
from engine.storage.audit import Change
from engine.storage.derived import Derivation, currency_field, run_checks
from engine.storage.records import CHUNK, RefView, RelationView, normalise
from engine.storage.sqlexpr import SetPlan, set_plan
from engine.storage.writes import result_converters, update_by_id

SET_CHUNK = 5000  # parents per statement of the SQL refresh
SET_BASED = True  # off: every parent is refreshed in Python (tests compare the two)

if TYPE_CHECKING:
    from engine.storage.database import Database


def _rounds_off(
    rounded: Sequence[tuple[int, int | None, int]], sqlite: bool
) -> Callable[[Sequence[Any], Sequence[Any]], bool]:
    """Whether any money value read back raw is not at its currency's places (Python must
    round it), for the (index among the new values, index of the currency in the row or
    None, scale) of each: on SQLite a whole number of 10**-scale units, a multiple of the
    units of the currency's last place, worked out once per currency and scale."""
    units: dict[tuple[str | None, int], int] = {}

    def rounds_off(new: Sequence[Any], row: Sequence[Any]) -> bool:
        for i, at, scale in rounded:
            value = new[i]
            if value is None:
                continue
            currency = row[at] if at else None
            if not sqlite:
                if money.round_money(value, currency) != value:
                    return True
                continue
            unit = units.get((currency, scale))
            if unit is None:
                unit = units[(currency, scale)] = 10 ** max(scale - money.places(currency), 0)
            if unit > 1 and value % unit:
                return True
        return False

    return rounds_off


class ParentRefresh:
    """Recomputes the parents that sum over records just written, in the same transaction.

    `changed(entity, changes)` is told of every parent whose values changed (the events);
    `label(entity, row)` names a parent in an error ("INV-7: ...").
    """

    def __init__(
        self,
        db: Database,
        conn: sa.Connection,
        derivation: Derivation,
        changed: Callable[[Entity, list[Change]], None],
        label: Callable[[Entity, dict[str, Any]], str],
    ):
        self.db, self.conn, self.derivation = db, conn, derivation
        self.loader = derivation.loader
        self.changed, self.label = changed, label
        # parent qualname -> (ids to refresh, the child's ref field that named them first)
        self.pending: dict[str, tuple[set[int], str]] = {}
        self.defer = 0
        self.set_plans: dict[str, SetPlan | None] = {}

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect the parents to refresh; refresh them once, at the end of the block."""
        self.defer += 1
        try:
            yield
        finally:
            self.defer -= 1
        if not self.defer:
            self.flush()

    def parents_of(
        self,
        ent: Entity,
        after: Sequence[Mapping[str, Any]],
        before: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Refresh the parents that the rows of `ent` point at, before and after the write."""
        self._collect(ent, [*after, *(before or [])])
        if not self.defer:
            self.flush()

    def _collect(self, ent: Entity, rows: Sequence[Mapping[str, Any]]) -> None:
        for parent_name, ref_field in self.derivation.plan(ent).parents:
            ids = {v for r in rows if (v := r.get(ref_field)) is not None}
            if ids:
                known, _field = self.pending.setdefault(parent_name, (set(), ref_field))
                known |= ids

    def flush(self) -> None:
        """Refresh what was collected: children before the parents that sum over them."""
        while self.pending:
            name = self._next()
            ids, ref_field = self.pending.pop(name)
            try:
                with fastexpr.exact():
                    self._refresh(self.db.appset.entity(name), sorted(ids))
            except ValidationError as exc:
                self.pending.clear()
                # Shown beside the field that links to the parent: "invoice: INV-7: ..."
                raise ValidationError({ref_field: "; ".join(exc.errors.values())}) from None

    def _next(self) -> str:
        """A pending entity that no other pending one sums up into (directly or not)."""
        plans = self.derivation.plan
        appset = self.db.appset

        def above(name: str, seen: set[str]) -> set[str]:
            for parent, _ in plans(appset.entity(name)).parents:
                if parent not in seen:
                    seen.add(parent)
                    above(parent, seen)
            return seen

        names = list(self.pending)
        higher = {p for n in names for p in above(n, set()) if p != n}
        return next((n for n in names if n not in higher), names[0])

    def _lock(self, table: sa.Table, ids: list[int]) -> None:
        # PostgreSQL: wait for concurrent writers of these parents, then read the children:
        # a sum read before their commit would be written back over theirs (a lost update).
        # NO KEY UPDATE, as the UPDATE below takes: it does not wait for the key-share
        # locks that inserting the children took, so two writers cannot deadlock on them.
        # (SQLite's writers hold the whole database from BEGIN IMMEDIATE on.)
        if self.db.dialect != "postgresql":
            return
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            lock = sa.select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id)
            self.conn.execute(lock.with_for_update(key_share=True))

    def _columns(self, ent: Entity) -> list[str]:
        """The columns a refresh reads: what the computed fields and checks read, the
        computed fields, the currencies of money, the refs up to the grandparents; all
        of them when listeners hear the changes (an event carries whole records)."""
        table = self.db.table(ent.qualname)
        if self.db.listeners:
            return [c.name for c in table.columns]
        plan = self.derivation.plan(ent)
        names = {n for n in plan.reads if n in ent.fields}
        names |= {f.name for f in ent.computed_fields}
        names |= {field for parent, field in plan.parents}
        for name in list(names):
            if ent.fields[name].value_type.uses_currency and (source := currency_field(ent, name)):
                names.add(source)
        return ["id", *sorted(names)]

    def _read(self, ent: Entity, ids: list[int]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Each parent's columns, and the sums over its children as one synthetic child
        (`sum(rel.field)` over it is the same total), relation name -> {field: total}."""
        table = self.db.table(ent.qualname)
        columns = [table.c[n] for n in self._columns(ent)]
        sums: list[tuple[str, str, sa.Label[Any]]] = []
        for relation_name, fields in self.derivation.plan(ent).summed:
            relation = next(r for r in ent.relations if r.name == relation_name)
            child = self.db.table(relation.child)
            for f in fields:
                total = (
                    sa.select(sa.func.sum(child.c[f]))
                    .where(child.c[relation.field] == table.c.id)
                    .scalar_subquery()
                )
                sums.append((relation_name, f, total.label(f"_sum_{len(sums)}")))
        width = len(columns)
        keys = [c.name for c in columns]
        chunk_ids = idlist.param(self.db.dialect == "sqlite")
        stmt = sa.select(*columns, *(s for _, _, s in sums))
        stmt = stmt.where(idlist.among(table.c.id, chunk_ids))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for values in self.conn.execute(stmt, {"ids": idlist.bound(chunk_ids, chunk)}):
                row = normalise(ent, dict(zip(keys, values[:width], strict=True)))
                totals: dict[str, dict[str, Any]] = {}
                for (relation_name, f, _), total in zip(sums, values[width:], strict=True):
                    if total is not None:
                        totals.setdefault(relation_name, {})[f] = total
                yield row, totals

    def _refresh(self, ent: Entity, ids: list[int]) -> None:
        """Recompute the stored computed fields of these records; write the ones that changed.

        In SQL when the expressions translate (sqlexpr.py) and no listener needs whole
        records; the rows SQL cannot vouch for, and every row otherwise, in Python.
        """
        self._lock(self.db.table(ent.qualname), ids)
        plan = None if self.db.listeners or not SET_BASED else self._set_plan(ent)
        if plan is not None:
            ids = self._refresh_set(ent, ids, plan)
        if ids:
            self._refresh_rows(ent, ids)

    def _set_plan(self, ent: Entity) -> SetPlan | None:
        key = ent.qualname
        if key not in self.set_plans:
            self.set_plans[key] = set_plan(self.db, ent)
        return self.set_plans[key]

    def _refresh_set(self, ent: Entity, ids: list[int], plan: SetPlan) -> list[int]:
        """The refresh in SQL: one statement per SET_CHUNK of parents computes their new
        values; the changed ones are written in one executemany. Returns the ids to
        refresh in Python: a blank input, a money value its currency rounds, a failed check
        (Python names it), a number SQLite could not keep whole."""
        table = self.db.table(ent.qualname)
        sqlite = self.db.dialect == "sqlite"
        refs = [field for _, field in self.derivation.plan(ent).parents]
        currencies = [currency_field(ent, c.name) if c.money else None for c in plan.computed]
        sources = sorted({c for c in currencies if c})
        names = [c.name for c in plan.computed]
        blank = plan.python
        failed = sa.false() if plan.check is None else plan.check
        selected = [
            table.c.id,
            *(table.c[n] for n in refs + sources),
            *(table.c[n] for n in names),
            *(c.expr for c in plan.computed),
            sa.case((blank, 1), else_=0),
            sa.case((failed, 1), else_=0),
        ]
        raw = [sa.type_coerce(e, sa.types.NullType()) for e in selected]
        width, start_new = len(names), 1 + len(refs) + len(sources)
        # (index of a money value, column of its currency or None: no currency, 2 places)
        scales = [getattr(table.c[n].type, "scale", 0) for n in names]
        rounds_off = _rounds_off(
            [
                (i, sources.index(c) + 1 + len(refs) if c else None, scales[i])
                for i, (c, computed) in enumerate(zip(currencies, plan.computed, strict=True))
                if computed.money
            ],
            sqlite,
        )
        slow: list[int] = []
        changed: list[dict[str, Any]] = []
        befores: list[dict[str, Any]] = []
        # records elsewhere read these parents' fields through a ref (dependents.py)
        followed = bool(dependents.plan(self.db.appset).get(ent.qualname))
        stmt = sa.select(*raw).select_from(plan.source).where(idlist.among(table.c.id, plan.ids))
        for start in range(0, len(ids), SET_CHUNK):
            chunk = ids[start : start + SET_CHUNK]
            for row in self.conn.execute(stmt, {"ids": idlist.bound(plan.ids, chunk)}):
                record_id: Any = row[0]
                if row[-2]:
                    slow.append(record_id)
                    continue
                current = row[start_new : start_new + width]
                new = row[start_new + width : start_new + 2 * width]
                if rounds_off(new, row) or (sqlite and float in map(type, new)):
                    slow.append(record_id)
                    continue
                if tuple(current) == tuple(new):
                    continue
                if row[-1]:
                    slow.append(record_id)
                    continue
                values = dict(zip(names, new, strict=True))
                values["id"] = record_id
                for i, field in enumerate(refs, start=1):
                    values[field] = row[i]
                changed.append(values)
                if followed:
                    befores.append(dict(zip(names, current, strict=True)))
        if changed:
            update_by_id(self.conn, table, names, changed, raw=True)
            self.loader.forget(ent.qualname, [r["id"] for r in changed])
            if followed:
                self._followed(ent, names, befores, changed)
            self._collect(ent, changed)
        return slow

    def _followed(
        self,
        ent: Entity,
        names: list[str],
        befores: list[dict[str, Any]],
        afters: list[dict[str, Any]],
    ) -> None:
        """Tell `changed` (the records reading these parents' fields through a ref follow
        it: storage/dependents.py) of the computed values that changed, typed: those that
        the dependents read. No listener hears them: with listeners, parents are refreshed
        in Python, whole."""
        convert: dict[str, Any] = {}
        if self.conn.dialect.name == "sqlite":  # elsewhere the driver gave typed values
            convert = result_converters(self.db.table(ent.qualname), self.conn.dialect)
        # only the fields the dependents read, typed: the others are no one's business
        read = set().union(*(f for _, _, f in dependents.plan(self.db.appset)[ent.qualname]))
        steps = [(n, convert.get(n)) for n in names if n in read]

        def typed(row: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for name, step in steps:
                value = row[name]
                out[name] = value if step is None or value is None else step(value)
            return out

        items: list[Change] = [
            (a["id"], typed(b), typed(a)) for b, a in zip(befores, afters, strict=True)
        ]
        self.changed(ent, items)

    def _refresh_rows(self, ent: Entity, ids: list[int]) -> None:
        """The refresh in Python: each record read, computed and checked as on a write."""
        table = self.db.table(ent.qualname)
        loader, derivation, appset = self.loader, self.derivation, self.db.appset
        plan = derivation.plan(ent)
        summed = {name for name, _ in plan.summed}
        for relation in ent.relations:
            loader.children_cache.pop((relation.child, relation.field), None)
            if relation.name not in summed and relation.name in plan.reads:
                loader.fetch_children(relation, ids)
        refs = [(n, f.ref) for n in plan.reads if (f := ent.fields.get(n)) is not None and f.ref]
        relations = [r for r in ent.relations if r.name in plan.reads]
        computed = [f.name for f in ent.computed_fields]
        changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for current, totals in self._read(ent, ids):
            record_id = current["id"]
            row = dict(current)
            context: dict[str, Any] = {"id": record_id}
            for name in plan.reads:
                if name in row:
                    context[name] = row[name]
            for name, target in refs:
                if row[name] is not None:
                    context[name] = RefView(loader, appset, target, row[name])
            for relation in relations:
                if relation.name in summed:
                    total = totals.get(relation.name)
                    context[relation.name] = RelationView([total] if total else [])
                else:
                    context[relation.name] = RelationView(loader.children(relation, record_id))
            errors: dict[str, str] = {}
            derivation.compute(ent, row, context, errors)
            if any(row[n] != current[n] for n in computed):
                # A record's checks hold whoever changes it, also through related records.
                run_checks(ent, context, errors)
                changed.append((current, row))
            if errors:
                label = self.label(ent, loader.get(ent.qualname, record_id) or row)
                raise ValidationError({k: f"{label}: {v}" for k, v in errors.items()})
        for relation in relations:  # the children read here are no longer needed
            loader.children_cache.pop((relation.child, relation.field), None)
        if not changed:
            return
        update_by_id(self.conn, table, computed, [r for _, r in changed])
        loader.forget(ent.qualname, [r["id"] for _, r in changed])
        self.changed(ent, [(r["id"], b, r) for b, r in changed])
        self._collect(ent, [r for _, r in changed])
