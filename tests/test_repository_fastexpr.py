"""The write path's compiled expressions give exactly the evaluator's values and errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.expr import ExpressionError, compile_expression
from engine.storage import fastexpr


class Record(dict):
    """A referenced record as expressions see it (a Mapping of its fields)."""


CONTEXTS = [
    {
        "amount": Decimal("100.00"),
        "paid_amount": Decimal("0"),
        "open_amount": Decimal("100.00"),
        "issue_date": dt.date(2026, 3, 1),
        "due_date": dt.date(2026, 2, 1),
        "customer": Record(payment_terms_days=30, currency="EUR", name="ACME"),
        "allocation": Record(amount=[Decimal("1.50"), Decimal("2"), None]),
        "memo": "Payment INV-7 thanks",
        "number": "INV-7",
        "n": 7,
        "flag": True,
    },
    {
        "amount": None,
        "paid_amount": Decimal("100.00"),
        "open_amount": Decimal("-1"),
        "issue_date": None,
        "due_date": dt.date(2026, 2, 1),
        "customer": None,
        "allocation": Record(amount=[]),
        "memo": None,
        "number": "",
        "n": 0,
        "flag": False,
    },
]

SOURCES = [
    "amount - paid_amount",
    "'paid' if open_amount <= 0 else ('partial' if paid_amount > 0 else 'open')",
    "sum(allocation.amount)",
    "issue_date + days(coalesce(customer.payment_terms_days, 30))",
    "customer.currency",
    "due_date < issue_date",
    "paid_amount > amount",
    "amount > 0 and paid_amount >= 0 or flag",
    "not flag",
    "-amount",
    "0 < n <= 10",
    "n in (1, 7, 9)",
    "number not in ['INV-1', 'INV-2']",
    "contains(memo, number)",
    "lower(memo)",
    "round(amount / 3, 2)",
    "n % 2",
    "n // 0",
    "amount * 1.5",
    "2 ** n",
    "max(amount, paid_amount, 5)",
    "customer.name.first",
    "unknown_name + 1",
    "None if flag else True",
    "memo + '!'",
    "memo * 3",
    "days_between(issue_date, due_date)",
    "count(allocation)",
]


def outcome(evaluate, expr, names):
    try:
        return "value", evaluate(expr, dict(names))
    except ExpressionError as exc:
        return "error", str(exc), exc.blank


def slow(expr, names):
    return expr.evaluate(names)


@pytest.mark.parametrize("source", SOURCES)
def test_compiled_expressions_agree_with_the_evaluator(source: str) -> None:
    expr = compile_expression(source, where="apps/x.yaml:1:1: somewhere")
    for names in CONTEXTS:
        expected = outcome(slow, expr, names)
        assert outcome(fastexpr.evaluate, expr, names) == expected, names


def test_every_expression_of_the_apps_compiles_to_closures(appset) -> None:
    """None of them falls back to the evaluator for want of a compiled form."""
    exprs = [
        e
        for ent in appset.entities()
        for e in [
            *(f.expr for f in ent.fields.values() if f.expr),
            *(f.default_expr for f in ent.fields.values() if f.default_expr),
            *(c.when for c in ent.checks),
        ]
    ]
    assert exprs
    for expr in exprs:
        assert fastexpr._compile_or_none(expr, fastexpr.Scope()) is not None, expr.source


def test_the_bounds_of_the_evaluator_hold_in_the_compiled_form() -> None:
    """The probe's inputs fail the same way, quickly, through the compiled path."""
    for source in ("'%0999999999d' % 1", "round(1, -30000000)", "lower([[1]*9999]*9999)"):
        expr = compile_expression(source)
        with pytest.raises(ExpressionError):
            fastexpr.evaluate(expr, {})
