"""Expressions of the write path compiled once into Python closures.

A bulk write evaluates the same few expressions (defaults, computed fields, checks) for
every record: 100,000 invoices are 700,000 evaluations. The sandboxed evaluator
(engine.expr, on simpleeval) walks the syntax tree at each one, about 10 µs; a closure
per node, built once per expression, does the same work in about 1 µs.

Equivalence, not a second language: each closure calls the very operator and function
tables of engine.expr, in the evaluator's order, under its decimal context, so a value
computed here is the value the evaluator computes. Anything unusual (a blank, a missing
name, a type error, a bound exceeded) raises; `evaluate` then runs the expression again
through `Expression.evaluate`, whose result or located ExpressionError is the answer.
The bounds of engine.expr hold here too: they live in the operators and functions, so
an expression finishes as quickly (the evaluator's deadline is a backstop behind them).
"""

from __future__ import annotations

import ast
import contextlib
import decimal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from engine.expr import _CALLABLES, _CONSTANTS, _OPERATORS, DECIMAL_CONTEXT, Expression

Names = dict[str, Any]
Closure = Callable[[Names], Any]

_compiled: dict[int, tuple[Expression, Closure | None]] = {}  # by id: hashing one costs more
_local = threading.local()


class _Unsupported(Exception):
    """A node this compiler leaves to the evaluator (the whole expression then is)."""


def _context() -> decimal.Context:
    context = getattr(_local, "context", None)
    if context is None:
        context = _local.context = DECIMAL_CONTEXT.copy()  # per thread: it records flags
    return context


@contextlib.contextmanager
def exact() -> Iterator[None]:
    """Run a batch of evaluations in the evaluator's decimal context, switched once."""
    saved = decimal.getcontext()
    decimal.setcontext(_context())
    try:
        yield
    finally:
        decimal.setcontext(saved)


def evaluate(expr: Expression, names: Names) -> Any:
    """The value of `expr` for `names`: the closure's, or the evaluator's when it raises."""
    known = _compiled.get(id(expr))
    if known is None or known[0] is not expr:
        known = _compiled[id(expr)] = (expr, _compile_or_none(expr))
    fn = known[1]
    if fn is not None:
        if decimal.getcontext() is _context():
            try:
                return fn(names)
            except Exception:
                pass  # the evaluator below gives the exact error (or, unusually, the value)
        else:
            with exact():
                try:
                    return fn(names)
                except Exception:
                    pass
    return expr.evaluate(names)


def _compile_or_none(expr: Expression) -> Closure | None:
    try:
        return _node(expr.tree.body)
    except _Unsupported:
        return None


def _node(node: ast.AST) -> Closure:
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise _Unsupported(type(node).__name__)
    return handler(node)


def _name(node: ast.Name) -> Closure:
    key = node.id
    if key in _CONSTANTS:
        constant = _CONSTANTS[key]

        def name_or_constant(names: Names) -> Any:
            return names.get(key, constant)

        return name_or_constant

    def name(names: Names) -> Any:
        return names[key]  # a missing name raises: the evaluator names it

    return name


def _constant(node: ast.Constant) -> Closure:
    value = node.value
    return lambda names: value


def _attribute(node: ast.Attribute) -> Closure:
    inner, attr = _node(node.value), node.attr

    def attribute(names: Names) -> Any:
        value = inner(names)
        if value is None:
            return None  # a blank reference reads as blank all the way down
        if isinstance(value, Mapping) and attr in value:
            return value[attr]
        raise LookupError(attr)

    return attribute


def _binop(node: ast.BinOp) -> Closure:
    op = _OPERATORS.get(type(node.op))
    if op is None:
        raise _Unsupported(type(node.op).__name__)
    left, right = _node(node.left), _node(node.right)
    return lambda names: op(left(names), right(names))


def _unaryop(node: ast.UnaryOp) -> Closure:
    op = _OPERATORS.get(type(node.op))
    if op is None:
        raise _Unsupported(type(node.op).__name__)
    operand = _node(node.operand)
    return lambda names: op(operand(names))


def _boolop(node: ast.BoolOp) -> Closure:
    values = [_node(v) for v in node.values]
    if isinstance(node.op, ast.And):

        def all_of(names: Names) -> Any:
            result: Any = False
            for value in values:
                result = value(names)
                if not result:
                    break
            return result

        return all_of

    def any_of(names: Names) -> Any:
        result: Any = False
        for value in values:
            result = value(names)
            if result:
                break
        return result

    return any_of


def _compare(node: ast.Compare) -> Closure:
    first = _node(node.left)
    steps = []
    for operation, comparator in zip(node.ops, node.comparators, strict=True):
        op = _OPERATORS.get(type(operation))
        if op is None:
            raise _Unsupported(type(operation).__name__)
        steps.append((op, _node(comparator)))
    if len(steps) == 1:
        ((op, second),) = steps
        return lambda names: op(first(names), second(names))

    def chain(names: Names) -> Any:
        right = first(names)
        result: Any = True
        for op, comparator in steps:
            if not result:
                break
            left, right = right, comparator(names)
            result = op(left, right)
        return result

    return chain


def _ifexp(node: ast.IfExp) -> Closure:
    test, body, orelse = _node(node.test), _node(node.body), _node(node.orelse)
    return lambda names: body(names) if test(names) else orelse(names)


def _call(node: ast.Call) -> Closure:
    if not isinstance(node.func, ast.Name) or node.func.id not in _CALLABLES or node.keywords:
        raise _Unsupported("call")
    function = _CALLABLES[node.func.id]
    args = [_node(a) for a in node.args]
    if len(args) == 1:
        (only,) = args
        return lambda names: function(only(names))
    return lambda names: function(*[a(names) for a in args])


def _sequence(node: ast.List | ast.Tuple) -> Closure:
    items = [_node(e) for e in node.elts]
    return lambda names: [item(names) for item in items]


_HANDLERS: dict[type[ast.AST], Callable[[Any], Closure]] = {
    ast.Name: _name,
    ast.Constant: _constant,
    ast.Attribute: _attribute,
    ast.BinOp: _binop,
    ast.UnaryOp: _unaryop,
    ast.BoolOp: _boolop,
    ast.Compare: _compare,
    ast.IfExp: _ifexp,
    ast.Call: _call,
    ast.List: _sequence,
    ast.Tuple: _sequence,
}
