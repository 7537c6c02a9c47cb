"""The edges of the expression language, pinned by value: a limit moved by one fails here.

The limits are written out as numbers, not as the constants that define them, so a change
of a limit is a visible decision (here and in the README), not an accident.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from engine.expr import ExpressionError, _evaluator, _syntax_name, compile_expression

D = Decimal


def evaluate(text: str, **names: Any) -> Any:
    return compile_expression(text).evaluate(names)


# -- the size of the source and of its tree ----------------------------------------------------


def test_2000_characters_are_accepted_and_2001_refused() -> None:
    assert compile_expression("x" * 2000).names == {"x" * 2000}
    with pytest.raises(ExpressionError, match="longer than 2000 characters"):
        compile_expression("x" * 2001)


def test_surrounding_blanks_do_not_count_towards_the_length() -> None:
    assert compile_expression("  " + "x" * 2000 + "\n").source == "x" * 2000


def test_a_tree_40_deep_is_accepted_and_41_refused() -> None:
    # Expression > 38 unary minus > Constant: 40 levels.
    assert evaluate("-" * 38 + "1") == 1
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("-" * 39 + "1")


def test_300_parts_are_accepted_and_301_refused() -> None:
    # Expression, List, its Load context and the items.
    assert len(evaluate("[" + ", ".join(["1"] * 297) + "]")) == 297
    with pytest.raises(ExpressionError, match="more than 300 parts"):
        compile_expression("[" + ", ".join(["1"] * 298) + "]")


def test_literals_up_to_ten_to_the_100_are_accepted() -> None:
    assert evaluate("1e100") == D("1e100")
    assert evaluate("1e-100") == D("1e-100")
    assert evaluate("9.9e100") == D("9.9e100")
    for text in ["1e101", "1e-101", "10e100"]:
        with pytest.raises(ExpressionError, match=f"the number {text} is out of range"):
            compile_expression(text)


# -- powers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [100, -100])
def test_an_exponent_of_100_is_accepted(exponent: int) -> None:
    assert evaluate(f"x ** {exponent}", x=D(2)) == D(2) ** exponent
    whole = evaluate(f"2 ** {exponent}")
    assert whole == (2**exponent if exponent > 0 else D(2) ** exponent)
    assert type(whole) is (int if exponent > 0 else Decimal)


@pytest.mark.parametrize("exponent", [101, -101])
def test_an_exponent_of_101_is_refused(exponent: int) -> None:
    with pytest.raises(ExpressionError, match=f"exponent {exponent} is larger than 100"):
        evaluate(f"x ** {exponent}", x=D(1))


def test_a_whole_power_of_4096_bits_is_accepted_and_4097_refused() -> None:
    # 2 ** 255 has 256 bits: to the 16th, 4096 bits; 2 ** 240 has 241 bits: to the 17th, 4097.
    assert evaluate("a ** 16", a=2**255) == 2 ** (255 * 16)
    with pytest.raises(ExpressionError, match=r"the result of \*\* would be too large"):
        evaluate("a ** 17", a=2**240)
    with pytest.raises(ExpressionError, match=r"the result of \*\* would be too large"):
        evaluate("a ** -17", a=2**240)


def test_powers_of_decimals() -> None:
    assert evaluate("x ** 2", x=D("1.5")) == D("2.25")
    assert evaluate("4 ** 0.5") == D("2")
    assert evaluate("x ** 0", x=D("7.5")) == 1


# -- arithmetic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        ("7 % 3", {}, 1),
        ("x % 3", {"x": D("10.5")}, D("1.5")),
        ("x % y", {"x": D("10.00"), "y": D("0.30")}, D("0.10")),
        ("n % 2 == 0", {"n": 14}, True),
        ("n % 2 == 0", {"n": 15}, False),
        ("-7 % 3", {}, 2),  # whole numbers: the sign of the divisor, as Python
        ("x % 3", {"x": D("-7")}, D("-1")),  # decimals: the sign of the dividend, as Decimal
    ],
)
def test_remainder(text: str, names: dict[str, Any], expected: Any) -> None:
    result = evaluate(text, **names)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7.5 // 2", D("3")),
        ("7 - 2.5", D("4.5")),
        ("2 * 3", 6),
        ("1.5 * 2", D("3.0")),
        ("-x", D("-2")),
        ("+x", D("2")),
        ("10 / 4", D("2.5")),
        ("10 / 5", D("2")),
    ],
)
def test_arithmetic(text: str, expected: Any) -> None:
    result = evaluate(text, x=D(2))
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


# -- sequences -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", True), ("b", True), ("c", False), (None, False)],
)
def test_membership_in_a_tuple_literal(value: Any, expected: bool) -> None:
    assert evaluate('x in ("a", "b")', x=value) is expected
    assert evaluate('x not in ("a", "b")', x=value) is not expected


def test_tuple_and_list_literals_evaluate_to_lists() -> None:
    assert evaluate('("a", 1, x)', x=D("2.5")) == ["a", 1, D("2.5")]
    assert evaluate("[1, [2, 3]]") == [1, [2, 3]]
    assert evaluate("()") == []
    assert evaluate("sum((1, 2.5))") == D("3.5")


def test_comparisons_chain() -> None:
    assert evaluate("1 < x < 3", x=2) is True
    assert evaluate("1 < x < 3", x=3) is False
    assert evaluate("1 <= x <= 3", x=3) is True
    assert evaluate("x != 2", x=2) is False
    assert evaluate("x >= 2", x=2) is True
    assert evaluate("x > 2", x=2) is False
    assert evaluate("x is not None", x=0) is True


def test_boolean_operators_return_an_operand_and_short_circuit() -> None:
    assert evaluate("x or 'none'", x="") == "none"
    assert evaluate("x and y", x=1, y=2) == 2
    assert evaluate("blank is None or blank > 1", blank=None) is True
    assert evaluate("blank is not None and blank > 1", blank=None) is False
    assert evaluate("not x", x=0) is True


def test_only_the_branch_taken_is_evaluated() -> None:
    assert evaluate("1 if x else 1 / 0", x=True) == 1
    assert evaluate("1 / 0 if x else 2", x=False) == 2


# -- what is refused, in words -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lambda: 1", "lambda is not allowed in an expression"),
        ("[a for a in xs]", "a comprehension is not allowed in an expression"),
        ("sum(a for a in xs)", "a comprehension is not allowed in an expression"),
        ("{a: 1 for a in xs}", "a comprehension is not allowed in an expression"),
        ("{a for a in xs}", "a comprehension is not allowed in an expression"),
        ("xs[0]", "indexing [...] is not allowed in an expression"),
        ("xs[1:2]", "indexing [...] is not allowed in an expression"),
        ("(x := 1)", "assignment (:=) is not allowed in an expression"),
        ("{'a': 1}", "a dictionary is not allowed in an expression"),
        ("{1, 2}", "a set is not allowed in an expression"),
        ("f'{x}'", "an f-string is not allowed in an expression"),
        ("min(*xs)", "*unpacking is not allowed in an expression"),
        ("await x", "await is not allowed in an expression"),
        ("round(x, places=2)", "a named argument (name=value) is not allowed in an expression"),
        ("1 | 2", "the operator | is not allowed in an expression"),
        ("1 & 2", "the operator & is not allowed in an expression"),
        ("1 ^ 2", "the operator ^ is not allowed in an expression"),
        ("~1", "the operator ~ is not allowed in an expression"),
        ("1 << 2", "the operator << is not allowed in an expression"),
        ("1 >> 2", "the operator >> is not allowed in an expression"),
        ("a @ b", "the operator @ is not allowed in an expression"),
    ],
)
def test_refused_syntax_is_named(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text)
    assert str(raised.value) == message


def test_an_unknown_function_without_a_close_name_gets_no_suggestion() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression("frobnicate(1)")
    assert str(raised.value) == "frobnicate() is not a known function"


def test_a_date_function_names_what_it_got_instead() -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate("days_between('x', d)", d=date(2024, 1, 1))
    assert str(raised.value) == "expected a date, got 'x'"
    with pytest.raises(ExpressionError, match="expected a date, got 5"):
        evaluate("days_until(5)")


@pytest.mark.parametrize(
    ("text", "message"),
    [  # values as the expression's author writes them, short even when the value is huge
        ("round(1, n)", "round()'s places must be a whole number, got 2.5"),
        ("round(1, d)", "round()'s places must be a whole number, got 2024-01-01"),
        ("days_until(n * 10 ** 70)", "expected a date, got 2.500000000000000000000000000E+70"),
        (
            "days_until(rows)",
            "expected a date, got [[1, 1, 1, 1, 1, 1, ...], [1, 1, 1, 1, 1, 1, ...], "
            "[1, 1, 1, 1, 1, 1, ...], [1, 1, 1, 1, 1, 1, ...], [1, 1, 1, 1, 1, 1, ...], "
            "[1, 1, 1, 1, 1, 1, ...], ...]",
        ),
        ("days_until('x' * 100)", "expected a date, got '" + "x" * 27 + "..." + "x" * 28 + "'"),
    ],
)
def test_a_wrong_value_is_shown_as_written_and_short(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate(text, n=Decimal("2.5"), d=date(2024, 1, 1), rows=[[1] * 50] * 50)
    assert str(raised.value) == message


def test_dividing_text_is_a_type_error_not_a_number_error() -> None:
    with pytest.raises(ExpressionError, match="values of incompatible types"):
        evaluate("'a' / 2")
    with pytest.raises(ExpressionError, match="values of incompatible types"):
        evaluate("2 / 'a'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("min(xs)", 1),
        ("max(xs)", 3),
        ("min('b', 'a')", "a"),
        ("max('b')", "b"),  # one text is one value, not a list of characters
        ("min(x)", None),  # a blank list of values
        ("max(x, 2)", 2),
        ("max()", None),
    ],
)
def test_min_and_max(text: str, expected: Any) -> None:
    assert evaluate(text, xs=[3, None, 1], x=None) == expected


# -- error texts and flags, exactly --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a ** 17", "the result of ** would be too large"),
        ("b * b", "the result of * would be too large"),
        ("[1] * 2", "a list cannot be repeated with *"),
        ("'%d' % 1", "% is for numbers: text formatting is not allowed"),
        ("0 ** -1", "division by zero"),
        ("0.0 ** -2", "division by zero"),
        ("x % 0", "division by zero"),
        ("days(blank)", "days() needs a number, got nothing"),
        ("d + 1", "values of incompatible types: unsupported operand type(s) for +: "
         "'datetime.date' and 'int'"),
        ("nope", "unknown name 'nope'"),
        ("len(5)", "object of type 'int' has no len()"),
        ("1e100 ** 100", "the calculation has no valid result (a number too large, or undefined)"),
        ("0.0 / 0", "division by zero"),
        ("1 // 0", "division by zero"),
    ],
)  # fmt: skip
def test_run_time_error_texts(text: str, message: str) -> None:
    names = {"a": 2**240, "b": 2**2048, "x": D("1.5"), "blank": None, "d": date(2024, 1, 1)}
    with pytest.raises(ExpressionError) as raised:
        evaluate(text, **names)
    assert str(raised.value) == message
    assert raised.value.message == message
    assert raised.value.args == (message,)


def test_errors_are_not_blank_unless_a_blank_caused_them() -> None:
    assert not ExpressionError("x").blank
    for text in ["'a' + 1", "round(1, 1000)", "1 / 0", "'%d' % 1", "len(5)"]:
        with pytest.raises(ExpressionError) as raised:
            evaluate(text)
        assert not raised.value.blank, text
    for text in ["blank + 1", "blank < 1", "days(blank)", "-blank"]:
        with pytest.raises(ExpressionError) as raised:
            evaluate(text, blank=None)
        assert raised.value.blank, text


def test_a_complex_literal_is_not_a_number_of_this_language() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression("1 + 2j")
    assert str(raised.value) == "2j is not a number this language knows"


def test_powers_to_zero_stay_whole() -> None:
    assert evaluate("2 ** 0") == 1
    assert type(evaluate("2 ** 0")) is int
    assert evaluate("0 ** 0") == 1
    assert type(evaluate("0 ** 0")) is int
    assert evaluate("0 ** 2") == 0


class _Broken(Mapping[str, Any]):
    """Record data whose reading fails the way a runaway structure would."""

    def __init__(self, error: BaseException):
        self.error = error

    def __getitem__(self, key: str) -> Any:
        raise self.error

    def __iter__(self) -> Iterator[str]:
        return iter(["field"])

    def __len__(self) -> int:
        return 1


def test_an_error_without_text_is_named_by_its_kind() -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate("r.field", r=_Broken(LookupError()))
    assert str(raised.value) == "LookupError"


@pytest.mark.parametrize("error", [RecursionError(), MemoryError()])
def test_recursion_and_memory_errors_become_expression_errors(error: BaseException) -> None:
    expr = compile_expression("r.field + 1", where="app.yaml:3:9 entities.x.fields.y.expr")
    with pytest.raises(ExpressionError) as raised:
        expr.evaluate({"r": _Broken(error)})
    assert raised.value.message == "the expression needs too much memory or nesting"
    assert raised.value.where == "app.yaml:3:9 entities.x.fields.y.expr"


def test_errors_of_every_kind_name_the_place() -> None:
    place = "app.yaml:3:9 entities.x.fields.y.expr"
    for text in ["nope", "1 / 0", "'a' + 1", "round(1, 1000)", "1e100 ** 100"]:
        with pytest.raises(ExpressionError) as raised:
            compile_expression(text, where=place).evaluate({})
        assert raised.value.where == place, text
        assert str(raised.value).endswith(f" (expression at {place})"), text


def test_an_evaluator_made_in_another_thread_works_as_the_first() -> None:
    """Each thread builds its own evaluator, with the operators, functions and nodes of this
    language rather than simpleeval's defaults."""
    cases = {
        "7 / 2": D("3.5"),
        "2 ** -1": D("0.5"),
        "x in (1, 2)": True,
        "[x, 3]": [1, 3],
        "round(2.5)": D("2"),
        "1 if True else 0": 1,
    }
    refused = ["'%d' % 1", "[1] * 2", "2 ** 101", "1 % 0"]

    def run_all() -> tuple[list[Any], list[str]]:
        values = [evaluate(text, x=1) for text in cases]
        errors = []
        for text in refused:
            try:
                evaluate(text)
            except ExpressionError as exc:
                errors.append(exc.message)
        return values, errors

    here = run_all()
    there: list[tuple[list[Any], list[str]]] = []
    thread = threading.Thread(target=lambda: there.append(run_all()))
    thread.start()
    thread.join()
    assert there == [here]
    assert here[0] == list(cases.values())
    assert len(here[1]) == len(refused)
    for value, expected in zip(here[0], cases.values(), strict=True):
        assert type(value) is type(expected)


def test_exactly_the_depth_limit_is_refused_with_its_message() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression("-" * 39 + "1")
    assert str(raised.value) == "the expression is nested too deeply"


def test_a_parser_that_runs_out_of_stack_is_an_expression_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python's parser may recurse too deeply on nesting that fits in 2000 characters on some
    versions; that is a refused expression, not a crash."""

    def too_deep(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(ast, "parse", too_deep)
    with pytest.raises(ExpressionError) as raised:
        compile_expression("1")
    assert str(raised.value) == "the expression is nested too deeply"


def test_syntax_without_a_name_of_its_own_is_called_by_its_class() -> None:
    assert _syntax_name(ast.Yield()) == "Yield"
    assert _syntax_name(ast.Lambda()) == "lambda"


def test_each_thread_reuses_one_evaluator() -> None:
    """Building a simpleeval evaluator costs more than most evaluations: one per thread."""
    assert _evaluator() is _evaluator()
    there: list[object] = []
    thread = threading.Thread(target=lambda: there.append(_evaluator()))
    thread.start()
    thread.join()
    assert there[0] is not _evaluator()
