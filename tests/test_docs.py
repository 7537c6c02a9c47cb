"""The README documents every field type and expression function the engine registers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.expr import FUNCTIONS
from engine.fieldtypes import FIELD_TYPES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(FIELD_TYPES))
def test_field_type_is_documented(name: str) -> None:
    assert re.search(rf"`{name}`", README), f"README does not document field type {name!r}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_is_documented(name: str) -> None:
    assert f"`{name}(" in README, f"README does not document expression function {name}()"
    assert FUNCTIONS[name].doc.startswith(f"{name}("), "the function's own doc shows its call"


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split()[0] for line in first_block] == ["./scripts/demo", "./scripts/test"]
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "./scripts/test" in ci, ".ci/run must call the README's test command"
