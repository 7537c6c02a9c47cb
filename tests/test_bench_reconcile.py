"""bench/reconcile's data: the noise does what it says, references check out, the truth
fits the rows written, and the scoring counts pairs as it should."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from schwifty import IBAN

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import reconcile_data as data  # noqa: E402
import reconcile_names as names  # noqa: E402
import reconcile_read as read  # noqa: E402
import reconcile_refs as refs  # noqa: E402
import reconcile_seed as seeding  # noqa: E402
from reconcile_score import by_kind, score  # noqa: E402

from engine.appdef import AppSet  # noqa: E402
from engine.permissions import Principal  # noqa: E402
from engine.storage import Database  # noqa: E402

TINY = data.Sizes(lines=600, open_invoices=800, invoices=3_000, customers=60)


@pytest.fixture(scope="module")
def tiny() -> data.Dataset:
    return data.generate(TINY, seed=3)


# -- names and what banks do to them ---------------------------------------------------------


def test_umlauts_spelt_out_and_accents_dropped() -> None:
    assert names.spell_out_umlauts("Müller Bäckerei Weiß GmbH") == "Mueller Baeckerei Weiss GmbH"
    assert names.spell_out_umlauts("ÖKO Übersee") == "OeKO Uebersee"
    assert names.spell_out_umlauts("Lefèvre Électricité") == "Lefevre Electricite"
    assert names.spell_out_umlauts("Łukasiewicz Núñez") == "Lukasiewicz Nunez"


@pytest.mark.parametrize(
    ("name", "form", "without"),
    [
        ("Müller Maschinenbau GmbH & Co. KG", "GmbH & Co. KG", "Müller Maschinenbau"),
        ("Rossi Costruzioni S.r.l.", "S.r.l.", "Rossi Costruzioni"),
        ("Shenzhen Huada Electronics Co., Ltd.", "Co., Ltd.", "Shenzhen Huada Electronics"),
        ("深圳市华达电子有限公司", "有限公司", "深圳市华达电子"),
        ("Smith Printing Ltd", "Ltd", "Smith Printing"),
        ("Jensen Verktyg", "", "Jensen Verktyg"),
        ("Bakker AGRAR", "", "Bakker AGRAR"),  # AG inside a word is no legal form
    ],
)
def test_legal_form_found_and_dropped(name: str, form: str, without: str) -> None:
    assert names.legal_form(name) == form
    assert names.drop_legal_form(name) == without


def test_legal_form_respelt_as_another_spelling_of_the_same_form() -> None:
    rng = random.Random(1)
    seen = {names.respell_legal_form("Müller Logistik GmbH", rng) for _ in range(50)}
    assert seen == {
        "Müller Logistik GMBH",
        "Müller Logistik Gesellschaft mit beschränkter Haftung",
    }
    assert names.respell_legal_form("Jensen Verktyg", rng) == "Jensen Verktyg"


def test_punctuation_dropped_and_cut_to_width() -> None:
    assert names.drop_punctuation("Ningbo Meida Import & Export Co., Ltd.") == (
        "Ningbo Meida Import Export Co Ltd"
    )
    assert names.drop_punctuation("Rossi Alimentari S.p.A.") == "Rossi Alimentari SpA"
    long = "Brandstätter Kunststofftechnik Rhein-Main GmbH & Co. KG"
    assert names.cut(long, 27) == "Brandstätter Kunststofftech"
    assert names.cut(long, 35) == "Brandstätter Kunststofftechnik Rhei"


def test_bank_spelling_applies_the_steps_it_names() -> None:
    rng = random.Random(5)
    counts: Counter[str] = Counter()
    for _ in range(500):
        name = names.company_name(rng)
        spelt, steps = names.bank_spelling(name, rng)
        counts.update(steps)
        if "cut_27" in steps:
            assert len(spelt) <= 27
        if "cut_35" in steps:
            assert len(spelt) <= 35
        if "upper" in steps:
            assert spelt == spelt.upper()
        if "spell_out_umlauts" in steps:
            assert not set("äöüßÄÖÜ") & set(spelt)
        if not steps:
            assert spelt == name
    assert set(counts) == {
        "drop_legal_form",
        "respell_legal_form",
        "spell_out_umlauts",
        "drop_punctuation",
        "upper",
        "cut_27",
        "cut_35",
    }


def test_customer_names_unique_with_legal_forms_and_chinese_ones() -> None:
    generated = names.unique_names(3000, random.Random(2))
    assert len(set(generated)) == 3000
    assert sum(names.is_han(n) for n in generated) > 50
    assert sum(n.endswith("Co., Ltd.") for n in generated) > 200
    assert sum(bool(names.legal_form(n)) for n in generated) == 3000


def test_ibans_have_valid_check_digits() -> None:
    rng = random.Random(4)
    for _ in range(50):
        IBAN(data.iban_de(rng))  # schwifty raises on a wrong checksum


# -- references ------------------------------------------------------------------------------


def test_rf_reference_matches_the_iso_11649_example_and_checks() -> None:
    assert refs.rf_reference("539007547034") == "RF18539007547034"
    assert refs.rf_valid("RF18 5390 0754 7034")
    assert not refs.rf_valid("RF18539007547043")  # two digits swapped
    assert not refs.rf_valid("RF19539007547034")
    assert not refs.rf_valid("INV-000123")
    rng = random.Random(9)
    for _ in range(200):
        payload = f"{rng.randrange(10**8):08d}"
        assert refs.rf_valid(refs.rf_reference(payload))
    with pytest.raises(ValueError):
        refs.rf_reference("TOO-LONG-OR-PUNCTUATED")


def test_invoice_number_spellings() -> None:
    spelt = {style: refs.spell(123, 6, style) for style in refs.SPELLINGS}
    assert spelt == {
        "canonical": "INV-000123",
        "no_dash": "INV000123",
        "lower_unpadded": "inv 123",
        "hash": "#000123",
        "rf": refs.rf_reference("000123"),
        "rf_grouped": refs.grouped(refs.rf_reference("000123")),
    }
    assert refs.number_width(999_999) == 6 and refs.number_width(1_000_000) == 7


@pytest.mark.parametrize("style", refs.SPELLINGS)
def test_a_typo_changes_one_digit_or_swaps_two_and_breaks_rf(style: str) -> None:
    rng = random.Random(11)
    for n in (123, 40817, 999_001):
        right = refs.spell(n, 6, style).replace(" ", "")
        wrong = refs.typo_in_digits(n, 6, style, rng).replace(" ", "")
        assert len(wrong) == len(right) and wrong != right
        diff = [i for i, (a, b) in enumerate(zip(right, wrong, strict=True)) if a != b]
        assert len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and sorted(right[diff[0] : diff[1] + 1]) == sorted(wrong[diff[0] : diff[1] + 1])
        )
        if style.startswith("rf"):
            assert not refs.rf_valid(wrong)


# -- the dataset and its truth -----------------------------------------------------------------


def test_same_seed_same_data(tiny: data.Dataset) -> None:
    again = data.generate(TINY, seed=3)
    assert again.lines == tiny.lines
    assert data.generate(TINY, seed=4).lines != tiny.lines


def test_sizes_and_every_kind_present(tiny: data.Dataset) -> None:
    assert len(tiny.lines) == TINY.lines
    assert len(tiny.open_numbers) == TINY.open_invoices
    assert len(tiny.customers) == 60
    assert set(Counter(line.kind for line in tiny.lines)) == set(data.KINDS)


def test_truth_adds_up_for_every_kind(tiny: data.Dataset) -> None:
    open_numbers = set(tiny.open_numbers)
    paid_by: dict[int, list[data.Line]] = {}
    for line in tiny.lines:
        for n in line.pays:
            assert n in open_numbers, "a line pays only open invoices"
            paid_by.setdefault(n, []).append(line)
        invoices = [tiny.invoice(n) for n in line.pays]
        owed = sum((inv.amount for inv in invoices), Decimal(0))
        if invoices:
            assert len({inv.customer for inv in invoices}) == 1
            assert all(line.date > inv.issue for inv in invoices)
        kind = line.kind
        if kind in (
            "exact",
            "typo",
            "no_ref",
            "subscription",
            "subscription_no_ref",
            "third_party",
        ):
            assert len(invoices) == 1 and line.amount == owed
        elif kind == "multi":
            assert len(invoices) >= 2 and line.amount == owed
        elif kind == "partial":
            assert len(invoices) == 1 and 0 < line.amount < owed
        elif kind == "fee":
            assert owed - line.amount in {Decimal(f) for f in data.FEES}
        elif kind == "fx":
            inv = invoices[0]
            assert inv.currency != "EUR" and line.currency == "EUR"
            at_rate = inv.amount / tiny.rates[inv.currency, line.date]
            assert at_rate * Decimal("0.995") <= line.amount <= at_rate + Decimal("0.01")
        elif kind in ("duplicate", "unmatched"):
            assert line.pays == ()
        else:
            assert kind == "split"
    for n, lines in paid_by.items():
        if lines[0].kind == "split":
            assert len(lines) == 2 and sum(x.amount for x in lines) == tiny.invoice(n).amount
        else:
            assert len(lines) == 1, f"invoice {n} paid by more than one line"


def test_references_written_are_the_invoices_paid(tiny: data.Dataset) -> None:
    for line in tiny.lines:
        text = f"{line.memo} {line.reference}"
        for n, style in zip(line.pays, line.written, strict=False):
            if style.startswith("~"):
                assert refs.spell(n, tiny.width, style[1:]) not in text
                continue
            assert refs.spell(n, tiny.width, style) in text
            if style.startswith("rf"):
                assert refs.rf_valid(refs.spell(n, tiny.width, style))


def test_subscription_customers_make_customer_and_amount_ambiguous(tiny: data.Dataset) -> None:
    ambiguous = 0
    for line in tiny.lines:
        if line.kind.startswith("subscription"):
            inv = tiny.invoice(line.pays[0])
            same = [
                n
                for n in tiny.open_numbers
                if tiny.cust_of[n - 1] == inv.customer and tiny.invoice(n).amount == inv.amount
            ]
            ambiguous += len(same) >= 2
    assert ambiguous >= 5


def test_duplicates_repeat_a_paid_invoice(tiny: data.Dataset) -> None:
    history = {inv.number for inv in tiny.history()}
    first_paid = {x.pays[0]: x for x in tiny.lines if x.kind == "exact"}
    duplicates = [x for x in tiny.lines if x.kind == "duplicate"]
    assert {x.repeats in history for x in duplicates} == {True, False}  # both sorts occur
    for line in duplicates:
        assert line.pays == () and line.repeats is not None
        if line.repeats in history:
            assert line.amount == tiny.invoice(line.repeats).amount
            assert refs.spell(line.repeats, tiny.width, line.written[0]) in (
                f"{line.memo} {line.reference}"
            )
        else:
            first = first_paid[line.repeats]
            assert (line.amount, line.memo, line.counterparty) == (
                first.amount,
                first.memo,
                first.counterparty,
            )
            assert line.date > first.date


def test_seeded_rows_match_the_truth(
    appset: AppSet, database_url: str, tiny: data.Dataset, tmp_path: Path
) -> None:
    db = Database(appset, database_url)
    try:
        db.migrate()
        counts = seeding.seed(db, tiny, tmp_path / "truth.json", say=lambda _: None)
        truth, kinds = seeding.read_truth(tmp_path / "truth.json")
        inv_t, line_t = db.table(seeding.INVOICE), db.table(seeding.LINE)
        with db.engine.connect() as conn:
            invoices = {r.id: r for r in conn.execute(sa.select(inv_t))}
            lines = {r.id: r for r in conn.execute(sa.select(line_t))}
    finally:
        db.dispose()
    assert counts == {"customers": 60, "history": 2_200, "open": 800}
    assert len(invoices) == TINY.invoices and len(lines) == TINY.lines
    statuses = Counter(r.status for r in invoices.values())
    assert statuses["paid"] == 2_200
    assert statuses["open"] + statuses["overdue"] == 800  # by the real today
    assert set(statuses) <= {"paid", "open", "overdue"}
    assert len(truth) == len(tiny.truth())
    by_line: dict[int, list[int]] = {}
    for line_id, invoice_id in truth:
        by_line.setdefault(line_id, []).append(invoice_id)
    for line_id, invoice_ids in by_line.items():
        row = lines[line_id]
        owed = sum(invoices[i].amount for i in invoice_ids)
        if kinds[line_id] in ("exact", "typo", "no_ref", "multi", "third_party"):
            assert row.amount == owed
            assert row.currency == invoices[invoice_ids[0]].currency
        assert all(invoices[i].status in ("open", "overdue") for i in invoice_ids)
    exported = (tmp_path / seeding.LINES_CSV).read_text(encoding="utf-8").splitlines()
    assert len(exported) == TINY.lines + 1


def test_what_a_run_left_is_read_as_pairs(
    appset: AppSet, database_url: str, tiny: data.Dataset, tmp_path: Path
) -> None:
    """Allocations and suggestions written as the engine writes them come back as pairs."""
    db = Database(appset, database_url)
    try:
        db.migrate()
        seeding.seed(db, tiny, tmp_path / "truth.json", say=lambda _: None)
        truth, kinds = seeding.read_truth(tmp_path / "truth.json")
        multi = next(line for line, kind in kinds.items() if kind == "multi")
        exact = next(line for line, kind in kinds.items() if kind == "exact")
        paid = sorted(i for line, i in truth if line == multi)
        (single,) = [i for line, i in truth if line == exact]
        repo = db.repository(Principal.system("test"))
        line_t = db.table(seeding.LINE)
        with db.engine.connect() as conn:
            amount = conn.execute(
                sa.select(line_t.c.amount).where(line_t.c.id == exact)
            ).scalar_one()
        repo.create(seeding.ALLOCATION, {"bank_line": exact, "invoice": single, "amount": amount})
        assert read.allocations(db) == {(exact, single)}
        assert read.top_suggestions(db) == set()
        proposal = json.dumps([[{"invoice": i} for i in paid], [{"invoice": single}]])
        repo.bulk_create(
            read.SUGGESTION,
            [
                {"bank_line": multi, "invoice": paid[0], "proposal": proposal, "score": 90},
                {"bank_line": multi, "invoice": single, "score": 40},  # a worse one
                {"bank_line": exact, "invoice": paid[0], "score": 70, "proposal": "not json"},
            ],
        )
        assert read.top_suggestions(db) == {(multi, i) for i in paid} | {(exact, paid[0])}
        assert read.over_allocated(db) == []
    finally:
        db.dispose()


# -- scoring ---------------------------------------------------------------------------------


def test_scoring_a_hand_made_case() -> None:
    truth = {(1, 10), (2, 20), (2, 21), (3, 30)}  # line 2 pays two invoices; line 4 nothing
    kinds = {1: "exact", 2: "multi", 3: "no_ref", 4: "unmatched"}
    found = {(1, 10), (2, 20), (4, 40)}  # one of line 2's, and a wrong one on line 4
    s = score(found, truth)
    assert (s.found, s.right, s.true) == (3, 2, 4)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(0.5)
    per = by_kind(found, truth, kinds)
    assert (per["multi"].right, per["multi"].true) == (1, 2)
    assert per["no_ref"].recall == 0.0 and per["no_ref"].found == 0
    assert (per["unmatched"].found, per["unmatched"].right) == (1, 0)
    assert score(set(), set()).precision == 1.0
