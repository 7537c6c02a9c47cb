"""web/ is a thin layer over the engine's public API: no SQLAlchemy, no storage internals.

If a view needs something the engine does not offer, the engine grows a public method
(a Reader method, a name in `engine.storage`), so permissions and errors stay in one place.
"""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_web_imports_neither_sqlalchemy_nor_storage_modules():
    offending = [
        f"{path.relative_to(WEB.parent)}: {module}"
        for path in sorted(WEB.rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0] == "sqlalchemy" or module.startswith("engine.storage.")
    ]
    assert not offending, "web/ must go through the engine's public API:\n" + "\n".join(offending)


def test_the_check_sees_imports_inside_functions(tmp_path: Path):
    sample = tmp_path / "views.py"
    sample.write_text("def f():\n    from engine.storage.query import parse_sort\n")
    assert imported_modules(sample) == ["engine.storage.query"]
