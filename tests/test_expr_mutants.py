"""The exact messages of the expression language, which a mutation run (./scripts/mutation)
found unpinned: a message that lost its value ("got None") or showed its placeholder
("days(%(n)s)") would reach the person who wrote the expression."""

from __future__ import annotations

import itertools
import types
from typing import Any

import pytest

import engine.expr as expr_module
from engine.expr import ExpressionError, compile_expression


def problem(text: str, **names: Any) -> str:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text).evaluate(names)
    return str(raised.value.message)


@pytest.mark.parametrize(
    ("text", "names", "message"),
    [
        ("round(1, 2.5)", {}, "round()'s places must be a whole number, got 2.5"),
        ('round(1, "2")', {}, "round()'s places must be a whole number, got '2'"),
        ("lower([1])", {}, "lower() needs text, not a list or a record"),
        ("days(n)", {"n": 10**10}, "days(10000000000) is more days than a date can move"),
        ('matches("a", 1)', {}, "matches() needs a pattern as text, got 1"),
        ('matches("a", p)', {"p": None}, "matches() needs a pattern as text, got None"),
        ('b"x"', {}, "the literal b'x' is not allowed"),
        ("_secret", {}, "names starting with '_' are not allowed: _secret"),
        ("x._secret", {}, "names starting with '_' are not allowed: _secret"),
        ("1e101", {}, "the number 1e101 is out of range"),
        ("2 ** 101", {}, "exponent 101 is larger than 100"),
        ('"a" * "b"', {}, "two texts cannot be multiplied"),
        ("customer.name", {"customer": {}}, "customer has no field 'name'"),
        ("amount.name", {"amount": 1}, "amount is not a record"),
    ],
)
def test_each_problem_names_what_went_wrong(text: str, names: dict[str, Any], message: str) -> None:
    assert problem(text, **names) == message


def test_an_evaluation_past_its_time_says_how_long_it_may_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A clock that moves a second at every look: the first node is already too late."""
    seconds = itertools.count()
    clock = types.SimpleNamespace(
        monotonic=lambda: float(next(seconds)), thread_time=lambda: float(next(seconds))
    )
    monkeypatch.setattr(expr_module, "time", clock)
    assert problem("1 + 1") == "the expression took longer than 0.25 s"
