"""Write plans: worked out once per set of apps, from the definitions alone."""

from __future__ import annotations

from engine.appdef.plan import entity_plan, entity_plans


def test_plans_are_computed_once_per_appset(appset) -> None:
    assert entity_plans(appset) is entity_plans(appset)
    assert entity_plan(appset, "receivables.invoice") is entity_plans(appset)["receivables.invoice"]


def test_computed_fields_come_after_the_computed_fields_they_read(appset) -> None:
    order = [f.name for f in entity_plan(appset, "receivables.invoice").computed_order]
    assert order.index("paid_amount") < order.index("open_amount") < order.index("status")


def test_a_child_knows_the_parents_that_sum_over_it(appset) -> None:
    assert entity_plan(appset, "receivables.allocation").parents == (
        ("receivables.bank_line", "bank_line"),
        ("receivables.credit_note", "credit_note"),
        ("receivables.invoice", "invoice"),
    )
    assert ("receivables.customer", "customer") in entity_plan(
        appset, "receivables.invoice"
    ).parents
    assert entity_plan(appset, "receivables.customer").parents == ()


def test_relations_read_only_as_sums_are_summed_in_the_database(appset) -> None:
    assert dict(entity_plan(appset, "receivables.invoice").summed) == {
        "allocation": ("amount",),
        "write_off": ("amount", "bad_debt_amount"),
        "instalment": ("overdue_amount",),
    }
    assert dict(entity_plan(appset, "receivables.customer").summed) == {
        "invoice": ("open_amount",),
        "credit_note": ("unallocated_amount",),
    }
