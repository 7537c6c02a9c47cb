"""The set-based parent refresh (SQL) gives exactly what the per-row refresh (Python) gives.

Each example builds the same customers, invoices, bank lines and allocations twice, once
refreshed in SQL and once in Python (refresh.SET_BASED off), on both databases: amounts in
currencies of 0, 2 and 3 places, allocations in another currency than their invoice's
(whose sums the invoice's currency must round: those rows go to Python), refused writes.
Afterwards every stored value of the two copies is the same, and so is every error.
"""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.appdef import AppSet
from engine.errors import ValidationError
from engine.permissions import Principal
from engine.storage import Repository, refresh
from engine.storage.sqlexpr import set_plan

PG_URL = os.environ.get("FORMWORK_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
CUSTOMER, INVOICE = "receivables.customer", "receivables.invoice"
BANK_LINE, ALLOCATION = "receivables.bank_line", "receivables.allocation"
SEQUENCE = itertools.count(1)
COMPUTED = {
    CUSTOMER: ("balance",),
    INVOICE: ("paid_amount", "open_amount", "status"),
    BANK_LINE: ("allocated_amount", "unallocated_amount"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def repo(request: pytest.FixtureRequest, appset: AppSet, tmp_path_factory, private_database):
    """One database per backend for every example (each uses names of its own)."""
    folder = tmp_path_factory.mktemp("refresh")
    with private_database(request.param, appset, folder, "fw_test_refresh_set") as db:
        yield db.repository(Principal.system("property"))


def test_the_receivables_parents_are_refreshed_in_sql(repo: Repository) -> None:
    for name in (CUSTOMER, INVOICE, BANK_LINE):
        assert set_plan(repo.db, repo.db.appset.entity(name)) is not None, name


currencies = st.sampled_from(["EUR", "JPY", "KWD"])
# Whole amounts, which any currency takes; mostly big enough for the allocations.
whole = st.one_of(st.integers(100, 3000), st.integers(100, 3000), st.integers(-20, 60)).map(Decimal)
# Mostly whole amounts, which every currency takes; some with cents or a third place.
amounts = st.one_of(
    st.integers(1, 80).map(Decimal),
    st.integers(1, 80).map(Decimal),
    st.integers(1, 80).map(Decimal),
    st.decimals(min_value=Decimal("-5"), max_value=Decimal("800"), places=2),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("80"), places=3),
)
world = st.fixed_dictionaries(
    {
        "currency": currencies,
        "invoices": st.lists(whole, min_size=1, max_size=4),
        "lines": st.lists(whole, min_size=1, max_size=3),
        "allocations": st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 2), amounts, st.none() | currencies),
            min_size=1,
            max_size=8,
        ),
        "removed": st.lists(st.integers(0, 7), max_size=3, unique=True),
    }
)


def build(repo: Repository, plan: dict[str, Any], set_based: bool) -> dict[str, Any]:
    """The example's records, refreshed one way; what is stored and what was refused."""
    refresh.SET_BASED = set_based
    try:
        return _build(repo, plan)
    finally:
        refresh.SET_BASED = True


def _create(repo: Repository, entity: str, records: list[dict[str, Any]]) -> Any:
    try:
        return repo.bulk_create(entity, records)
    except ValidationError as exc:
        return ("refused", sorted(exc.errors.items()))


def _build(repo: Repository, plan: dict[str, Any]) -> dict[str, Any]:
    n = next(SEQUENCE)
    currency = plan["currency"]
    (customer,) = repo.bulk_create(CUSTOMER, [{"name": f"R{n}", "currency": currency}])
    invoices = [
        {"number": f"R{n}-{i}", "customer": customer, "issue_date": "2024-01-01", "amount": a}
        for i, a in enumerate(plan["invoices"])
    ]
    invoice_ids = _create(repo, INVOICE, invoices)
    lines = [{"date": "2024-02-01", "amount": a, "currency": currency} for a in plan["lines"]]
    line_ids = _create(repo, BANK_LINE, lines)
    out: dict[str, Any] = {"invoices": invoice_ids, "lines": line_ids}
    if isinstance(invoice_ids, list) and isinstance(line_ids, list):
        allocations = []
        for inv, line, amount, other in plan["allocations"]:
            values = {
                "invoice": invoice_ids[inv % len(invoice_ids)],
                "bank_line": line_ids[line % len(line_ids)],
                "amount": amount,
            }
            if other:
                values["currency"] = other
            allocations.append(values)
        made = _create(repo, ALLOCATION, allocations)
        # The same allocations one at a time: each refused or taken on its own.
        singly = [_create(repo, ALLOCATION, [a]) for a in allocations]
        out["allocations"], out["singly"] = made, singly
        taken = [s[0] for s in singly if isinstance(s, list)]
        for i in plan["removed"]:
            if i < len(taken):
                repo.delete(ALLOCATION, taken[i])
    stored: dict[str, Any] = {"customer": _values(repo, CUSTOMER, [customer])}
    for entity, ids in ((INVOICE, invoice_ids), (BANK_LINE, line_ids)):
        if isinstance(ids, list):
            stored[entity] = _values(repo, entity, ids)
    out["stored"] = stored
    return out


def _values(repo: Repository, entity: str, ids: list[int]) -> list[tuple[Any, ...]]:
    rows = [repo.get(entity, i) for i in ids]
    return [tuple((name, row[name]) for name in COMPUTED[entity]) for row in rows if row]


def _same_shape(result: Any) -> Any:
    """Ids differ between the two copies; errors name records by id: keep the rest."""
    if isinstance(result, list) and all(isinstance(i, int) for i in result):
        return len(result)
    if isinstance(result, list):
        return [_same_shape(r) for r in result]
    if isinstance(result, tuple):
        return tuple(_same_shape(r) for r in result)
    if isinstance(result, str):
        return " ".join(w for w in result.split() if not w.startswith(("#", "R")))
    if isinstance(result, dict):
        return {k: _same_shape(v) for k, v in result.items()}
    return result


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=world)
def test_sql_and_python_refresh_store_the_same(repo: Repository, plan: dict[str, Any]) -> None:
    in_sql = build(repo, plan, set_based=True)
    in_python = build(repo, plan, set_based=False)
    assert _same_shape(in_sql) == _same_shape(in_python)
    if os.environ.get("SHOW"):
        print(in_sql)
