"""Expressions compiled for a record being written (fastexpr.RowScope) give the
evaluator's values: every expression of the apps, on random records whose refs point at
real, missing or no records, and whose relations have children or none.

When a compiled function raises, the write runs the evaluator instead (its value or
located error is the answer), so only the values it returns are compared here; the last
test makes sure it returns for the usual record, or the comparison would prove little.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.appdef import AppSet, Entity
from engine.expr import ExpressionError, compile_expression
from engine.permissions import Principal
from engine.storage import Database, fastexpr
from engine.storage.records import RefView, RelationView

ENTITIES = [
    "receivables.invoice",
    "receivables.allocation",
    "receivables.bank_line",
    "receivables.instalment",
    "receivables.credit_note",
    "receivables.write_off",
    "receivables.customer",
    "receivables.payment_terms",
]
MISSING = 10**9  # an id no record has
# Beyond the apps' own: refs and relations where the evaluator sees a RefView or a
# RelationView (a missing record's view is empty, so falsy; views of two entities differ
# at the same id), names that are not fields, a path through two refs.
EXTRA = {
    "receivables.invoice": [
        "customer", "not customer", "customer == payment_terms", "customer == 1",
        "customer + 1", "coalesce(payment_terms, customer)", "[customer, 1]",
        "customer.name", "customer.nothing", "payment_terms.last_days + 1", "id",
        "count(allocation)", "allocation", "sum(allocation.amount) + amount",
        "customer if disputed else None", "customer is None", "None is not customer",
        "unknown", "amount.x", "0 < amount <= 100", "amount in (1, 2)",
        # parts made only of constants, worked out when compiling (for a new record, sums
        # over its relations too)
        "sum(allocation.amount) * 2 + amount", "count(allocation.amount) == 0",
        "max(allocation.amount)", "1 / 0 + amount", "round(2.5) + amount", "2 ** 3 ** 2",
        "[1, 2] + [amount]", "'ab' * 2", "days(3) + issue_date", "days_until(issue_date)",
        "-sum(write_off.amount) if disputed else abs(-2)", "sum([1, 2.5]) + id",
    ],
    "receivables.allocation": [
        "invoice.customer", "invoice.customer.name", "invoice.customer == bank_line",
        "bank_line.amount - amount", "credit_note.customer != invoice.customer",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def written(appset: AppSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A database with one record of each kind an expression may follow a ref to."""
    db = Database(appset, f"sqlite:///{tmp_path_factory.mktemp('rowexpr')}/r.db")
    db.migrate()
    repo = db.repository(Principal.system("test"))
    ids: dict[str, list[int]] = {}
    customer = repo.create("receivables.customer", {"name": "ACME", "currency": "USD"})
    ids["receivables.customer"] = [customer["id"]]
    terms = repo.create("receivables.payment_terms", {"name": "30/70"})
    for days, percent in ((30, "30"), (60, "70")):
        repo.create(
            "receivables.payment_terms_line",
            {"payment_terms": terms["id"], "days": days, "percent": Decimal(percent)},
        )
    ids["receivables.payment_terms"] = [terms["id"]]
    invoice = repo.create(
        "receivables.invoice",
        {
            "number": "INV-1",
            "customer": customer["id"],
            "issue_date": dt.date(2026, 1, 5),
            "amount": Decimal("100.00"),
            "payment_terms": terms["id"],
        },
    )
    ids["receivables.invoice"] = [invoice["id"]]
    line = repo.create(
        "receivables.bank_line",
        {"date": dt.date(2026, 2, 1), "amount": Decimal("40.00"), "currency": "USD"},
    )
    ids["receivables.bank_line"] = [line["id"]]
    credit = repo.create(
        "receivables.credit_note",
        {
            "number": "CN-1",
            "customer": customer["id"],
            "date": dt.date(2026, 2, 2),
            "amount": Decimal("10.00"),
            "reason": "discount",
        },
    )
    ids["receivables.credit_note"] = [credit["id"]]
    repo.create(
        "receivables.allocation",
        {"bank_line": line["id"], "invoice": invoice["id"], "amount": Decimal("40.00")},
    )
    yield repo, ids
    db.dispose()


def values_of(field: Any, ids: dict[str, list[int]]) -> st.SearchStrategy[Any]:
    """Typed values a row of the write may hold for `field` (always None among them)."""
    name = field.value_type.name
    if field.ref:
        return st.sampled_from([None, MISSING, *ids.get(field.ref, [])])
    if name in ("money", "decimal"):
        return st.sampled_from(
            [None, Decimal(0), Decimal("0.00"), Decimal("100.00"), Decimal("-3.5"), Decimal("1e3")]
        )
    if name == "integer":
        return st.sampled_from([None, 0, 30, -1, 3650])
    if name == "date":
        return st.sampled_from([None, dt.date(2026, 1, 1), dt.date(2030, 6, 30)])
    if name == "boolean":
        return st.sampled_from([None, True, False])
    if name == "currency":
        return st.sampled_from([None, "EUR", "USD", "JPY"])
    options = list(field.options or ())
    return st.sampled_from([None, "", "x", *options])


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def per_entity(test: Any) -> Any:
    """A property test run for each entity, on the records hypothesis draws."""
    return PROPERTY(pytest.mark.parametrize("qualname", ENTITIES)(given(data=st.data())(test)))


def draw_record(
    data: st.DataObject, ent: Entity, ids: dict[str, list[int]]
) -> tuple[dict[str, Any], int | None]:
    """A record of `ent` as a write may hold it, and its id (None: not written yet)."""
    row = {name: data.draw(values_of(f, ids), label=name) for name, f in ent.fields.items()}
    record_id = data.draw(st.sampled_from([None, MISSING, *ids.get(ent.qualname, [])]), label="id")
    return row, record_id


def shown(value: Any) -> Any:
    """A value to compare: its type and exact form (Decimal('1.0') is not Decimal('1.00'))."""
    if isinstance(value, RefView):
        return ("ref", value.qualname, value.id)
    if isinstance(value, RelationView):
        return ("children", [r["id"] for r in value.rows])
    if isinstance(value, list):
        return [shown(v) for v in value]
    return (type(value).__name__, repr(value))


def expressions(ent: Entity, extra: bool = False) -> list[Any]:
    return [
        *(f.expr for f in ent.fields.values() if f.expr),
        *(f.default_expr for f in ent.fields.values() if f.default_expr),
        *(c.when for c in ent.checks),
        *(compile_expression(e) for e in (EXTRA.get(ent.qualname, []) if extra else [])),
    ]


def test_every_expression_of_the_apps_compiles_for_rows(appset: AppSet) -> None:
    """None of them is left to the evaluator for want of a compiled form."""
    for ent in appset.entities():
        for expr in expressions(ent):
            assert fastexpr.compile_for_rows(expr, appset, ent) is not None, expr.source


@per_entity
def test_compiled_row_expressions_agree_with_the_evaluator(
    written: Any, appset: AppSet, qualname: str, data: st.DataObject
) -> None:
    repo, ids = written
    ent = appset.entity(qualname)
    row, record_id = draw_record(data, ent, ids)
    with repo.transaction(), fastexpr.exact():
        derivation = repo.validator.derivation
        for expr in expressions(ent, extra=True):
            # a record being created (no id) has its own functions, without children
            for new in (False, True) if record_id is None else (False,):
                function = fastexpr.compile_for_rows(expr, appset, ent, new)
                assert function is not None
                try:
                    fast = function(row, record_id, repo.loader)
                except Exception:
                    continue  # the write asks the evaluator: nothing compiled to compare
                try:
                    expected = expr.evaluate(derivation.context(ent, row, record_id))
                except ExpressionError as exc:
                    pytest.fail(f"{expr.source}: compiled gave {fast!r}, the evaluator: {exc}")
                assert shown(fast) == shown(expected), (expr.source, new)


def test_compiled_functions_return_for_the_usual_record(written: Any, appset: AppSet) -> None:
    """An invoice as an import writes it: every expression runs compiled, none falls back."""
    repo, ids = written
    ent = appset.entity("receivables.invoice")
    row = {
        "number": "INV-9",
        "customer": ids["receivables.customer"][0],
        "issue_date": dt.date(2026, 3, 1),
        "due_date": dt.date(2026, 3, 31),
        "currency": "USD",
        "amount": Decimal("12.50"),
        "disputed": False,
        "paid_amount": Decimal("0.00"),
        "written_off_amount": Decimal("0.00"),
        "bad_debt_amount": Decimal("0.00"),
        "open_amount": Decimal("12.50"),
        "overdue_amount": Decimal("0.00"),
    }
    with repo.transaction(), fastexpr.exact():
        for expr in expressions(ent):
            function = fastexpr.compile_for_rows(expr, appset, ent)
            assert function is not None
            function(row, None, repo.loader)  # raises if it would fall back


@per_entity
def test_one_program_per_entity_derives_what_the_steps_derive(
    written: Any, appset: AppSet, qualname: str, data: st.DataObject
) -> None:
    """derive's one function for all computed values and checks of a record stores the same
    values and finds the same failed checks as the expressions run one at a time."""
    repo, ids = written
    ent = appset.entity(qualname)
    row, record_id = draw_record(data, ent, ids)
    with repo.transaction(), fastexpr.exact():
        derivation = repo.validator.derivation
        shape = derivation.shape(ent)
        program = shape.program if record_id is not None else shape.created
        assert program is not None
        try:
            failed = program(dict(row), record_id, repo.loader)
        except Exception:
            failed = None  # derive takes the steps then: nothing of its own to compare
        one, one_errors = dict(row), {}
        derivation.derive(ent, one, record_id, one_errors)
        derivation.shapes[id(ent)] = (ent, dataclasses.replace(shape, program=None, created=None))
        steps, step_errors = dict(row), {}
        derivation.derive(ent, steps, record_id, step_errors)
    assert [shown(one[k]) for k in one] == [shown(steps[k]) for k in steps]
    assert list(one_errors.items()) == list(step_errors.items())
    if failed is not None:
        assert failed == step_errors


@per_entity
def test_the_program_for_creates_derives_what_the_general_one_derives(
    written: Any, appset: AppSet, qualname: str, data: st.DataObject
) -> None:
    """A record not written yet has no children: the program written for creates (its sums
    over relations worked out once) stores what the general program stores."""
    repo, ids = written
    ent = appset.entity(qualname)
    row, _ = draw_record(data, ent, ids)
    with repo.transaction(), fastexpr.exact():
        shape = repo.validator.derivation.shape(ent)
        assert shape.program is not None and shape.created is not None
        results = []
        for program in (shape.created, shape.program):
            stored = dict(row)
            try:
                failed: Any = program(stored, None, repo.loader)
            except Exception as exc:
                failed = type(exc)
            results.append(([shown(stored[k]) for k in stored], failed))
    assert results[0] == results[1]
