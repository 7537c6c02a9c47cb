"""A field type owns its traits (issue 5): no code outside engine/fieldtypes.py asks
"is it one of these types?" with a literal collection of type names, so a new type is one
class and nothing else. The scan reads the code's syntax, not its text."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.fieldtypes import FIELD_TYPES

ROOT = Path(__file__).resolve().parent.parent


def type_name_collections(source: str) -> list[tuple[int, list[str]]]:
    """Tuples, lists and sets made only of two or more field-type names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            texts = [
                e.value
                for e in node.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
            if len(texts) >= 2 and len(texts) == len(node.elts) and set(texts) <= set(FIELD_TYPES):
                found.append((node.lineno, texts))
    return found


def test_the_scan_finds_a_tuple_of_type_names() -> None:
    assert type_name_collections('if t in ("money", "decimal"): pass') == [
        (1, ["money", "decimal"])
    ]
    assert type_name_collections('FIELDS = ("date", "amount", "currency")') == []


def test_no_collection_of_type_names_outside_the_field_types() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {names}"
        for folder in ("engine", "web")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "engine" / "fieldtypes.py"
        for line, names in type_name_collections(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
