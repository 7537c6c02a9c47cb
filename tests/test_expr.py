"""The expression language: every function, Decimal exactness, the sandbox and the clock."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from engine import clock
from engine.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    ExpressionError,
    compile_expression,
)

D = Decimal
JAN_1 = dt.date(2024, 1, 1)
MARCH_1 = dt.date(2024, 3, 1)
NOON = dt.datetime(2024, 2, 10, 12, 0, tzinfo=dt.UTC)


def evaluate(text: str, **names: Any) -> Any:
    return compile_expression(text).evaluate(names)


# Every function, with examples that pin its behaviour (blanks included). The keys must be
# exactly the registry's: a new function needs examples here.
EXAMPLES: dict[str, list[tuple[str, dict[str, Any], Any]]] = {
    "today": [("today()", {}, dt.date(2024, 2, 10))],
    "days": [
        ("d + days(30)", {"d": dt.date(2024, 1, 31)}, MARCH_1),
        ("d - days(n)", {"d": MARCH_1, "n": 1}, dt.date(2024, 2, 29)),
        ("days(3)", {}, dt.timedelta(days=3)),
    ],
    "days_between": [
        ("days_between(a, b)", {"a": JAN_1, "b": MARCH_1}, 60),
        ("days_between(b, a)", {"a": JAN_1, "b": MARCH_1}, -60),
        ("days_between(a, b)", {"a": None, "b": MARCH_1}, None),
        ("days_between(a, b)", {"a": NOON, "b": MARCH_1}, 20),
    ],
    "days_until": [
        ("days_until(d)", {"d": dt.date(2024, 2, 13)}, 3),
        ("days_until(d)", {"d": dt.date(2024, 2, 1)}, -9),
        ("days_until(d)", {"d": None}, None),
    ],
    "abs": [("abs(x)", {"x": D("-1.50")}, D("1.50")), ("abs(x)", {"x": None}, None)],
    "round": [
        ("round(2.5)", {}, D("2")),
        ("round(3.5)", {}, D("4")),
        ("round(x, 2)", {"x": D("1.005")}, D("1.00")),
        ("round(x, 2)", {"x": D("1.015")}, D("1.02")),
        ("round(x, 1)", {"x": 7}, 7),
        ("round(x)", {"x": None}, None),
    ],
    "min": [
        ("min(3, 1, 2)", {}, 1),
        ("min(xs)", {"xs": [D("3"), None, D("2.5")]}, D("2.5")),
        ("min(xs)", {"xs": []}, None),
    ],
    "max": [
        ("max(3, 1, 2)", {}, 3),
        ("max(xs)", {"xs": [D("3"), None, D("2.5")]}, D("3")),
        ("max(a, b)", {"a": None, "b": None}, None),
    ],
    "sum": [
        ("sum(xs)", {"xs": [D("0.10"), None, D("0.20")]}, D("0.30")),
        ("sum(xs)", {"xs": []}, D("0")),
        ("sum(xs)", {"xs": [0.1, 0.2]}, D("0.3")),
    ],
    "count": [("count(xs)", {"xs": [1, None, 3]}, 3), ("count(xs)", {"xs": []}, 0)],
    "len": [("len(s)", {"s": "héllo"}, 5), ("len(s)", {"s": None}, 0)],
    "lower": [("lower(s)", {"s": "ÀBC"}, "àbc"), ("lower(s)", {"s": None}, None)],
    "upper": [("upper(s)", {"s": "àbc"}, "ÀBC"), ("upper(s)", {"s": None}, None)],
    "contains": [
        ("contains(s, 'ELL')", {"s": "Hello"}, True),
        ("contains(s, 'xyz')", {"s": "Hello"}, False),
        ("contains(s, 'x')", {"s": None}, False),
        ("contains(xs, 2)", {"xs": [1, 2]}, True),
    ],
    "matches": [
        ("matches(s, 'INV-[0-9]+')", {"s": "paid INV-123 thanks"}, True),
        ("matches(s, '^INV')", {"s": "paid INV-123"}, False),
        ("matches(s, 'x')", {"s": None}, False),
    ],
    "coalesce": [
        ("coalesce(a, b, 3)", {"a": None, "b": None}, 3),
        ("coalesce(a, 3)", {"a": 0}, 0),
        ("coalesce(a)", {"a": None}, None),
    ],
}


def test_examples_cover_every_function() -> None:
    assert set(EXAMPLES) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_documented(name: str) -> None:
    doc = FUNCTIONS[name].doc
    assert doc.strip()
    assert doc.startswith(f"{name}("), "the doc starts with how to call it"


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [example for name in sorted(EXAMPLES) for example in EXAMPLES[name]],
    ids=[f"{name}-{i}" for name in sorted(EXAMPLES) for i in range(len(EXAMPLES[name]))],
)
def test_function(text: str, names: dict[str, Any], expected: Any) -> None:
    with clock.frozen_at(NOON):
        result = evaluate(text, **names)
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, Decimal):
        assert str(result) == str(expected), "same value and same places"


def test_only_clock_functions_are_time_dependent() -> None:
    assert {n for n, f in FUNCTIONS.items() if f.time_dependent} == {"today", "days_until"}
    assert compile_expression("days_until(due) < 3").time_dependent
    assert not compile_expression("days_between(issue_date, due_date)").time_dependent


# -- Decimal exactness ------------------------------------------------------------------------


def test_literals_are_decimal() -> None:
    assert evaluate("0.1 + 0.2") == D("0.3")
    assert evaluate("0.1 + 0.2 == 0.3") is True
    assert isinstance(evaluate("1.5 * 2"), Decimal)


def test_literals_keep_every_digit_as_written() -> None:
    """Through float, 1234567890123.4567 (a money amount) would become ...4568."""
    assert evaluate("1234567890123.4567") == D("1234567890123.4567")
    assert str(evaluate("1.50")) == "1.50"
    assert evaluate("1_000.25") == D("1000.25")
    assert evaluate("1e3") == 1000


def test_division_of_whole_numbers_is_decimal() -> None:
    assert evaluate("7 / 2") == D("3.5")
    assert isinstance(evaluate("7 / 2"), Decimal)
    assert evaluate("x / 4", x=10) == D("2.5")


def test_float_inputs_are_read_exactly_as_printed() -> None:
    assert evaluate("abs(x) + 0.2", x=-0.1) == D("0.3")
    assert evaluate("round(x, 2)", x=2.675) == D("2.68")


def test_money_arithmetic_stays_exact() -> None:
    amounts = [D("1234567890.12"), D("0.01"), D("-0.03"), D("99999999999.99")]
    assert evaluate("sum(xs) - x", xs=amounts, x=D("0.01")) == sum(amounts) - D("0.01")


@pytest.mark.parametrize("text", ["1e400", "1e-400", "2j", "1 + 1j"])
def test_numbers_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(text)


# -- what an expression reads -------------------------------------------------------------------


def test_compiled_expression_lists_what_it_reads() -> None:
    expr = compile_expression("issue_date + days(coalesce(customer.payment_terms_days, 30))")
    assert expr.names == {"issue_date", "customer"}
    assert expr.paths == {("issue_date",), ("customer", "payment_terms_days")}
    assert expr.calls == {"days", "coalesce"}
    assert expr.source == "issue_date + days(coalesce(customer.payment_terms_days, 30))"


def test_reading_through_records_and_blanks() -> None:
    customer = {"name": "Acme", "terms": 14}
    assert evaluate("customer.terms + 1", customer=customer) == 15
    assert evaluate("customer.terms", customer=None) is None, "a blank ref reads blank"
    with pytest.raises(ExpressionError, match="customer has no field 'term'"):
        evaluate("customer.term", customer=customer)
    with pytest.raises(ExpressionError, match="amount is not a record"):
        evaluate("amount.real", amount=D("1"))
    with pytest.raises(ExpressionError, match="unknown name 'nope'"):
        evaluate("nope + 1")


def test_blank_operands_are_flagged() -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate("amount > 10", amount=None)
    assert raised.value.blank
    with pytest.raises(ExpressionError) as raised:
        evaluate("days(n)", n=None)
    assert raised.value.blank
    with pytest.raises(ExpressionError) as raised:
        evaluate("1 / 0")
    assert not raised.value.blank


def test_logic_and_comparisons() -> None:
    assert evaluate("'paid' if open <= 0 else 'open'", open=D("0.00")) == "paid"
    assert evaluate("status in ['open', 'partial'] and not disputed", status="open", disputed=False)
    assert evaluate("invoice is None", invoice=None) is True
    assert evaluate("due < issue", due=JAN_1, issue=MARCH_1) is True


# -- the sandbox ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "__import__() is not a known function"),
        ("x.__class__", "names starting with '_' are not allowed: __class__"),
        ("x._secret", "names starting with '_' are not allowed: _secret"),
        ("__builtins__", "names starting with '_' are not allowed"),
        ("[a for a in xs]", "a comprehension is not allowed"),
        ("sum(a for a in xs)", "a comprehension is not allowed"),
        ("{a: 1 for a in xs}", "a comprehension is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("xs[0]", "indexing [...] is not allowed"),
        ("(x := 1)", "assignment (:=) is not allowed"),
        ("f'{x}'", "an f-string is not allowed"),
        ("{'a': 1}", "a dictionary is not allowed"),
        ("open('/etc/passwd')", "open() is not a known function"),
        ("getattr(x, 'y')", "getattr() is not a known function"),
        ("x.upper()", "x.upper() is not a known function"),
        ("'a'.upper", "'a'.upper: only field.field paths are allowed"),
        ("1 2", "syntax error at column 3: invalid syntax"),
        ("1 +)", "syntax error at column 4: unmatched ')'"),
        ("sums(xs)", "sums() is not a known function (did you mean 'sum'?)"),
        ("round(x, places=2)", "a named argument (name=value) is not allowed"),
        ("lower(a, b)", "lower() does not take 2 arguments: lower(text)"),
        ("today(1)", "today() does not take 1 argument: today()"),
        ("round()", "round() does not take 0 arguments: round(x, places=0)"),
        ("1 +", "syntax error at the end"),
        ("", "the expression is empty"),
        ("x" * (MAX_LENGTH + 1), f"the expression is longer than {MAX_LENGTH} characters"),
        ("-" * (MAX_DEPTH + 5) + "1", "the expression is nested too deeply"),
        ("(" * 300 + "1" + ")" * 300, "syntax error"),
        ("+".join(["1"] * 400), "the expression has more than 300 parts"),
    ],
)
def test_refused_when_compiled(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("value", [None, True, ["x"], {"a": 1}])
def test_only_text_and_numbers_are_expressions(value: Any) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(value)
    assert str(raised.value) == "an expression must be text"


def test_a_number_is_an_expression() -> None:
    assert compile_expression(30).evaluate({}) == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2 ** 1000", f"larger than {MAX_EXPONENT}"),
        ("x ** 101", f"larger than {MAX_EXPONENT}"),
        ("'a' * 10 ** 9", "that long"),
        ("'ab' * 60000", "that long"),
        ("s + s", "too long"),
        ("s * 2", "that long"),
        ("(10 ** 100) ** 100", "too large"),
        ("(((10 ** 100) ** 100) ** 100) ** 100", "too large"),
        ("(((10.5 ** 100) ** 100) ** 100) ** 100", "no valid result"),
        ("round(x / 7, 40)", "no valid result"),
    ],
)
def test_refused_when_run(text: str, message: str) -> None:
    expr = compile_expression(text)  # compiles: the sizes are only known when it runs
    started = time.process_time()
    with pytest.raises(ExpressionError) as raised:
        expr.evaluate({"x": 10, "s": "a" * 60_000})
    assert message in str(raised.value)
    assert time.process_time() - started < 1


def test_powers_within_the_cap_work() -> None:
    assert evaluate("2 ** 10") == 1024
    assert evaluate(f"1 ** {MAX_EXPONENT}") == 1


@pytest.mark.parametrize("text", ["1 / 0", "x / 0", "x / y", "1 // 0", "x % 0", "1.5 / 0"])
def test_division_by_zero(text: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate(text, x=D("10.00"), y=D("0.00"))
    assert str(raised.value) == "division by zero"


def test_catastrophic_regex_times_out() -> None:
    started = time.process_time()
    with pytest.raises(ExpressionError, match="took too long"):
        evaluate("matches(s, '(a|aa)+$')", s="a" * 60 + "b")
    assert time.process_time() - started < 2


def test_bad_regex_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match=r"bad pattern '\(['\"]?"):
        evaluate("matches(s, '(')", s="x")


def test_evaluation_is_safe_across_threads() -> None:
    """Evaluators are reused per thread; concurrent evaluations must not see others' names."""
    expr = compile_expression("x * 2 + y")
    wrong: list[tuple[int, Any]] = []

    def work(n: int) -> None:
        for i in range(300):
            got = expr.evaluate({"x": D(n), "y": D(i)})
            if got != D(n * 2 + i):
                wrong.append((n, got))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


# -- the clock ------------------------------------------------------------------------------------


def test_frozen_clock_makes_dates_deterministic() -> None:
    due = dt.date(2024, 3, 1)
    with clock.frozen_at(dt.datetime(2024, 2, 27, 23, 59, tzinfo=dt.UTC)):
        assert evaluate("today()") == dt.date(2024, 2, 27)
        assert evaluate("days_until(d)", d=due) == 3
        assert evaluate("days_until(d) == 3", d=due) is True
    with clock.frozen_at(dt.datetime(2024, 3, 5, tzinfo=dt.UTC)):
        assert evaluate("days_until(d)", d=due) == -4
        assert clock.now() == dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    assert clock.now().tzinfo is not None


def test_frozen_clock_needs_an_aware_time() -> None:
    with (
        pytest.raises(ValueError, match="timezone-aware"),
        clock.frozen_at(dt.datetime(2024, 1, 1)),
    ):
        pass
