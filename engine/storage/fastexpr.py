"""Expressions of the write path compiled once into Python functions.

A bulk write evaluates the same few expressions (defaults, computed fields, checks) for
every record: 100,000 invoices are 700,000 evaluations. The sandboxed evaluator
(engine.expr, on simpleeval) walks the syntax tree at each one, about 10 µs. Here each
expression becomes the source of one small Python function, compiled once (as attrs and
dataclasses build their `__init__`), which does the same work in well under 1 µs.

Equivalence, not a second language: the generated code calls the very operator and
function tables of engine.expr, in the evaluator's order, under its decimal context
(operators that are plain `operator` functions are written inline: the same operation).
Anything unusual (a blank, a missing name, a type error, a bound exceeded) raises; the
caller then runs the expression again through `Expression.evaluate`, whose result or
located ExpressionError is the answer. The bounds of engine.expr hold here too: they
live in the operators and functions, so an expression finishes as quickly.

Where the names come from is a `Scope`. `evaluate` reads a dict of names, as the
evaluator does. `RowScope` reads a record being written directly (`row`, its id, the
transaction's loader), so a write need not build the evaluator's context for every
record: a reference is its id until the expression needs the record (`customer.terms`
reads the loader's row; anywhere else it becomes the RefView the evaluator would see),
and `allocation.amount` reads the loader's children of the record.

A record being created has no children yet: `RowScope(..., new=True)` writes its
relations' values as the empty list they are, and any part of an expression then made
only of constants (`sum(allocation.amount)` is Decimal 0) is worked out once, when
compiling, in the same decimal context; what raises is left to raise at each record.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import decimal
import operator
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import simpleeval

from engine.appdef import AppSet, Entity, Relation
from engine.expr import _CALLABLES, _CONSTANTS, _OPERATORS, DECIMAL_CONTEXT, FUNCTIONS, Expression
from engine.storage.records import Loader, RefView, RelationView

Names = dict[str, Any]
# (row, record id or None, loader) -> value: an expression compiled for one entity's rows
RowFunction = Callable[[Mapping[str, Any], "int | None", Loader], Any]

_compiled: dict[int, tuple[Expression, Callable[[Names], Any] | None]] = {}  # by id: cheaper
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


def in_exact_context() -> bool:
    """Whether the evaluator's decimal context is the current one (inside `exact()`)."""
    return decimal.getcontext() is _context()


def evaluate(expr: Expression, names: Names) -> Any:
    """The value of `expr` for `names`: the compiled function's, or the evaluator's when
    it raises."""
    known = _compiled.get(id(expr))
    if known is None or known[0] is not expr:
        known = _compiled[id(expr)] = (expr, _compile_or_none(expr, Scope()))
    fn = known[1]
    if fn is not None:
        if in_exact_context():
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


def compile_for_rows(
    expr: Expression, appset: AppSet, entity: Entity, new: bool = False
) -> RowFunction | None:
    """`expr` of `entity` as a function of (row, record id, loader); None when some part of
    it is left to the evaluator. It raises where the evaluator would raise or might
    differ: run `Expression.evaluate` on the record's context then. `new`: only for
    records being created (no id, no children)."""
    return _compile_or_none(expr, RowScope(appset, entity, new))


# -- what the compiler writes --------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """Python source of a part of an expression, and what its value stands for."""

    src: str
    ref: str | None = None  # a record id of this entity, which the evaluator sees as a RefView
    relation: Relation | None = None  # the children of the record (the evaluator: RelationView)
    fixed: bool = False  # the same for every record: reads no row, id, loader or clock


def _attr(value: Any, attr: str) -> Any:
    """`value.attr` as the evaluator reads it."""
    if value is None:
        return None  # a blank reference reads as blank all the way down
    if isinstance(value, Mapping) and attr in value:
        return value[attr]
    raise LookupError(attr)


def _deref(loader: Loader, target: str, record_id: Any, attr: str) -> Any:
    """`ref.attr` for a reference held as its id: what RefView(...)[attr] gives."""
    if record_id is None:
        return None
    record = loader.holding(target, record_id, (attr,))  # the columns a batch loaded will do
    if record is None or attr not in record:
        raise LookupError(attr)  # the evaluator names what is missing
    return record[attr]


def _view(loader: Loader, target: str, record_id: Any) -> Any:
    """The RefView the evaluator's context holds for a reference."""
    return None if record_id is None else RefView(loader, loader.db.appset, target, record_id)


def _children(loader: Loader, relation: Relation, record_id: int | None) -> list[dict[str, Any]]:
    return [] if record_id is None else loader.children(relation, record_id)


def _relation(loader: Loader, relation: Relation, record_id: int | None) -> RelationView:
    return RelationView(_children(loader, relation, record_id))


def _missing(name: str) -> Any:
    raise LookupError(name)  # the evaluator says "unknown name"


class Scope:
    """Names read from a dict, as the evaluator reads them."""

    params = "names"

    def name(self, key: str, out: _Writer) -> Code:
        if key in _CONSTANTS:
            return Code(f"names.get({key!r}, {out.bind(_CONSTANTS[key])})")
        return Code(f"names[{key!r}]")  # a missing name raises: the evaluator names it

    def attribute(self, base: Code, attr: str, out: _Writer) -> Code:
        return Code(f"_attr({self.value(base)}, {attr!r})")

    def value(self, code: Code) -> str:
        """The source of the value the evaluator would hold."""
        return code.src


class RowScope(Scope):
    """Names read from a record being written, as Derivation.context would give them."""

    params = "row, rid, loader"

    def __init__(self, appset: AppSet, entity: Entity, new: bool = False):
        self.appset, self.entity, self.new = appset, entity, new  # new: a record being created
        self.relations = {r.name: r for r in entity.relations}

    def name(self, key: str, out: _Writer) -> Code:
        if key in self.relations:
            relation = self.relations[key]
            return Code(out.bind(relation), relation=relation)
        field = self.entity.fields.get(key)
        if field is not None:
            return Code(f"row.get({key!r})", ref=field.ref)
        if key == "id":
            return Code("None", fixed=True) if self.new else Code("rid")
        if key in _CONSTANTS:
            return Code(out.bind(_CONSTANTS[key]), fixed=True)
        return Code(f"_missing({key!r})")

    def attribute(self, base: Code, attr: str, out: _Writer) -> Code:
        if base.relation is not None:  # RelationView(...)[attr], without the view
            if self.new:
                return Code("[]", fixed=True)  # what _children gives a record with no id
            return Code(f"[c.get({attr!r}) for c in _children(loader, {base.src}, rid)]")
        if base.ref is not None:
            field = self.appset.entity(base.ref).fields.get(attr)
            ref = field.ref if field is not None else None
            return Code(f"_deref(loader, {base.ref!r}, {base.src}, {attr!r})", ref=ref)
        return super().attribute(base, attr, out)

    def value(self, code: Code) -> str:
        if code.relation is not None:
            return f"_relation(loader, {code.src}, rid)"
        if code.ref is not None:
            return f"_view(loader, {code.ref!r}, {code.src})"
        return code.src


def _relation_name(relation: Relation) -> str:
    return f"_rel_{relation.child.replace('.', '_')}_{relation.field}"


# Operators of engine.expr's table that are the plain Python operation: written inline.
_INLINE_BINARY = {
    operator.sub: "-", operator.truediv: "/", operator.floordiv: "//", operator.mod: "%",
    operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
    operator.gt: ">", operator.ge: ">=",
}  # fmt: skip
_INLINE_UNARY = {operator.not_: "not ", operator.neg: "-", operator.pos: "+"}
# simpleeval's own lambdas for these (x in y, x not in y, x is y, x is not y)
_INLINE_BINARY.update(
    {
        simpleeval.DEFAULT_OPERATORS[ast.In]: "in",
        simpleeval.DEFAULT_OPERATORS[ast.NotIn]: "not in",
        simpleeval.DEFAULT_OPERATORS[ast.Is]: "is",
        simpleeval.DEFAULT_OPERATORS[ast.IsNot]: "is not",
    }
)


# Values of a fixed part that every record may share: immutable ones.
_FOLDED = frozenset(
    {type(None), bool, int, str, float, decimal.Decimal, dt.date, dt.datetime, dt.timedelta}
)


class _Writer:
    """Writes the source of one expression's function; objects it uses become globals."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.globals: dict[str, Any] = {
            "_attr": _attr,
            "_deref": _deref,
            "_view": _view,
            "_children": _children,
            "_relation": _relation,
            "_missing": _missing,
        }
        self.ids: dict[int, str] = {}

    def fixed(self, src: str, *parts: Code) -> Code:
        """The code `src` made of `parts`: worked out now when they all are fixed."""
        if not all(p.fixed for p in parts):
            return Code(src)
        try:
            with exact():
                value = eval(src, dict(self.globals))  # written from checked parts
        except Exception:
            return Code(src)  # each record raises it, and the evaluator explains it
        if type(value) not in _FOLDED:
            return Code(src, fixed=True)  # a list, say: a fresh one at each record
        return Code(self.bind(value), fixed=True)

    def bind(self, value: Any) -> str:
        """A global name for `value` (literals that read back exactly are written inline)."""
        if value is None or type(value) in (bool, int, str):
            return repr(value)
        if isinstance(value, Relation):
            relation = _relation_name(value)
            self.globals[relation] = value
            return relation
        known = self.ids.get(id(value))
        if known is None:
            known = self.ids[id(value)] = f"_k{len(self.ids)}"
            self.globals[known] = value
        return known

    def value(self, node: ast.AST) -> str:
        return self.scope.value(self.node(node))

    def node(self, node: ast.AST) -> Code:
        handler = getattr(self, f"_{type(node).__name__.lower()}", None)
        if handler is None:
            raise _Unsupported(type(node).__name__)
        code: Code = handler(node)
        return code

    def _name(self, node: ast.Name) -> Code:
        return self.scope.name(node.id, self)

    def _constant(self, node: ast.Constant) -> Code:
        return Code(self.bind(node.value), fixed=True)

    def _attribute(self, node: ast.Attribute) -> Code:
        return self.scope.attribute(self.node(node.value), node.attr, self)

    def _binop(self, node: ast.BinOp) -> Code:
        left, right = self.node(node.left), self.node(node.right)
        src = self._operation(type(node.op), self.scope.value(left), self.scope.value(right))
        return self.fixed(src, left, right)

    def _operation(self, kind: type[ast.AST], left: str, right: str) -> str:
        op = _OPERATORS.get(kind)
        if op is None:
            raise _Unsupported(kind.__name__)
        inline = _INLINE_BINARY.get(op)
        if inline is not None:
            return f"({left} {inline} {right})"
        return f"{self.bind(op)}({left}, {right})"

    def _unaryop(self, node: ast.UnaryOp) -> Code:
        op = _OPERATORS.get(type(node.op))
        if op is None:
            raise _Unsupported(type(node.op).__name__)
        code = self.node(node.operand)
        operand = self.scope.value(code)
        inline = _INLINE_UNARY.get(op)
        if inline is not None:
            return self.fixed(f"({inline}{operand})", code)
        return self.fixed(f"{self.bind(op)}({operand})", code)

    def _boolop(self, node: ast.BoolOp) -> Code:
        # `a and b` gives what simpleeval's loop gives: the first falsy value, or the last
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return Code("(" + joiner.join(self.value(v) for v in node.values) + ")")

    def _compare(self, node: ast.Compare) -> Code:
        if len(node.ops) == 1:
            (kind,), (other,) = node.ops, node.comparators
            left = self._compared(node.left, kind, other)
            right = self._compared(other, kind, node.left)
            return Code(self._operation(type(kind), left, right))
        # a chain: Python's own (each operand once, stops at the first false) when inline
        parts = [self.value(node.left)]
        for kind, comparator in zip(node.ops, node.comparators, strict=True):
            inline = _INLINE_BINARY.get(_OPERATORS.get(type(kind)))  # type: ignore[arg-type]
            if inline is None:
                raise _Unsupported(type(kind).__name__)
            parts += [inline, self.value(comparator)]
        return Code("(" + " ".join(parts) + ")")

    def _compared(self, node: ast.AST, kind: ast.cmpop, other: ast.AST) -> str:
        """An operand of a comparison: `ref is None` needs no RefView (it is never None)."""
        code = self.node(node)
        if (
            isinstance(kind, ast.Is | ast.IsNot)
            and isinstance(other, ast.Constant)
            and other.value is None
            and code.ref is not None
        ):
            return code.src
        return self.scope.value(code)

    def _ifexp(self, node: ast.IfExp) -> Code:
        test, body, orelse = self.value(node.test), self.value(node.body), self.value(node.orelse)
        return Code(f"({body} if {test} else {orelse})")

    def _call(self, node: ast.Call) -> Code:
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLABLES or node.keywords:
            raise _Unsupported("call")
        function = self.bind(_CALLABLES[node.func.id])
        args = [self.node(a) for a in node.args]
        src = f"{function}({', '.join(self.scope.value(a) for a in args)})"
        if FUNCTIONS[node.func.id].time_dependent:
            return Code(src)  # today() is not the same at every record
        return self.fixed(src, *args)

    def _list(self, node: ast.List | ast.Tuple) -> Code:
        elements = [self.node(e) for e in node.elts]
        src = "[" + "".join(f"{self.scope.value(e)}, " for e in elements) + "]"
        return self.fixed(src, *elements)

    _tuple = _list  # the evaluator makes a list of a tuple too


def _compile_or_none(expr: Expression, scope: Scope) -> Callable[..., Any] | None:
    writer = _Writer(scope)
    try:
        body = writer.value(expr.tree.body)
    except _Unsupported:
        return None
    return _function(writer, f"def compiled({scope.params}):\n    return {body}\n", expr.source)


def _function(writer: _Writer, source: str, what: str) -> Callable[..., Any] | None:
    """The function `compiled` that `source` defines, with the writer's globals."""
    try:
        code = compile(source, f"<expression {what!r}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # nested too deeply for Python's parser
        return None
    namespace = dict(writer.globals)
    exec(code, namespace)  # the source is written from a checked syntax tree
    function: Callable[..., Any] = namespace["compiled"]
    function.source = source  # type: ignore[attr-defined]  # to read when debugging
    return function


class RowProgram:
    """Several expressions of one entity written into one function of (row, rid, loader),
    for work done to every record of a batch: one call instead of one per expression
    (storage/derived.py writes its computed values and checks so)."""

    def __init__(self, appset: AppSet, entity: Entity, new: bool = False):
        self.writer = _Writer(RowScope(appset, entity, new))  # new: only for records created

    def value(self, expr: Expression) -> str | None:
        """The source of `expr`'s value, or None when it is left to the evaluator."""
        code = self.code(expr)
        return None if code is None else self.writer.scope.value(code)

    def code(self, expr: Expression) -> Code | None:
        """`expr` as written (its `fixed` says whether it is the same at every record), or
        None when it is left to the evaluator; `writer.scope.value` gives its value."""
        try:
            return self.writer.node(expr.tree.body)
        except _Unsupported:
            return None

    def bind(self, value: Any) -> str:
        """A name the program's source may use for `value`."""
        return self.writer.bind(value)

    def build(self, lines: list[str], what: str) -> Callable[..., Any] | None:
        """The function of (row, rid, loader) whose body is `lines` (None if Python cannot
        compile it)."""
        body = "".join(f"    {line}\n" for line in lines)
        return _function(self.writer, f"def compiled(row, rid, loader):\n{body}", what)
