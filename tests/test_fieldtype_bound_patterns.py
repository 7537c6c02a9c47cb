"""The write schemas' patterns for decimal bounds say exactly what the field type says:
a decimal string matches `at_least(b)` when its value is b or more, `at_most(b)` when
it is b or less (the API publishes them, and enforces them with the same validator)."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decimal_patterns import at_least, at_most

BOUNDS = ["0", "0.01", "0.000001", "1", "10", "365", "-100", "-0.5", "1000.25", "99.99", "19.9"]
GRAMMAR = re.compile(r"-?[0-9]{1,13}(\.[0-9]{1,4})?")
decimals = st.from_regex(GRAMMAR, fullmatch=True) | st.sampled_from(
    ["0", "-0", "-0.00", "0.01", "0.009", "0.0100", "365", "365.0001", "364.9999", "00365", "-100"]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=decimals, bound=st.sampled_from(BOUNDS))
def test_bound_patterns_agree_with_decimal_comparison(text: str, bound: str) -> None:
    value, limit = Decimal(text), Decimal(bound)
    assert bool(re.search(at_least(limit), text)) == (value >= limit), (text, bound)
    assert bool(re.search(at_most(limit), text)) == (value <= limit), (text, bound)


def test_the_edges_of_a_bound() -> None:
    positive = re.compile(at_least(Decimal("0.01")))
    assert positive.search("0.01") and positive.search("0.0100") and positive.search("7")
    assert not positive.search("0") and not positive.search("0.009") and not positive.search("-1")
    at_most_365 = re.compile(at_most(Decimal("365")))
    assert at_most_365.search("365.0000") and at_most_365.search("-9999")
    assert not at_most_365.search("365.0001") and not at_most_365.search("1000")
