"""App definitions: data-driven cases (tests/appdef_cases/*.yaml), the published JSON Schema,
and a property test that any YAML text either loads or yields located errors.

A case file is `{description, given, expect[, fields]}`: `given` is the text of one app
file (written as app.yaml) or a mapping of file name -> text; `expect` lists every error,
in order, as `FILE:LINE:COL: PATH: message` (a string, or `{regex: ...}`); `fields`
(when nothing is expected) maps `app.entity` to `{field: type}` in YAML order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.appdef import DefinitionErrors, app_schema, check_apps, load_apps
from engine.fieldtypes import FIELD_TYPES

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "appdef_cases"
CASES = sorted(CASES_DIR.glob("*.yaml"))
APPS = HERE.parent / "apps"
SCHEMA_FILE = HERE.parent / "engine" / "appdef" / "formwork-app.schema.json"
CASE_KEYS = {"description", "given", "expect", "fields"}


def read_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a mapping"
    assert set(case) <= CASE_KEYS, f"{path.name}: unknown keys {set(case) - CASE_KEYS}"
    assert {"description", "given", "expect"} <= set(case), f"{path.name}: incomplete case"
    return case


def write_given(given: str | dict[str, str], folder: Path) -> None:
    files = {"app.yaml": given} if isinstance(given, str) else given
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def rendered(errors: list, folder: Path) -> list[str]:
    """Errors as the CLI prints them, with file names relative to the case's folder."""
    return [str(e).replace(f"{folder}/", "") for e in errors]


def matches(expected: str | dict[str, str], actual: str) -> bool:
    if isinstance(expected, dict):
        return re.fullmatch(expected["regex"], actual) is not None
    return expected == actual


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case_file", CASES, ids=lambda p: p.stem)
def test_case(case_file: Path, tmp_path: Path) -> None:
    case = read_case(case_file)
    write_given(case["given"], tmp_path)
    appset, errors = check_apps([tmp_path])
    got = rendered(errors, tmp_path)
    where = [(e.location.file, e.location.line, e.location.column) for e in errors]
    assert where == sorted(where), "errors come sorted by file, line and column"
    expected = case["expect"]
    shown = "\n".join(got)
    assert len(got) == len(expected), f"{case['description']}\ngot:\n{shown}"
    for want, actual in zip(expected, got, strict=True):
        assert matches(want, actual), f"{case['description']}\nwant: {want}\ngot:  {actual}"
    if expected:
        assert appset is None
        with pytest.raises(DefinitionErrors) as raised:
            load_apps([tmp_path])
        assert rendered(raised.value.errors, tmp_path) == got
        return
    assert appset is not None
    for qualname, fields in (case.get("fields") or {}).items():
        entity = appset.entity(qualname)
        assert {name: f.type.name for name, f in entity.fields.items()} == fields
        assert list(entity.fields) == list(fields), "fields keep their YAML order"


def test_every_field_type_is_in_the_every_type_case() -> None:
    """Keeps the loading case in step with the registry: a new type needs a line there."""
    case = read_case(CASES_DIR / "every_field_type_loads.yaml")
    used = {t for fields in case["fields"].values() for t in fields.values()}
    assert used == set(FIELD_TYPES)


def test_every_case_is_described() -> None:
    for path in CASES:
        assert str(read_case(path)["description"]).strip(), path.name


# -- the published JSON Schema -------------------------------------------------------------


def test_published_schema_is_a_valid_json_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == app_schema()


@pytest.mark.parametrize("app_file", sorted(APPS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_apps_validate_against_the_schema(app_file: Path) -> None:
    data = yaml.safe_load(app_file.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(app_schema()).validate(data)


def test_schema_names_every_field_type() -> None:
    described = app_schema()["$defs"]["field_type"]["description"]
    for name in FIELD_TYPES:
        assert re.search(rf"\b{name}\b", described), name
    assert app_schema()["$defs"]["field_type"]["enum"] == list(FIELD_TYPES)


def test_shipped_apps_load() -> None:
    appset = load_apps([APPS])
    assert set(appset.apps) == {"receivables", "collections"}
    invoice = appset.entity("receivables.invoice")
    assert invoice.fields["customer"].ref == "receivables.customer"
    assert invoice.fields["open_amount"].computed
    assert invoice.fields["open_amount"].value_type.name == "money"
    assert invoice.default_sort == (("issue_date", True), ("id", True))
    assert [r.name for r in invoice.relations] == [
        "instalment",
        "credit_note",
        "write_off",
        "allocation",
        "match_suggestion",
        "collection_task",
        "promise_to_pay",
    ]


def test_no_files_is_an_error(tmp_path: Path) -> None:
    appset, errors = check_apps([tmp_path])
    assert appset is None
    assert [e.message for e in errors] == ["no app files (*.yaml) found"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_bytes(b"app: caf\xe9\nentities: {}\n")
    _, errors = check_apps([tmp_path])
    assert rendered(errors, tmp_path) == ["app.yaml:1:1: not UTF-8 text: invalid continuation byte"]


# -- any text either loads or yields located errors -----------------------------------------

RECEIVABLES = (APPS / "receivables.yaml").read_text(encoding="utf-8")
LINES = RECEIVABLES.splitlines(keepends=True)
ODD = ": -[]{}'\"#&*!|>%@`,?\t\n=_.()0123456789abcxyz\x00\x07\x85\u2028\u00e9\ufeff"


@st.composite
def mutated_receivables(draw: st.DrawFn) -> str:
    """receivables.yaml with a few lines deleted, duplicated, swapped or altered."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "drop", "replace"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), line)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif line:
            j = draw(st.integers(0, len(line) - 1))
            char = draw(st.sampled_from(ODD))
            keep = {"insert": j, "drop": j + 1, "replace": j + 1}[kind]
            lines[i] = line[:j] + ("" if kind == "drop" else char) + line[keep:]
    return "".join(lines)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated_receivables())
def test_any_yaml_loads_or_yields_located_errors(text: str, tmp_path: Path) -> None:
    path = tmp_path / "receivables.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        appset = load_apps([path])
    except DefinitionErrors as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.location.file == str(path)
            assert error.location.line >= 1 and error.location.column >= 1, str(error)
            assert error.message
            assert str(error).startswith(f"{path}:{error.location.line}:")
    else:
        assert len(appset.apps) == 1 and appset.entities()
