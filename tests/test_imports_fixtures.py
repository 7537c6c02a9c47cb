"""Every real statement in ../shared/fixtures/statements imports with the entry count and
sums SOURCES.md and expected_facts.json give, with a balance warning exactly where the
file's own balances do not add up; the malformed ones fail at a named line and write
nothing; and importing any of them again creates nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.imports import find_profile, import_file
from engine.recordio import ImportFailed
from engine.storage import Filter

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "statements"
pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"the shared statement fixtures are not at {FIXTURES}"
)

# file -> (profile, lines, {currency: (credits n, sum, debits n, sum)}, statements with a
# balance or totals warning). Lines: one per entry, one per transaction of a batch booking.
D = Decimal
CASES = {
    "mt940/test-ing.940": ("mt940", 8, {"EUR": (4, D("36.58"), 4, D("134.46"))}, 0),
    "mt940/test-rabo.swi": ("mt940", 2, {"EUR": (1, D("400.00"), 1, D("34.61"))}, 0),
    "mt940/abnamro.sta": ("mt940", 10, {"EUR": (0, D(0), 10, D("345.93"))}, 2),
    "mt940/postfinance.sta": ("mt940", 4, {"CHF": (3, D("239.30"), 1, D("79.90"))}, 1),
    "mt940/sepa_snippet.sta": ("mt940", 11, {"EUR": (8, D("1430745.72"), 3, D("3574069.11"))}, 1),
    "mt940/mbank-mt940.sta": ("mt940", 3, {"PLN": (3, D("0.03"), 0, D(0))}, 0),
    "mt940/raiffeisen-cmi.sta": ("mt940", 7, {"HUF": (1, D("2066637.00"), 6, D("3078850.50"))}, 1),
    "mt940/kontist.sta": ("mt940", 6, {"EUR": (4, D("515.95"), 2, D("120.19"))}, 0),
    "mt940/hsbc.sta": ("mt940", 1, {"HKD": (0, D(0), 1, D("20000.00"))}, 1),
    "camt053/camt_parser_valid_example_v8.xml": (
        "camt053",
        3,
        {"CHF": (2, D("563.25"), 0, D(0)), "EUR": (0, D(0), 1, D("20.97"))},
        1,
    ),
    "camt053/camt_parser_valid_example_v4.xml": (
        "camt053",
        32,
        {"CHF": (24, D("1810.56"), 8, D("1272.95"))},
        0,
    ),
    "camt053/camt_parser_valid_example.xml": (
        "camt053",
        5,
        {"EUR": (1, D("1.00"), 4, D("11.00"))},
        0,
    ),
    "camt053/camt_parser_valid_example_with_datetime.xml": (
        "camt053",
        1,
        {"USD": (1, D("195.86"), 0, D(0))},
        0,
    ),
    "camt053/test-camt053.xml": ("camt053", 4, {"EUR": (1, D("1405.31"), 3, D("1418.30"))}, 1),
    "camt053/camt053.v2.multi.statement.xml": (
        "camt053",
        2,
        {"EUR": (1, D("8.85"), 1, D("7.00"))},
        0,
    ),
    "ofx/checking.ofx": ("ofx", 3, {"USD": (1, D("0.01"), 2, D("59.51"))}, 0),
    "ofx/suncorp.ofx": ("ofx", 1, {"AUD": (0, D(0), 1, D("16.85"))}, 0),
    "ofx/test_ofx.ofx": ("ofx", 4, {"USD": (0, D(0), 4, D("360.00"))}, 0),
    "ofx/html-vals.qfx": ("ofx", 2, {"CAD": (0, D(0), 2, D("2.00"))}, 0),
    "csv/paypal_statement_en.csv": (
        "paypal",
        19,
        {"EUR": (4, D("17346.31"), 4, D("17346.31")), "USD": (7, D("21194.30"), 4, D("20914.00"))},
        0,
    ),
    "csv/adyen_settlement_detail_report_batch_380.csv": (
        "adyen",
        228,
        {"USD": (220, D("56438.52"), 8, D("56438.52"))},
        0,
    ),
    "csv/meta_data_separated_credit_debit.csv": (
        "fr_bank_csv",
        4,
        {"EUR": (1, D("1300.00"), 3, D("230.68"))},
        1,
    ),
    "csv/dkb_giro_non_empty.csv": ("dkb", 1, {"EUR": (0, D(0), 1, D("15.37"))}, 0),
    "csv-cn/icbc_debit_v2.csv": ("icbc", 11, {"CNY": (5, D("2841.74"), 6, D("4241.08"))}, 1),
    "csv-cn/cmb_debit.csv": ("cmb", 5, {"CNY": (1, D("1234.00"), 4, D("2013.14"))}, 0),
    "csv-cn/boc_debit.csv": ("boc", 17, {"CNY": (4, D("9821.00"), 13, D("9394.30"))}, 0),
    "csv-cn/bocom_debit.csv": ("bocom", 6, {"CNY": (3, D("11.25"), 3, D("114.00"))}, 0),
    "csv-cn/alipay_gb18030.csv": ("alipay", 6, {"CNY": (1, D("222228.50"), 5, D("211.64"))}, 1),
}
MALFORMED = {
    "mt940/february_30.sta": ("mt940", 6, "value date 160230 does not exist"),
    "mt940/test-sns.940": ("mt940", 73, "no closing balance"),
    "ofx/decimal_error.ofx": ("ofx", 37, "$120"),
}


def lines_by_currency(repo) -> dict[str, tuple[int, Decimal, int, Decimal]]:
    rows = repo.query("receivables.bank_line", limit=10_000).rows
    found: dict[str, list] = {}
    for row in rows:
        totals = found.setdefault(row["currency"], [0, Decimal(0), 0, Decimal(0)])
        if row["amount"] >= 0:
            totals[0] += 1
            totals[1] += row["amount"]
        else:
            totals[2] += 1
            totals[3] -= row["amount"]
    return {c: (t[0], t[1], t[2], t[3]) for c, t in found.items()}


def test_every_fixture_is_covered_and_the_facts_file_agrees():
    facts = json.loads((FIXTURES / "expected_facts.json").read_text(encoding="utf-8"))
    files = {
        str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*") if p.parent.name != "LICENSES"
    }
    assert files == set(CASES) | set(MALFORMED)
    for name, (_profile, _lines, _sums, _warned) in CASES.items():
        assert name in facts, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_real_statement_imports_with_its_facts_and_once(repo, name):
    profile_name, lines, sums, warned = CASES[name]
    profile = find_profile(repo, f"receivables.{profile_name}")
    path = FIXTURES / name
    dry = import_file(repo, profile, path, dry_run=True)
    assert (dry.read, dry.created, dry.errors) == (lines + dry.ignored, lines, [])
    assert repo.query("receivables.bank_line", limit=1).rows == []

    result = import_file(repo, profile, path)
    assert result.created == lines and result.skipped == 0, result
    assert lines_by_currency(repo) == sums
    statements = repo.query("receivables.bank_statement", limit=100).rows
    assert sum(1 for s in statements if s["warnings"]) == warned, [
        s["warnings"] for s in statements
    ]
    assert len(result.warnings) >= warned and bool(result.warnings) == bool(warned)
    assert sum(s["entries"] for s in statements) == lines

    again = import_file(repo, profile, path)
    assert (again.created, again.skipped, again.statements) == (0, lines, 0)
    assert len(repo.query("receivables.bank_line", limit=10_000).rows) == lines
    assert len(repo.query("receivables.bank_statement", limit=100).rows) == len(statements)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_statement_fails_at_its_line_and_writes_nothing(repo, name):
    profile_name, line, words = MALFORMED[name]
    profile = find_profile(repo, f"receivables.{profile_name}")
    with pytest.raises(ImportFailed) as failed:
        import_file(repo, profile, FIXTURES / name)
    (error,) = failed.value.errors
    assert error.line == line and words in error.message, str(error)
    assert str(error).startswith(f"{Path(name).name}:{line}: ")
    assert repo.query("receivables.bank_line", limit=1).rows == []
    assert repo.query("receivables.bank_statement", limit=1).rows == []


def test_the_batch_bookings_of_camt_become_one_line_per_transaction(repo):
    profile = find_profile(repo, "receivables.camt053")
    import_file(repo, profile, FIXTURES / "camt053/camt_parser_valid_example_v4.xml")
    rows = repo.query("receivables.bank_line", [Filter("booking_amount", "eq", D("1000.00"))],
                      limit=100).rows  # fmt: skip
    assert len(rows) == 10 and sum(r["amount"] for r in rows) == D("1000.00")
    assert len({r["booking"] for r in rows}) == 1


@pytest.mark.parametrize("name", ["icbc_debit_v2.csv", "cmb_debit.csv", "boc_debit.csv"])
def test_chinese_exports_in_gbk_import_alike(repo, tmp_path, name):
    """The banks export GBK; the fixtures were stored as UTF-8: re-encoded, they read alike."""
    profile_name, lines, sums, _warned = CASES[f"csv-cn/{name}"]
    gbk = tmp_path / name
    gbk.write_bytes((FIXTURES / "csv-cn" / name).read_text(encoding="utf-8").encode("gbk"))
    result = import_file(repo, find_profile(repo, f"receivables.{profile_name}"), gbk)
    assert result.created == lines
    assert lines_by_currency(repo) == sums
