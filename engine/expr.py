"""User expressions: a small, sandboxed language on top of simpleeval.

Expressions are compiled once (parsed, checked against a whitelist of syntax,
their names collected for the definition checker) and evaluated many times.
Number literals are Decimal, so money never passes through float. There are no
loops or comprehensions, the text and the syntax tree are bounded, powers are
capped and regular expressions run with a timeout: an expression cannot run
for long, reach Python internals, files, the network or SQL.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException, InvalidOperation
from typing import Any

import regex
import simpleeval

from engine import clock

MAX_LENGTH = 2000
MAX_NODES = 300
MAX_DEPTH = 40
MAX_EXPONENT = 100
MAX_RESULT_BITS = 4096  # of a whole-number power: about 1,200 digits
REGEX_TIMEOUT_SECONDS = 0.1


class ExpressionError(Exception):
    """An expression that does not compile, or that failed while running.

    `blank` is true when it failed because a value it read was blank (None), which
    callers may treat as "does not apply" rather than as an error.
    """

    def __init__(self, message: str, blank: bool = False):
        super().__init__(message)
        self.blank = blank


# --- the function library -------------------------------------------------------------------


def _num(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _days(n: Any) -> dt.timedelta:
    if n is None:
        raise ExpressionError("days() needs a number, got nothing", blank=True)
    return dt.timedelta(days=int(n))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise ExpressionError(f"expected a date, got {value!r}")


def _days_between(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return (_as_date(b) - _as_date(a)).days


def _days_until(d: Any) -> int | None:
    return None if d is None else (_as_date(d) - clock.today()).days


def _present(values: Iterable[Any]) -> list[Any]:
    return [_num(v) for v in values if v is not None]


def _sum(values: Iterable[Any]) -> Any:
    total: Any = Decimal(0)
    for v in _present(values):
        total = total + v
    return total


def _count(values: Iterable[Any]) -> int:
    return sum(1 for _ in values)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        items = args[0] if len(args) == 1 and not isinstance(args[0], str) else args
        present = _present(items)
        return pick(present) if present else None

    return apply


def _round(value: Any, places: Any = 0) -> Any:
    if value is None:
        return None
    value = _num(value)
    if isinstance(value, Decimal):
        return value.quantize(Decimal(1).scaleb(-int(places)))
    return round(value, int(places))


def _contains(haystack: Any, needle: Any) -> bool:
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return str(needle).lower() in haystack.lower()
    return needle in haystack


def _matches(text: Any, pattern: Any) -> bool:
    if text is None:
        return False
    try:
        return regex.search(str(pattern), str(text), timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError as exc:
        raise ExpressionError(f"the pattern {pattern!r} took too long") from exc
    except regex.error as exc:
        raise ExpressionError(f"bad pattern {pattern!r}: {exc}") from exc


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _text_fn(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda s: None if s is None else fn(str(s))


@dataclass(frozen=True)
class Function:
    call: Callable[..., Any]
    doc: str
    time_dependent: bool = False


FUNCTIONS: dict[str, Function] = {
    "today": Function(clock.today, "today() - the current date", time_dependent=True),
    "days": Function(_days, "days(n) - a duration of n days, to add to or subtract from a date"),
    "days_between": Function(_days_between, "days_between(a, b) - whole days from date a to b"),
    "days_until": Function(
        _days_until, "days_until(d) - days from today to d (negative once d is past)", True
    ),
    "abs": Function(lambda v: None if v is None else abs(_num(v)), "abs(x) - absolute value"),
    "round": Function(_round, "round(x, places=0) - rounded half-even, Decimal-exact"),
    "min": Function(_extreme(min), "min(a, b, ...) or min(values) - smallest, ignoring blanks"),
    "max": Function(_extreme(max), "max(a, b, ...) or max(values) - largest, ignoring blanks"),
    "sum": Function(_sum, "sum(values) - total, e.g. sum(allocation.amount) over related records"),
    "count": Function(_count, "count(records) - how many, e.g. count(invoice)"),
    "len": Function(lambda v: 0 if v is None else len(v), "len(text) - number of characters"),
    "lower": Function(_text_fn(str.lower), "lower(text)"),
    "upper": Function(_text_fn(str.upper), "upper(text)"),
    "contains": Function(_contains, "contains(text, part) - case-insensitive substring test"),
    "matches": Function(_matches, "matches(text, pattern) - regular expression search"),
    "coalesce": Function(_coalesce, "coalesce(a, b, ...) - the first value that is not blank"),
}

# --- compile-time checking -------------------------------------------------------------------

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Attribute, ast.Constant, ast.List, ast.Tuple, ast.Load,
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
    ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip


@dataclass(frozen=True)
class Expression:
    """A compiled expression; `names` and `paths` say which record fields it reads."""

    source: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()
    paths: frozenset[tuple[str, ...]] = frozenset()
    calls: frozenset[str] = frozenset()

    @property
    def time_dependent(self) -> bool:
        return any(FUNCTIONS[c].time_dependent for c in self.calls)

    def evaluate(self, names: dict[str, Any]) -> Any:
        evaluator = _evaluator()
        evaluator.names = names
        try:
            return evaluator.eval(self.source, previously_parsed=self.tree.body)
        except ExpressionError:
            raise
        except simpleeval.NameNotDefined as exc:
            raise ExpressionError(f"unknown name {exc.name!r}") from exc
        except (simpleeval.InvalidExpression, ArithmeticError, InvalidOperation) as exc:
            raise ExpressionError(_describe(exc)) from exc
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            raise ExpressionError(_describe(exc), blank="NoneType" in str(exc)) from exc


def _describe(exc: BaseException) -> str:
    if (
        isinstance(exc, ZeroDivisionError | InvalidOperation)
        and "division" in str(exc).lower() + type(exc).__name__.lower()
    ):
        return "division by zero"
    if isinstance(exc, TypeError) and "unsupported operand" in str(exc):
        return f"values of incompatible types: {exc}"
    if isinstance(exc, DecimalException):  # its text is only "[<class '...'>]"
        return "the calculation has no valid result (a number too large, or undefined)"
    return str(exc) or type(exc).__name__


def compile_expression(source: Any) -> Expression:
    """Parse and check `source`; raise ExpressionError with a readable message."""
    if isinstance(source, bool) or not isinstance(source, str | int | float):
        raise ExpressionError("an expression must be text")
    text = str(source).strip()
    if not text:
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python gives offset 0 when the text ends too early ("amount +").
        where = f"column {exc.offset}" if exc.offset and exc.offset <= len(text) else "the end"
        raise ExpressionError(f"syntax error at {where}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ExpressionError("the expression is nested too deeply") from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"the expression has more than {MAX_NODES} parts")
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError("the expression is nested too deeply")
    names: set[str] = set()
    paths: set[tuple[str, ...]] = set()
    calls: set[str] = set()
    # Refused syntax first: `(lambda: 1)()` is about the lambda, not an unknown function.
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{_syntax_name(node)} is not allowed in an expression")
    for node in nodes:
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                shown = ast.unparse(node.func)
                raise ExpressionError(
                    f"{shown}() is not a known function{_suggest_function(shown)}"
                )
            if node.keywords:
                raise ExpressionError(f"{node.func.id}() takes no named arguments")
            calls.add(node.func.id)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ExpressionError(f"names starting with '_' are not allowed: {node.attr}")
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"names starting with '_' are not allowed: {node.id}")
    for node in nodes:
        if isinstance(node, ast.Attribute | ast.Name):
            chain = _chain(node)
            if chain is None:
                raise ExpressionError(f"{ast.unparse(node)}: only field.field paths are allowed")
    _collect(tree.body, names, paths, set(calls))
    for node in nodes:  # number literals are exact: 0.1 means Decimal("0.1")
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            node.value = _decimal_literal(text, node)
    return Expression(text, tree, frozenset(names), frozenset(paths), frozenset(calls))


def _decimal_literal(text: str, node: ast.Constant) -> Decimal:
    """The literal as written: through float, 1234567890123.4567 would lose its last digit."""
    written = ast.get_source_segment(text, node) or repr(node.value)
    try:
        number = Decimal(written)
    except InvalidOperation:
        raise ExpressionError(f"{written} is not a number this language knows") from None
    if not number.is_finite() or abs(number.adjusted()) > 100:
        raise ExpressionError(f"the number {written} is out of range")
    return number


def _collect(node: ast.AST, names: set[str], paths: set[tuple[str, ...]], calls: set[str]) -> None:
    if isinstance(node, ast.Call):
        for arg in node.args:
            _collect(arg, names, paths, calls)
        return
    if isinstance(node, ast.Attribute | ast.Name):
        chain = _chain(node)
        assert chain is not None
        names.add(chain[0])
        paths.add(chain)
        return
    for child in ast.iter_child_nodes(node):
        _collect(child, names, paths, calls)


def _chain(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return tuple(reversed(parts))


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + max((_depth(c) for c in children), default=0) if len(children) < 1000 else 1000


def _syntax_name(node: ast.AST) -> str:
    names = {
        "Lambda": "lambda", "ListComp": "a comprehension", "GeneratorExp": "a comprehension",
        "DictComp": "a comprehension", "SetComp": "a comprehension", "Subscript": "indexing [...]",
        "NamedExpr": "assignment (:=)", "Dict": "a dictionary", "Set": "a set",
        "JoinedStr": "an f-string", "Starred": "*unpacking", "Await": "await", "Slice": "slicing",
        "keyword": "a named argument (name=value)",
    }  # fmt: skip
    return names.get(type(node).__name__, type(node).__name__)


def _suggest_function(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, FUNCTIONS, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- evaluation ------------------------------------------------------------------------------


def _safe_power(a: Any, b: Any) -> Any:
    if abs(b) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {b} is larger than {MAX_EXPONENT}")
    # Whole numbers have no size limit: ((10 ** 100) ** 100) ** 100 would run for minutes.
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() * abs(b) > MAX_RESULT_BITS:
        raise ExpressionError("the result of ** would be too large")
    return operator.pow(a, b)


def _mod(a: Any, b: Any) -> Any:
    if b == 0:  # Decimal % 0 raises a bare InvalidOperation with no useful text
        raise ZeroDivisionError("division by zero")
    return operator.mod(a, b)


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        a = Decimal(a)
    return operator.truediv(a, b)


_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS.update({ast.Pow: _safe_power, ast.Div: _div, ast.Mod: _mod})
_CALLABLES = {name: f.call for name, f in FUNCTIONS.items()}


_CONSTANTS = {"True": True, "False": False, "None": None}
_local = threading.local()


def _evaluator() -> _Evaluator:
    """One evaluator per thread, reused: building one costs more than most evaluations."""
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = _local.evaluator = _Evaluator()
    return evaluator


class _Evaluator(simpleeval.SimpleEval):
    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=_CALLABLES, names={})
        self.nodes[ast.List] = self._eval_sequence
        self.nodes[ast.Tuple] = self._eval_sequence

    # The tree was checked against a whitelist at compile time (calls only to FUNCTIONS,
    # no attribute starting with '_', no subscripts, lambdas or comprehensions) and names
    # are bound to record data only, so the per-node re-checks of simpleeval's generic
    # `_eval` and `_eval_call` are skipped: they cost more than the evaluation itself.
    def _eval(self, node: ast.AST) -> Any:
        return self.nodes[type(node)](node)

    def _eval_call(self, node: ast.Call) -> Any:
        return self.functions[node.func.id](*[self._eval(a) for a in node.args])  # type: ignore[attr-defined]

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            return self.names[node.id]
        except KeyError:
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise simpleeval.NameNotDefined(node.id, self.expr) from None

    def _eval_sequence(self, node: ast.List | ast.Tuple) -> list[Any]:
        return [self._eval(item) for item in node.elts]

    def _eval_constant(self, node: ast.Constant) -> Any:
        return node.value  # floats were made Decimal at compile time

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        value = self._eval(node.value)
        if value is None:
            return None  # a blank reference reads as blank all the way down
        if isinstance(value, Mapping):
            if node.attr in value:
                return value[node.attr]
            raise ExpressionError(f"{ast.unparse(node.value)} has no field {node.attr!r}")
        raise ExpressionError(f"{ast.unparse(node.value)} is not a record")
