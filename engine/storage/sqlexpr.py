"""The computed fields and checks of a parent as SQL, for refreshing parents set-based.

A refresh of 200,000 invoices and bank lines cannot evaluate their expressions one record
at a time in Python and finish in seconds. Most such expressions are sums over children
and a little arithmetic (`amount - paid_amount`, `'paid' if open_amount <= 0 else ...`),
which the database computes exactly as the evaluator does: sums and differences of
Decimals at a fixed scale (SQLite: whole numbers of 10**-scale units, see ExactDecimal),
comparisons of numbers, texts and dates, choices between texts.

Only that subset is translated; anything else (a ref, a function other than sum and abs,
a multiplication, a boolean, mixed kinds) raises Untranslatable, and the refresh then
evaluates the entity in Python. Where the two could still differ, the translation says
so and the refresh hands those rows to Python too: a blank input (`flag`: the evaluator
fails or skips a check on it; SQL would carry NULL through), a money result that its
currency would round (checked on each value read back).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine import clock
from engine.appdef import Entity
from engine.storage import idlist
from engine.storage.types import ExactDecimal

if TYPE_CHECKING:
    from engine.storage.database import Database


class Untranslatable(Exception):
    """An expression outside what the database computes exactly like the evaluator."""


@dataclass(frozen=True)
class Sql:
    """A translated expression: its value, and where the evaluator would fail instead.

    `fails` is true on the rows where the evaluator raises (arithmetic or an ordering
    comparison on a blank): there SQL's value means nothing and the row goes to Python.
    It may say so on more rows than the evaluator fails on (both branches of a choice
    count), never on fewer; None: never.
    """

    expr: sa.ColumnElement[Any]
    kind: str  # num | text | date | bool | none | ref:<entity> (an id)
    scale: int = 0  # num: the places; on SQLite the value is a whole number of 10**-scale
    fails: sa.ColumnElement[Any] | None = None
    nullable: bool = False  # may be blank where it does not fail (a column, a choice of them)


@dataclass(frozen=True)
class Computed:
    name: str
    expr: sa.ColumnElement[Any]
    money: bool  # rounded to the record's currency: checked when read back


@dataclass(frozen=True)
class SetPlan:
    """How a parent entity is refreshed in SQL: new values, where Python must, failed checks."""

    computed: tuple[Computed, ...]
    python: sa.ColumnElement[Any]  # true where the evaluator could fail (a blank input)
    check: sa.ColumnElement[Any] | None  # true where a check fails on the new values
    source: sa.FromClause  # the table, joined to the sums over its children and its refs
    ids: sa.BindParameter[Any]  # the parents of one statement (idlist.param)


_ORDER: dict[type[ast.cmpop], str] = {
    ast.Lt: "__lt__",
    ast.LtE: "__le__",
    ast.Gt: "__gt__",
    ast.GtE: "__ge__",
}


def _either(*fails: sa.ColumnElement[Any] | None) -> sa.ColumnElement[Any] | None:
    present: dict[str, sa.ColumnElement[Any]] = {}
    for f in fails:
        if f is not None:
            for term in f.clauses if isinstance(f, sa.BooleanClauseList) else [f]:
                present.setdefault(str(term), term)  # each condition once
    return sa.or_(*present.values()) if present else None


def _blank(*values: Sql) -> list[sa.ColumnElement[Any]]:
    """Where the values may be blank: an error for arithmetic and ordering."""
    return [v.expr.is_(None) for v in values if v.nullable]


class _Translator:
    def __init__(self, db: Database, ent: Entity):
        from engine.appdef.plan import entity_plan

        self.db, self.ent = db, ent
        self.table = db.table(ent.qualname)
        self.sqlite = db.dialect == "sqlite"
        self.new: dict[str, Sql] = {}  # computed fields translated so far: their new values
        self.ids = idlist.param(self.sqlite)
        # The sums over each relation, one grouped subquery over the parents' children
        # joined to the parents: the database adds each up once, however often it is read.
        self.sums: dict[str, sa.Subquery] = {}
        self.refs: dict[str, sa.FromClause] = {}  # ref field -> its target, joined
        self.source: sa.FromClause = self.table
        for name, fields in entity_plan(db.appset, ent.qualname).summed:
            relation = next(r for r in ent.relations if r.name == name)
            child = db.table(relation.child)
            key = child.c[relation.field]
            totals = (sa.func.sum(child.c[f]).label(f) for f in fields)
            sub = (
                sa.select(key.label("parent_id"), *totals)
                .where(idlist.among(key, self.ids))
                .group_by(key)
                .subquery(f"sums_{name}")
            )
            self.sums[name] = sub
            self.source = self.source.outerjoin(sub, sub.c.parent_id == self.table.c.id)

    def node(self, node: ast.AST) -> Sql:
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is None:
            raise Untranslatable(type(node).__name__)
        return handler(node)

    def _column(self, table: sa.FromClause, ent: Entity, name: str) -> Sql:
        column = table.c[name]
        field = ent.fields.get(name)
        type_ = column.type
        if field is not None and field.ref:
            return Sql(column, f"ref:{field.ref}", nullable=True)
        if isinstance(type_, ExactDecimal):
            return Sql(column, "num", type_.scale, nullable=True)
        if isinstance(type_, sa.Boolean):
            return Sql(column, "bool", nullable=True)
        if isinstance(type_, sa.Integer):
            return Sql(column, "num", 0, nullable=name != "id")
        if isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime):
            return Sql(column, "date", nullable=True)
        if isinstance(type_, sa.String):
            return Sql(column, "text", nullable=True)
        raise Untranslatable(name)

    def _Name(self, node: ast.Name) -> Sql:
        name = node.id
        if name in self.new:
            return self.new[name]
        field = self.ent.fields.get(name)
        if field is None or field.computed:
            raise Untranslatable(name)  # a relation outside sum(), a constant
        return self._column(self.table, self.ent, name)

    def _Attribute(self, node: ast.Attribute) -> Sql:
        """`customer.currency`: the target's stored column, through a join (blank: blank)."""
        if not isinstance(node.value, ast.Name) or node.value.id in self.new:
            raise Untranslatable("attribute")
        field = self.ent.fields.get(node.value.id)
        if field is None or not field.ref:
            raise Untranslatable("attribute")
        target = self.db.appset.entity(field.ref)
        if node.attr not in target.fields:
            raise Untranslatable(node.attr)
        joined = self.refs.get(field.name)
        if joined is None:
            joined = self.refs[field.name] = self.db.table(field.ref).alias(f"ref_{field.name}")
            self.source = self.source.outerjoin(joined, joined.c.id == self.table.c[field.name])
        return self._column(joined, target, node.attr)

    def _Constant(self, node: ast.Constant) -> Sql:
        value = node.value
        if value is None:
            return Sql(sa.null(), "none")
        if isinstance(value, str):
            return Sql(sa.literal(value, sa.String()), "text")
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise Untranslatable(repr(value))
        number = Decimal(value)
        if not number.is_finite():
            raise Untranslatable(repr(value))
        exponent = number.as_tuple().exponent
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        return self._number(number, scale)

    def _number(self, number: Decimal, scale: int) -> Sql:
        if self.sqlite:
            return Sql(sa.literal(int(number.scaleb(scale)), sa.BigInteger()), "num", scale)
        return Sql(sa.literal(number, sa.Numeric()), "num", scale)

    def _at(self, value: Sql, scale: int) -> sa.ColumnElement[Any]:
        """A number at a larger scale (SQLite: times 10**difference; elsewhere as it is)."""
        if value.scale > scale:
            raise Untranslatable("rounding")
        literal = getattr(value.expr, "value", None)
        if self.sqlite and isinstance(literal, int) and value.scale < scale:
            return sa.literal(literal * 10 ** (scale - value.scale), sa.BigInteger())
        if self.sqlite and value.scale < scale:
            return value.expr * sa.literal(10 ** (scale - value.scale), sa.BigInteger())
        return value.expr

    def _pair(self, left: Sql, right: Sql) -> tuple[Any, Any, int]:
        if left.kind != right.kind or left.kind == "bool":
            raise Untranslatable("kinds")
        scale = max(left.scale, right.scale)
        if left.kind != "num":
            return left.expr, right.expr, 0
        return self._at(left, scale), self._at(right, scale), scale

    def _BinOp(self, node: ast.BinOp) -> Sql:
        if not isinstance(node.op, ast.Add | ast.Sub):
            raise Untranslatable(type(node.op).__name__)
        left, right = self.node(node.left), self.node(node.right)
        if left.kind != "num" or right.kind != "num":
            raise Untranslatable("arithmetic on non-numbers")
        a, b, scale = self._pair(left, right)
        fails = _either(left.fails, right.fails, *_blank(left, right))
        return Sql(a + b if isinstance(node.op, ast.Add) else a - b, "num", scale, fails)

    def _UnaryOp(self, node: ast.UnaryOp) -> Sql:
        operand = self.node(node.operand)
        if isinstance(node.op, ast.USub) and operand.kind == "num":
            fails = _either(operand.fails, *_blank(operand))
            return Sql(-operand.expr, "num", operand.scale, fails)
        if isinstance(node.op, ast.Not):
            test = self._truth(operand)
            return Sql(sa.not_(test.expr), "bool", 0, test.fails)
        raise Untranslatable(type(node.op).__name__)

    def _truth(self, value: Sql) -> Sql:
        """A value as a test: booleans only (a blank one is false, as in Python)."""
        if value.kind != "bool":
            raise Untranslatable("a test that is not a comparison or a flag")
        return Sql(sa.func.coalesce(value.expr, sa.false()), "bool", 0, value.fails)

    def _Compare(self, node: ast.Compare) -> Sql:
        terms = [self.node(node.left), *(self.node(c) for c in node.comparators)]
        parts, fails = [], [t.fails for t in terms]
        for op, left, right in zip(node.ops, terms, terms[1:], strict=False):
            if isinstance(op, ast.Is | ast.IsNot):
                if right.kind != "none":
                    raise Untranslatable("is, but not None")
                blank = left.expr.is_(None)
                parts.append(blank if isinstance(op, ast.Is) else sa.not_(blank))
                continue
            if isinstance(op, ast.Eq | ast.NotEq):  # Python's == treats blanks as values
                a, b, _scale = self._pair(left, right)
                same = a.is_not_distinct_from(b)
                parts.append(same if isinstance(op, ast.Eq) else a.is_distinct_from(b))
                continue
            method = _ORDER.get(type(op))
            if method is None or left.kind not in ("num", "date"):  # texts: by collation
                raise Untranslatable(type(op).__name__)
            a, b, _scale = self._pair(left, right)
            parts.append(getattr(a, method)(b))
            fails += _blank(left, right)  # an ordering with a blank raises
        expr = sa.and_(*parts) if len(parts) > 1 else parts[0]
        return Sql(expr, "bool", 0, _either(*fails))

    def _BoolOp(self, node: ast.BoolOp) -> Sql:
        values = [self._truth(self.node(v)) for v in node.values]
        join = sa.and_ if isinstance(node.op, ast.And) else sa.or_
        return Sql(join(*(v.expr for v in values)), "bool", 0, _either(*(v.fails for v in values)))

    def _IfExp(self, node: ast.IfExp) -> Sql:
        test = self._truth(self.node(node.test))
        body, orelse = self.node(node.body), self.node(node.orelse)
        a, b, scale = self._pair(body, orelse)
        fails = _either(test.fails, body.fails, orelse.fails)
        nullable = body.nullable or orelse.nullable
        return Sql(sa.case((test.expr, a), else_=b), body.kind, scale, fails, nullable)

    def _Call(self, node: ast.Call) -> Sql:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name == "today" and not node.args and not node.keywords:
            # The date the evaluator would give, read once for the statement (as a batch's
            # rows in Python read it within the same moment).
            day = clock.today()
            if self.sqlite:  # dates are ISO text on SQLite, which sorts as the dates do
                return Sql(sa.literal(day.isoformat(), sa.String()), "date")
            return Sql(sa.literal(day, sa.Date()), "date")
        if node.keywords or len(node.args) != 1:
            raise Untranslatable(name)
        if name == "abs":
            value = self.node(node.args[0])
            if value.kind != "num":
                raise Untranslatable("abs of a non-number")
            fails = _either(value.fails, *_blank(value))
            return Sql(sa.func.abs(value.expr), "num", value.scale, fails)
        if name == "sum":
            return self._sum(node.args[0])
        raise Untranslatable(name)

    def _sum(self, arg: ast.AST) -> Sql:
        if not (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)):
            raise Untranslatable("sum")
        relation = next((r for r in self.ent.relations if r.name == arg.value.id), None)
        sub = self.sums.get(arg.value.id)
        if relation is None or sub is None:
            raise Untranslatable("sum")
        child = self.db.appset.entity(relation.child)
        if arg.attr not in child.fields:
            raise Untranslatable("sum")
        value = self._column(self.db.table(relation.child), child, arg.attr)
        if value.kind != "num":
            raise Untranslatable("sum of non-numbers")
        zero = self._number(Decimal(0), value.scale).expr
        return Sql(sa.func.coalesce(sub.c[arg.attr], zero), "num", value.scale)

    def computed(self) -> tuple[Computed, ...]:
        from engine.appdef.plan import entity_plan

        out = []
        for field in entity_plan(self.db.appset, self.ent.qualname).computed_order:
            assert field.expr is not None
            value = self.node(field.expr.tree.body)
            stored = self._column(self.table, self.ent, field.name)
            if stored.kind == "num" and value.kind == "num":
                if field.value_type.python_type is not Decimal:  # integers round apart
                    raise Untranslatable(f"a {field.result} result")
                expr = self._at(value, stored.scale)
            elif stored.kind == "text" and value.kind == "text" and field.result == "choice":
                if not _literals(field.expr.tree.body):
                    raise Untranslatable("a choice of anything but texts")
                expr = value.expr
            else:
                raise Untranslatable(f"a {field.result} result")
            # A blank result (a blank input) is the evaluator's to store or refuse.
            fails = _either(value.fails, *_blank(value))
            self.new[field.name] = Sql(expr, stored.kind, stored.scale, fails)
            out.append(Computed(field.name, expr, field.value_type.uses_currency))
        return tuple(out)


def _literals(node: ast.AST) -> bool:
    """A text result made only of text literals (a choice between options)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.IfExp):
        return _literals(node.body) and _literals(node.orelse)
    return False


def set_plan(db: Database, ent: Entity) -> SetPlan | None:
    """The SQL refresh of `ent`, or None when its expressions are not all translatable."""
    translator = _Translator(db, ent)
    try:
        computed = translator.computed()
        checks = [translator._truth(translator.node(c.when.tree.body)) for c in ent.checks]
    except Untranslatable:
        return None
    values = [*translator.new.values(), *checks]
    python = _either(*(v.fails for v in values)) if values else None
    check = sa.or_(*(c.expr for c in checks)) if checks else None
    return SetPlan(
        computed,
        sa.false() if python is None else python,
        check,
        translator.source,
        translator.ids,
    )
