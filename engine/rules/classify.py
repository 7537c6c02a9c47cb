"""Differences classified by the `differences:` rules of the matching section.

What is left unmatched, or matched with a difference, is a technical error (a decimal
slip, a bank fee), a process gap (a discount taken, a wrong customer, a duplicate
payment) or a dispute. The first rule whose condition holds names the class and the
reason, so that collections can route the item; none holding leaves it unclassified.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.appdef.matching import Matching
from engine.expr import ExpressionError
from engine.storage import fastexpr


def facts_for(
    line: Mapping[str, Any],
    target: Mapping[str, Any] | None,
    paid: Decimal,
    expected: Decimal | None,
    **flags: bool,
) -> dict[str, Any]:
    """The names a `differences:` condition reads."""
    return {
        "source": line,
        "target": target,
        "paid": paid,
        "expected": expected,
        "difference": None if expected is None else paid - expected,
        "already_paid": bool(flags.get("already_paid")),
        "other_customer": bool(flags.get("other_customer")),
        "customer_found": bool(flags.get("customer_found")),
    }


def classify(matching: Matching, facts: dict[str, Any]) -> tuple[str, str, str] | None:
    """(class, rule name, reason) of the first difference rule that holds, else None."""
    with fastexpr.exact():
        for rule in matching.differences:
            try:
                holds = fastexpr.evaluate(rule.when, facts)
            except ExpressionError:
                continue  # it reads something blank here (no target): it does not apply
            if holds:
                return rule.klass, rule.name, str(rule.reason)
    return None
