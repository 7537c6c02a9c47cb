"""The section registry: the published schema is assembled from it, third-party validators
read it as editors do, and every section builds typed, frozen definitions."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import i18n
from engine.appdef import App, app_schema, check_apps, load_apps
from engine.appdef.automations import Automation
from engine.appdef.matching import Matching
from engine.appdef.reports import Report
from engine.appdef.schema import published_text
from engine.appdef.sections import SECTIONS, SectionKind, register_section
from engine.cli import cli

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
SCHEMA_FILE = HERE.parent / "engine" / "appdef" / "formwork-app.schema.json"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

RECEIVABLES_SECTIONS = r"""
reports:
  aging:
    entity: invoice
    where: "open_amount > 0"
    group_by: customer
    buckets: {days_past: due_date, edges: [0, 30, 60, 90]}
    measure: sum(open_amount)
    chart: stacked_bar
"""
COLLECTIONS_SECTIONS = """
automations:
  reminder_3_days_before_due:
    trigger:
      daily_at: "08:00"
      for_each: receivables.invoice
      when: "days_until(due_date) == 3 and open_amount > 0"
    do:
      - send_email: {to: "{customer.email}", template: before_due}
"""


@pytest.fixture
def apps_copy(tmp_path: Path) -> Path:
    """The shipped apps (with their matching rules), with every other later section added."""
    folder = tmp_path / "apps"
    shutil.copytree(APPS, folder)
    with (folder / "receivables.yaml").open("a", encoding="utf-8") as f:
        f.write(RECEIVABLES_SECTIONS)
    with (folder / "collections.yaml").open("a", encoding="utf-8") as f:
        f.write(COLLECTIONS_SECTIONS)
    return folder


def test_published_schema_file_is_the_registry_s(tmp_path: Path) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == published_text(), (
        "run `formwork schema --write` after changing a section or a field type"
    )
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0 and result.output == published_text()


def test_published_schema_has_every_registered_section() -> None:
    properties = app_schema()["properties"]
    assert {"entities", "imports", "matching", "automations", "reports"} <= set(SECTIONS)
    for key, kind in SECTIONS.items():
        assert properties[key]["description"] == kind.description
    assert app_schema()["$defs"]["matching"]["additionalProperties"] is False


def test_a_section_is_registered_once() -> None:
    kind = SectionKind(key="matching", schema={}, build=lambda ctx, raw: None)
    with pytest.raises(RuntimeError, match="registered twice"):
        register_section(kind)


def run_validator(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA_FILE), *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_third_party_validator_flags_what_the_loader_flags(apps_copy: Path) -> None:
    """An editor pointed at the schema sees a misspelt type, a key of another type and an
    unknown key inside a section, as `formwork check` does."""
    files = sorted(apps_copy.glob("*.yaml"))
    ok = run_validator(*files)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    receivables = apps_copy / "receivables.yaml"
    text = receivables.read_text(encoding="utf-8")
    broken = text.replace("amount: {type: money, required: true, min: 0,", "amount: {type: mony,")
    broken = broken.replace("number: {type: string, required: true, unique: true, max: 40,",
                            "number: {type: string, to: customer,")  # fmt: skip
    broken = broken.replace("      then: auto", "      then: auto\n      tolerance: 1", 1)
    assert broken.count("mony") == 1 and "to: customer," in broken and "tolerance" in broken
    receivables.write_text(broken, encoding="utf-8")
    flagged = run_validator(receivables)
    assert flagged.returncode == 1, flagged.stdout
    assert "'mony' is not one of" in flagged.stdout
    assert "'to' was unexpected" in flagged.stdout
    assert "'tolerance' was unexpected" in flagged.stdout
    _, errors = check_apps([apps_copy])
    messages = [f"{e.path}: {e.message}" for e in errors]
    assert "entities.invoice.fields.amount.type: 'mony' is not a field type (did you mean " \
        "'money'?)" in messages  # fmt: skip
    assert "entities.invoice.fields.number.to: 'to' applies only to ref fields" in messages
    assert any(m.startswith("matching.rules[0].tolerance: in rule `reference and amount`: "
                            "unknown key 'tolerance'") for m in messages), messages  # fmt: skip


def test_unknown_key_inside_a_section_of_the_apps_is_located(apps_copy: Path) -> None:
    receivables = apps_copy / "receivables.yaml"
    text = receivables.read_text(encoding="utf-8")
    text = text.replace("      then: auto", "      thne: auto", 1)
    receivables.write_text(text, encoding="utf-8")
    line = text.splitlines().index("      thne: auto") + 1
    rule_line = text.splitlines().index("    - name: reference and amount") + 1
    _, errors = check_apps([apps_copy])
    assert [str(e) for e in errors] == [
        f"{receivables}:{rule_line}:7: matching.rules[0]: in rule `reference and amount`: "
        "'then' is a required property",
        f"{receivables}:{line}:7: matching.rules[0].thne: in rule `reference and amount`: "
        "unknown key 'thne' (did you mean 'then'?); known keys: accept, amount, customer, "
        "difference, find, in, label, name, partial, reason, reference, several, then, typos, when",
    ]


def test_sections_build_typed_frozen_definitions(apps_copy: Path) -> None:
    appset = load_apps([apps_copy])
    receivables, collections = appset.apps["receivables"], appset.apps["collections"]
    assert "sections" not in {f.name for f in dataclasses.fields(App)}
    matching = receivables.matching
    assert isinstance(matching, Matching)
    assert (matching.source, matching.target) == ("receivables.bank_line", "receivables.invoice")
    rule = matching.rules[0]
    assert rule.then == "auto" and rule.name == "reference and amount"
    assert [r.name for r in rule.references] == [
        "invoice_number",
        "creditor_reference",
        "end_to_end",
    ]
    assert matching.references["end_to_end"].in_fields == ("end_to_end_id", "reference")
    assert len(matching.version) == 12
    aging = receivables.reports["aging"]
    assert isinstance(aging, Report) and aging.group_by == ("customer",)
    assert aging.buckets is not None and [int(e) for e in aging.buckets.edges] == [0, 30, 60, 90]
    profile = receivables.imports["bank_csv"]  # shipped in apps/receivables.yaml
    assert profile.entity == "receivables.bank_line" and profile.format == "csv"
    assert profile.columns["memo"] == ("Memo",) and profile.amount == "Amount"
    reminder = collections.automations["reminder_3_days_before_due"]
    assert isinstance(reminder, Automation) and reminder.trigger.entity == "receivables.invoice"
    assert str(reminder.trigger.daily_at) == "08:00:00"
    assert [a.kind for a in reminder.actions] == ["send_email"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.then = "suggest"  # type: ignore[misc]
    with pytest.raises(TypeError):
        receivables.reports["other"] = aging  # type: ignore[index]
    shipped = load_apps([APPS]).apps["receivables"].matching
    assert shipped is not None and shipped.version == matching.version  # the same text


def test_a_rule_label_is_read_per_language_and_does_not_change_the_version(
    apps_copy: Path,
) -> None:
    path = apps_copy / "receivables.yaml"
    before = load_apps([apps_copy]).apps["receivables"].matching
    assert before is not None
    label = before.rule_label("reference and amount")
    assert (label, i18n.localize(label, "zh_Hans_CN")) == ("Reference and amount", "参考号与金额")
    assert before.rule_label("a rule since removed") == "a rule since removed"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("zh: 参考号与金额", "zh: 按参考号和金额"), encoding="utf-8")
    relabelled = load_apps([apps_copy]).apps["receivables"].matching
    assert relabelled is not None and relabelled.version == before.version
    assert i18n.localize(relabelled.rule_label("reference and amount"), "zh") == "按参考号和金额"
    path.write_text(text.replace("      several: true\n", "", 1), encoding="utf-8")
    changed = load_apps([apps_copy]).apps["receivables"].matching
    assert changed is not None and changed.version != before.version
