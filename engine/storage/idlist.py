"""A list of ids bound as one parameter: `column IN (the ids)` without rendering them.

SQLAlchemy renders an expanding `IN (:ids)` anew at each execution, one placeholder per
id: for the 5,000 parents of one refresh statement that costs more than running it (a
third of a 100,000-allocation write's parent refresh). On SQLite the list goes as one
JSON text, `IN (SELECT value FROM json_each(?))`, and the statement stays the same from
one execution to the next; elsewhere the expanding form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def param(sqlite: bool, name: str = "ids") -> sa.BindParameter[Any]:
    """The parameter that holds the ids: one JSON text on SQLite, a list elsewhere."""
    return sa.bindparam(name, expanding=not sqlite)


def among(column: sa.ColumnElement[Any], ids: sa.BindParameter[Any]) -> sa.ColumnElement[bool]:
    """`column IN (ids)`, for a parameter made by `param`."""
    if ids.expanding:
        return column.in_(ids)
    values = sa.func.json_each(ids).table_valued("value")
    return column.in_(sa.select(values.c.value))


def bound(ids: sa.BindParameter[Any], values: Sequence[int]) -> Any:
    """The value to pass for the parameter: the ids as they are, or as one JSON text."""
    return list(values) if ids.expanding else json.dumps(list(values))
