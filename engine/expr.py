"""User expressions: a small, sandboxed language on top of simpleeval.

Expressions are compiled once (parsed, checked against a whitelist of syntax,
their names collected for the definition checker) and evaluated many times.
Number literals are Decimal, so money never passes through float. There are no
loops or comprehensions, so each node of the (bounded) tree is visited at most
once; every operation and function bounds the size of what it takes and makes
(texts, lists, whole numbers, decimal exponents, rounding places, patterns),
and a deadline is checked at every node: an expression finishes in
milliseconds or fails with an ExpressionError, and cannot reach Python
internals, files, the network or SQL.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import inspect
import operator
import reprlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException, InvalidOperation
from typing import Any

import simpleeval

from engine import clock, patterns
from engine.i18n import Message, _

MAX_LENGTH = 2000  # characters of source
MAX_NODES = 300
MAX_DEPTH = 40
MAX_MAGNITUDE = 100  # of a number literal's decimal exponent, and of round()'s places
MAX_EXPONENT = 100  # of a power
MAX_RESULT_BITS = 4096  # of a whole number made by * or **: about 1,200 digits
MAX_TEXT_LENGTH = simpleeval.MAX_STRING_LENGTH  # of a text or list made by + or *: 100,000
MAX_FUNCTION_TEXT = 1_000_000  # characters of a text a function reads
TIME_LIMIT_SECONDS = 0.25  # a backstop: the bounds above keep evaluations far below it
# The limit is on this thread's CPU time, so a busy machine or another thread holding the
# GIL never fails an honest expression; wall time is looked at first because it is cheap.

# Every evaluation runs in this context, whatever the caller's: 28 digits as Python's default,
# and exponents bounded so that turning a decimal into a whole number stays cheap.
DECIMAL_CONTEXT = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=1000,
    Emin=-1000,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class ExpressionError(Exception):
    """An expression that does not compile, or that failed while running.

    `blank` is true when it failed because a value it read was blank (None), which
    callers may treat as "does not apply" rather than as an error. `where` is the
    expression's place in the app definitions (file:line:column and path), set on
    errors raised while it runs, so a failure in a computed value points at its YAML.
    """

    def __init__(self, message: str, blank: bool = False, where: str = ""):
        super().__init__(message)
        self.blank = blank
        self.where = where

    @property
    def message(self) -> str:
        """The problem alone, without the place (a `Message`, when it was made by `_`)."""
        message = self.args[0]
        return message if isinstance(message, str) else str(message)

    @property
    def located(self) -> str:
        """The problem and the place, translatable as a whole (`Message`)."""
        if not self.where:
            return self.message
        return _("%(problem)s (expression at %(where)s)", problem=self.message, where=self.where)

    def __str__(self) -> str:
        return str(self.located)


# --- the function library -------------------------------------------------------------------


_SHORT = reprlib.Repr()  # (keyword arguments only from Python 3.12)
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = 6


def shown(value: Any) -> str:
    """A value in an error message as the expression's author writes it: 2.5, 2026-01-31,
    'text' (not Decimal('2.5') or datetime.date(...)), and short even for a huge list."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | Decimal):
        text = str(Decimal(value))  # (str of an int past 4,300 digits raises)
        return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return _SHORT.repr(value)


def _num(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _whole(value: Any, what: str) -> int:
    """`value` as a whole number, refusing fractions ('2.5 places'), text and booleans."""
    if type(value) is int:
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    raise ExpressionError(
        _("%(what)s must be a whole number, got %(value)s", what=what, value=shown(value))
    )


def _text(value: Any, function: str) -> str:
    """A function's text argument: a number or date reads as its text, a list does not."""
    if isinstance(value, list | tuple | Mapping | set):
        raise ExpressionError(
            _("%(function)s() needs text, not a list or a record", function=function)
        )
    text = str(value)
    if len(text) > MAX_FUNCTION_TEXT:
        raise ExpressionError(
            _(
                "%(function)s() reads at most %(n)s characters",
                function=function,
                n=MAX_FUNCTION_TEXT,
            )
        )
    return text


def _days(n: Any) -> dt.timedelta:
    if n is None:
        raise ExpressionError(_("days() needs a number, got nothing"), blank=True)
    try:
        return dt.timedelta(days=int(n))
    except OverflowError:
        raise ExpressionError(_("days(%(n)s) is more days than a date can move", n=n)) from None


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise ExpressionError(_("expected a date, got %(value)s", value=shown(value)))


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


def _extreme(pick: Callable[[list[Any]], Any], args: tuple[Any, ...]) -> Any:
    """min(a, b, ...) or min(values): one argument that is not text is a list of values."""
    items = args[0] if len(args) == 1 and not isinstance(args[0], str) else args
    present = _present(items or ())
    return pick(present) if present else None


def _min(*args: Any) -> Any:
    return _extreme(min, args)


def _max(*args: Any) -> Any:
    return _extreme(max, args)


def _round(value: Any, places: Any = 0) -> Any:
    if value is None:
        return None
    value = _num(value)
    # round(1, -30000000) would compute 10 ** 30000000 for a whole number: 40 s.
    places = _whole(places, "round()'s places")
    if abs(places) > MAX_MAGNITUDE:
        raise ExpressionError(_("round() takes places from -%(n)s to %(n)s", n=MAX_MAGNITUDE))
    if isinstance(value, Decimal):
        return value.quantize(Decimal(f"1e{-places}"))
    return round(value, places)


def _contains(haystack: Any, needle: Any) -> bool:
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return _text(needle, "contains").lower() in _text(haystack, "contains").lower()
    return needle in haystack


def _matches(text: Any, pattern: Any) -> bool:
    if text is None:
        return False
    if not isinstance(pattern, str):
        raise ExpressionError(
            _("matches() needs a pattern as text, got %(pattern)s", pattern=shown(pattern))
        )
    try:
        timeout = min(patterns.TIMEOUT_SECONDS, _remaining())
        return patterns.search(pattern, _text(text, "matches"), timeout=timeout)
    except patterns.PatternError as exc:
        raise ExpressionError(exc.args[0]) from exc


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _lower(value: Any) -> str | None:
    return None if value is None else _text(value, "lower").lower()


def _upper(value: Any) -> str | None:
    return None if value is None else _text(value, "upper").upper()


@dataclass(frozen=True)
class Function:
    call: Callable[..., Any]
    doc: str
    time_dependent: bool = False

    def takes(self, count: int) -> bool:
        """Whether it can be called with `count` arguments (checked when compiling)."""
        try:
            inspect.signature(self.call).bind(*range(count))
        except TypeError:
            return False
        return True


FUNCTIONS: dict[str, Function] = {
    "today": Function(clock.today, "today() - the current date", time_dependent=True),
    "days": Function(_days, "days(n) - a duration of n days, to add to or subtract from a date"),
    "days_between": Function(_days_between, "days_between(a, b) - whole days from date a to b"),
    "days_until": Function(
        _days_until, "days_until(d) - days from today to d (negative once d is past)", True
    ),
    "abs": Function(lambda v: None if v is None else abs(_num(v)), "abs(x) - absolute value"),
    "round": Function(_round, "round(x, places=0) - rounded half-even, Decimal-exact"),
    "min": Function(_min, "min(a, b, ...) or min(values) - smallest, ignoring blanks"),
    "max": Function(_max, "max(a, b, ...) or max(values) - largest, ignoring blanks"),
    "sum": Function(_sum, "sum(values) - total, e.g. sum(allocation.amount) over related records"),
    "count": Function(_count, "count(records) - how many, e.g. count(invoice)"),
    "len": Function(lambda v: 0 if v is None else len(v), "len(text) - number of characters"),
    "lower": Function(_lower, "lower(text)"),
    "upper": Function(_upper, "upper(text)"),
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
# Text, numbers, booleans and None; not bytes (b'%0999999d' % 1 formats too) or `...`.
_LITERAL_TYPES = (str, int, float, complex, type(None))


@dataclass(frozen=True)
class Expression:
    """A compiled expression; `names` and `paths` say which record fields it reads."""

    source: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()
    paths: frozenset[tuple[str, ...]] = frozenset()
    calls: frozenset[str] = frozenset()
    where: str = field(default="", compare=False)  # its place in the definitions, for errors

    @property
    def time_dependent(self) -> bool:
        return any(FUNCTIONS[c].time_dependent for c in self.calls)

    def evaluate(self, names: dict[str, Any]) -> Any:
        """The value of the expression for `names`, or an ExpressionError that says where."""
        evaluator = _evaluator()
        evaluator.names = names
        evaluator.deadline = time.monotonic() + TIME_LIMIT_SECONDS
        evaluator.cpu_deadline = time.thread_time() + TIME_LIMIT_SECONDS
        saved = decimal.getcontext()
        decimal.setcontext(evaluator.context)
        try:
            return evaluator._eval(self.tree.body)
        except ExpressionError as exc:
            exc.where = exc.where or self.where
            raise
        except _FAILURES as exc:
            raise _failure(exc, self.where) from exc
        finally:
            decimal.setcontext(saved)


# What running an expression may raise besides ExpressionError: wrong types, blanks, numbers
# without a valid result. RecursionError and MemoryError are a backstop the bounds should
# never reach. Errors of the record loader behind a reference (a database error) pass on.
_FAILURES = (
    simpleeval.InvalidExpression, ArithmeticError, TypeError, ValueError, LookupError,
    AttributeError, RecursionError, MemoryError,
)  # fmt: skip


def _failure(exc: BaseException, where: str) -> ExpressionError:
    if isinstance(exc, RecursionError | MemoryError):
        return ExpressionError(_("the expression needs too much memory or nesting"), where=where)
    blank = isinstance(exc, TypeError | ValueError | LookupError | AttributeError) and (
        "NoneType" in str(exc)
    )
    return ExpressionError(_describe(exc), blank=blank, where=where)


def _describe(exc: BaseException) -> str:
    # decimal's 0 / 0 raises InvalidOperation, naming DivisionUndefined in its text.
    if isinstance(exc, ZeroDivisionError) or "DivisionUndefined" in str(exc):
        return _("division by zero")
    if isinstance(exc, TypeError) and "unsupported operand" in str(exc):
        return _("values of incompatible types: %(error)s", error=str(exc))
    if isinstance(exc, DecimalException):  # its text is only "[<class '...'>]"
        return _("the calculation has no valid result (a number too large, or undefined)")
    return str(exc) or type(exc).__name__


def compile_expression(source: Any, where: str = "") -> Expression:
    """Parse and check `source`; raise ExpressionError with a readable message.

    `where` (file:line:column and path in the definitions) is named by the errors the
    expression raises when it runs; compile errors are located by the caller.
    """
    if isinstance(source, bool) or not isinstance(source, str | int | float):
        raise ExpressionError(_("an expression must be text"))
    text = str(source).strip()
    if not text:
        raise ExpressionError(_("the expression is empty"))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(_("the expression is longer than %(n)s characters", n=MAX_LENGTH))
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python gives offset 0 when the text ends too early ("amount +").
        where = (
            _("column %(n)s", n=exc.offset)
            if exc.offset and exc.offset <= len(text)
            else _("the end")
        )
        raise ExpressionError(
            _("syntax error at %(where)s: %(problem)s", where=where, problem=exc.msg)
        ) from exc
    except RecursionError as exc:
        raise ExpressionError(_("the expression is nested too deeply")) from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(_("the expression has more than %(n)s parts", n=MAX_NODES))
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(_("the expression is nested too deeply"))
    names: set[str] = set()
    paths: set[tuple[str, ...]] = set()
    calls: set[str] = set()
    # Refused syntax first: `(lambda: 1)()` is about the lambda, not an unknown function.
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                _("%(syntax)s is not allowed in an expression", syntax=_syntax_name(node))
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, _LITERAL_TYPES):
            raise ExpressionError(
                _("the literal %(literal)s is not allowed", literal=ast.unparse(node))
            )
    for node in nodes:
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                shown = ast.unparse(node.func)
                raise ExpressionError(_suggest_function(shown))
            function = FUNCTIONS[node.func.id]
            if not function.takes(len(node.args)):
                count = len(node.args)
                usage = {"function": node.func.id, "count": count, "usage": function.doc}
                raise ExpressionError(
                    _("%(function)s() does not take %(count)s argument: %(usage)s", **usage)
                    if count == 1
                    else _("%(function)s() does not take %(count)s arguments: %(usage)s", **usage)
                )
            calls.add(node.func.id)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ExpressionError(
                    _("names starting with '_' are not allowed: %(name)s", name=node.attr)
                )
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(
                _("names starting with '_' are not allowed: %(name)s", name=node.id)
            )
    for node in nodes:
        if isinstance(node, ast.Attribute | ast.Name):
            chain = _chain(node)
            if chain is None:
                raise ExpressionError(
                    _("%(path)s: only field.field paths are allowed", path=ast.unparse(node))
                )
    _collect(tree.body, names, paths)
    for node in nodes:  # number literals are exact: 0.1 means Decimal("0.1")
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            # The evaluator returns Constant values as they are; ast's types know no Decimal.
            node.value = _decimal_literal(text, node)  # type: ignore[assignment]
    return Expression(text, tree, frozenset(names), frozenset(paths), frozenset(calls), where)


def _decimal_literal(text: str, node: ast.Constant) -> Decimal:
    """The literal as written: through float, 1234567890123.4567 would lose its last digit."""
    written = ast.get_source_segment(text, node)
    assert written is not None  # a node parsed from `text` has its position
    try:
        number = Decimal(written)
    except InvalidOperation:
        raise ExpressionError(
            _("%(number)s is not a number this language knows", number=written)
        ) from None
    if not number.is_finite() or abs(number.adjusted()) > MAX_MAGNITUDE:
        raise ExpressionError(_("the number %(number)s is out of range", number=written))
    return number


def _collect(node: ast.AST, names: set[str], paths: set[tuple[str, ...]]) -> None:
    if isinstance(node, ast.Call):
        for arg in node.args:
            _collect(arg, names, paths)
        return
    if isinstance(node, ast.Attribute | ast.Name):
        chain = _chain(node)
        assert chain is not None
        names.add(chain[0])
        paths.add(chain)
        return
    for child in ast.iter_child_nodes(node):
        _collect(child, names, paths)


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
    """Levels of the tree below `node`; called once it has at most MAX_NODES nodes."""
    return 1 + max((_depth(c) for c in ast.iter_child_nodes(node)), default=0)


def _syntax_name(node: ast.AST) -> str:
    names = {
        "Lambda": "lambda", "ListComp": "a comprehension", "GeneratorExp": "a comprehension",
        "DictComp": "a comprehension", "SetComp": "a comprehension", "Subscript": "indexing [...]",
        "NamedExpr": "assignment (:=)", "Dict": "a dictionary", "Set": "a set",
        "JoinedStr": "an f-string", "Starred": "*unpacking", "Await": "await",
        "keyword": "a named argument (name=value)", "BitOr": "the operator |",
        "BitAnd": "the operator &", "BitXor": "the operator ^", "Invert": "the operator ~",
        "LShift": "the operator <<", "RShift": "the operator >>", "MatMult": "the operator @",
    }  # fmt: skip
    return names.get(type(node).__name__, type(node).__name__)


def _suggest_function(name: str) -> Message:
    """The error for a call of an unknown function, with the closest known one."""
    import difflib

    close = difflib.get_close_matches(name, FUNCTIONS)
    if close:
        return _(
            "%(name)s() is not a known function (did you mean '%(close)s'?)",
            name=name,
            close=close[0],
        )
    return _("%(name)s() is not a known function", name=name)


# --- evaluation ------------------------------------------------------------------------------


def _safe_power(a: Any, b: Any) -> Any:
    if abs(b) > MAX_EXPONENT:
        raise ExpressionError(_("exponent %(b)s is larger than %(n)s", b=b, n=MAX_EXPONENT))
    if isinstance(a, int) and isinstance(b, int):
        # Whole numbers have no size limit: ((10 ** 100) ** 100) ** 100 would run for minutes.
        if a.bit_length() * abs(b) > MAX_RESULT_BITS:
            raise ExpressionError(_("the result of ** would be too large"))
        if b < 0:  # 2 ** -1 would be the float 0.5
            a = Decimal(a)
    if a == 0 and b < 0:  # Decimal gives Infinity, which no field can hold
        raise ExpressionError(_("division by zero"))
    return operator.pow(a, b)


def _mult(a: Any, b: Any) -> Any:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        # [[1] * 9999] * 9999 is small, but printing or comparing it is not.
        raise ExpressionError(_("a list cannot be repeated with *"))
    if isinstance(a, str) and isinstance(b, str):
        # simpleeval's safe_mult would first repeat one text len(other) times to compare it.
        raise ExpressionError(_("two texts cannot be multiplied"))
    if isinstance(a, str) or isinstance(b, str):
        return simpleeval.safe_mult(a, b)  # refuses texts longer than MAX_TEXT_LENGTH
    result = a * b
    if type(result) is int and result.bit_length() > MAX_RESULT_BITS:
        raise ExpressionError(_("the result of * would be too large"))
    return result


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        # '%0999999999d' % 1 builds a gigabyte; expressions have no use for printf formatting.
        raise ExpressionError(_("%(op)s is for numbers: text formatting is not allowed", op="%"))
    if b == 0:  # Decimal % 0 raises a bare InvalidOperation with no useful text
        raise ExpressionError(_("division by zero"))
    return operator.mod(a, b)


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        a = Decimal(a)
    return operator.truediv(a, b)


_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS.update({ast.Pow: _safe_power, ast.Div: _div, ast.Mod: _mod, ast.Mult: _mult})
_CALLABLES = {name: f.call for name, f in FUNCTIONS.items()}


_CONSTANTS = {"True": True, "False": False, "None": None}
_local = threading.local()


def _evaluator() -> _Evaluator:
    """One evaluator per thread, reused: building one costs more than most evaluations."""
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = _local.evaluator = _Evaluator()
    return evaluator


def _remaining() -> float:
    """Seconds left before this thread's evaluation runs out of time."""
    return _evaluator().deadline - time.monotonic()


class _Evaluator(simpleeval.SimpleEval):
    deadline = 0.0  # time.monotonic() past which the CPU time is looked at; set by evaluate()
    cpu_deadline = 0.0  # time.thread_time() past which the evaluation stops

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=_CALLABLES)
        self.nodes[ast.List] = self._eval_sequence
        self.nodes[ast.Tuple] = self._eval_sequence
        self.context = DECIMAL_CONTEXT.copy()  # per thread: a context records flags

    # The tree was checked against a whitelist at compile time (calls only to FUNCTIONS,
    # no attribute starting with '_', no subscripts, lambdas or comprehensions) and names
    # are bound to record data only, so the per-node re-checks of simpleeval's generic
    # `_eval` and `_eval_call` are skipped: they cost more than the evaluation itself.
    def _eval(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline and time.thread_time() > self.cpu_deadline:
            raise ExpressionError(
                _("the expression took longer than %(n)s s", n=TIME_LIMIT_SECONDS)
            )
        return self.nodes[type(node)](node)

    def _eval_call(self, node: ast.Call) -> Any:
        return self.functions[node.func.id](*[self._eval(a) for a in node.args])  # type: ignore[attr-defined]

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            return self.names[node.id]
        except KeyError:
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise ExpressionError(_("unknown name %(name)s", name=repr(node.id))) from None

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
            raise ExpressionError(
                _(
                    "%(record)s has no field %(field)s",
                    record=ast.unparse(node.value),
                    field=repr(node.attr),
                )
            )
        raise ExpressionError(_("%(value)s is not a record", value=ast.unparse(node.value)))
