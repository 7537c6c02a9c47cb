"""The pure parts of matching: bank-style names, references, RF check digits, subset search."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.rules import names
from engine.rules.references import (
    Extractor,
    normal_reference,
    one_typo_away,
    rf_payloads,
    rf_reference,
    rf_valid,
    within_one_typo,
)
from engine.rules.subsets import SubsetResult, smallest_fitting_set

INVOICE = Extractor("pattern", r"(?i)(?:\binv(?:oice)?|\bre|#)\s*[-:.#]?\s*(\d{3,12})\b")


@pytest.mark.parametrize(
    ("bank", "ours"),
    [
        ("MUELLER MASCHINENBAU GMBH", "Müller Maschinenbau GmbH"),
        ("Mueller & Soehne", "Müller & Söhne GmbH & Co. KG"),
        ("ACME LIMITED", "Acme Ltd."),
        ("acme", "ACME Corp"),
        ("Societe Generale SA", "Société Générale"),
        ("上海华东贸易", "上海华东贸易有限公司"),
        ("STRASSE BAU AG", "Straße Bau"),
        ("SCHMIDT UND SOEHNE", "Schmidt & Söhne KG"),
    ],
)
def test_bank_noise_is_normalised_away(bank: str, ours: str) -> None:
    assert names.normal_name(bank) == names.normal_name(ours)


def test_different_companies_stay_different() -> None:
    assert names.normal_name("Mueller Bau") != names.normal_name("Müller Maschinenbau")
    assert names.normal_name("GmbH") == "gmbh"  # a name that is only a legal form keeps it


def test_names_cut_at_bank_widths_are_recognised() -> None:
    ours = "Müller Maschinenbau Handelsgesellschaft mbH"
    assert names.normal_name("MUELLER MASCHINENBAU HANDEL"[:27]) in names.cut_forms(ours)
    assert names.normal_name(ours.upper()[:35]) in names.cut_forms(ours)
    assert names.is_cut("X" * 27) and names.is_cut("X" * 35) and not names.is_cut("X" * 30)
    assert names.cut_forms("Short name") == set()


def test_aliases_and_ibans() -> None:
    assert names.aliases_of("ACME HOLDING\n\n  DE89 3704 0044 0532 0130 00 \n") == [
        "ACME HOLDING",
        "DE89 3704 0044 0532 0130 00",
    ]
    assert names.looks_like_iban("DE89 3704 0044 0532 0130 00")
    assert not names.looks_like_iban("ACME HOLDING")
    assert names.normal_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"


@pytest.mark.parametrize(
    "memo",
    ["INV-000123", "payment INV000123 thanks", "inv 123", "#000123", "Invoice: 0123", "RE 123"],
)
def test_invoice_numbers_in_their_many_spellings_read_alike(memo: str) -> None:
    assert INVOICE.keys(memo) == ["123"]
    assert INVOICE.target_keys("INV-000123") == ["123"]
    assert Extractor("rf").target_keys("INV-000123") == ["INV123", "123"]
    assert Extractor("whole").target_keys("2026/77") == ["202677"]


@pytest.mark.parametrize(
    ("pattern", "number", "keys"),
    [
        (INVOICE.pattern, "INV-000123", ["123"]),
        (INVOICE.pattern, "RE 0042 inv 000777", ["42"]),  # the first the pattern reads
        (INVOICE.pattern, "INV-12", ["INV12", "12"]),  # the pattern reads none: the whole
        # The first match reads as nothing (a group of punctuation): the next one counts.
        (r"(?:inv)([-.]+|\d+)", "inv--inv77", ["77"]),
        (r"(?:inv)([-.]+)", "inv--", ["INV"]),
    ],
)
def test_an_invoice_number_is_indexed_under_the_first_key_its_pattern_reads(
    pattern: str, number: str, keys: list[str]
) -> None:
    assert Extractor("pattern", pattern).target_keys(number) == keys


def test_several_references_in_order_without_repeats() -> None:
    assert INVOICE.keys("INV-000125, INV-000124 and inv 125") == ["125", "124"]
    assert INVOICE.keys("order 4711 delivered") == []
    assert Extractor("whole").keys(" E2E-INV000123 ") == ["E2EINV123"]
    assert normal_reference("inv-00-0012") == "INV12"


def test_creditor_references_need_valid_check_digits() -> None:
    assert rf_valid("RF18539007547034") and rf_valid("RF18 5390 0754 7034")
    assert not rf_valid("RF18539007547035") and not rf_valid("RF19539007547034")
    assert rf_reference("539007547034") == "RF18539007547034"
    made = rf_reference("000123")
    assert rf_valid(made)
    assert list(rf_payloads(f"pay {made[:4]} {made[4:]} THANKS")) == ["000123"]
    assert list(rf_payloads("RF18 5390 0754 7035")) == []  # no prefix of it is valid either
    extractor = Extractor("rf")
    assert extractor.keys(f"ref {made}") == ["123"]


def test_one_typo_is_tolerated_in_long_keys_only() -> None:
    assert within_one_typo("100234", "100243")  # swapped neighbours
    assert within_one_typo("100234", "10234")  # one missing
    assert within_one_typo("100234", "100235")  # one wrong
    assert not within_one_typo("100234", "100253")
    assert not within_one_typo("123", "124")  # too short to guess
    near = one_typo_away("100234")
    assert {"100243", "10234", "100235", "1002345"} <= near and "100234" not in near
    assert all(within_one_typo("100234", k) for k in near)
    assert one_typo_away("123") == set()


def _exactly(amounts: list[D], target: str):
    return smallest_fitting_set(amounts, D(target), D(target))


def test_subset_search_prefers_the_fewest_then_the_oldest() -> None:
    amounts = [D("10"), D("20"), D("30"), D("60")]
    assert _exactly(amounts, "60").picked == (3,)
    assert _exactly(amounts, "30") == SubsetResult((2,))  # one beats 10 + 20
    assert _exactly(amounts, "40").picked == (0, 2)
    assert _exactly(amounts, "50").picked == (1, 2)
    assert _exactly(amounts, "120").picked == (0, 1, 2, 3)
    assert _exactly(amounts, "15").picked is None


def test_a_second_set_of_the_same_size_makes_it_a_guess() -> None:
    amounts = [D("10"), D("20"), D("30"), D("40")]
    assert _exactly(amounts, "50") == SubsetResult((0, 3), other=(1, 2))
    assert _exactly(amounts, "70") == SubsetResult((2, 3))  # 10+20+40 is a bigger set
    within = smallest_fitting_set(amounts, D("29.50"), D("30.20"))
    assert within == SubsetResult((2,))  # one amount fits: no combination is looked at


def test_subset_search_is_bounded() -> None:
    amounts = [D(2 * i) for i in range(1, 41)]  # even amounts, an odd total: none fits
    result = smallest_fitting_set(amounts, D("101"), D("101"), max_steps=50)
    assert result.picked is None and result.exhausted
