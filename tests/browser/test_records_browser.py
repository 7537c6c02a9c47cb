"""The generated record pages in a real Chromium: forms, ref inputs, messages, list search.

Screenshots of the list, a detail page and a form with errors are saved under
test-artifacts/ on every run, so a person can look at the pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"records-{name}.png"), full_page=True)


def choose_ref(page: Page, field: str, label: str) -> None:
    """Pick a record in a ref input, whichever form it takes (select or searchable box)."""
    control = page.locator(f"#f-{field}")
    if control.evaluate("el => el.tagName") == "SELECT":
        control.select_option(label=label)
        return
    control.fill(label)
    option = page.locator(f"#f-{field}-listbox [role=option]", has_text=label)
    expect(option.first).to_be_visible()
    control.press("ArrowDown")
    control.press("Enter")


def test_create_a_customer_and_an_invoice_then_find_it(login, live_server):
    page = login("admin", "admin-pass")
    page.goto(f"{live_server}/receivables/customer/")
    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Name").fill("Browser Test GmbH")
    page.get_by_label("Email").fill("ar@browser-test.example")
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser Test GmbH")
    expect(page.get_by_role("status")).to_contain_text("Customer Browser Test GmbH was created.")

    page.goto(f"{live_server}/receivables/invoice/")
    page.get_by_role("link", name="New invoice").click()
    page.get_by_label("Number").fill("INV-B-1")
    choose_ref(page, "customer", "Browser Test GmbH")
    page.get_by_label("Issue date").fill("2026-03-01")
    page.get_by_label("Due date").fill("2026-02-01")
    page.get_by_label("Amount").fill("12,x")
    page.get_by_role("button", name="Create invoice").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Amount is not a number")).to_be_visible()
    amount = page.get_by_label("Amount")
    expect(amount).to_have_value("12,x")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-amount-error")).to_have_text("Error: Amount is not a number")
    expect(page.locator("#f-customer")).to_have_value(re.compile(r"\d+"))  # still chosen
    shot(page, "form-errors")

    amount.fill("1,234.50")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.locator("#f-due_date-error")).to_contain_text(
        "The due date cannot be before the issue date"
    )
    shot(page, "form-check-error")

    page.get_by_label("Due date").fill("")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("INV-B-1")
    details = page.locator("dl.fields")
    expect(details.get_by_role("link", name="Browser Test GmbH")).to_be_visible()
    expect(details.first).to_contain_text("2026-03-31")  # issue date + 30 days of terms
    expect(page.locator("dl.fields").nth(1)).to_contain_text("1,234.50")
    shot(page, "detail")

    page.get_by_role("link", name="Invoices").first.click()
    page.get_by_label("Search").fill("INV-B")
    page.get_by_label("Search").press("Enter")
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("INV-B-1")
    expect(rows.first.locator("td.num").first).to_have_text("1,234.50")
    expect(page.locator("[data-count-url]")).to_have_text("1 invoice")
    shot(page, "list")

    rows.first.get_by_role("link", name="INV-B-1").click()
    page.get_by_role("link", name="Browser Test GmbH").first.click()
    related = page.locator("section.related", has=page.get_by_role("heading", name="Invoices"))
    expect(related).to_contain_text("INV-B-1")
    shot(page, "customer-detail")


def test_a_large_table_is_searched_and_picked_with_the_keyboard(login, live_server):
    page = login("admin", "admin-pass")
    page.goto(f"{live_server}/receivables/customer/new")
    token = page.locator("input[name=csrf_token]").first.input_value()
    for i in range(201):  # more customers than a plain select lists
        response = page.request.post(
            f"{live_server}/receivables/customer/new",
            form={"csrf_token": token, "name": f"Bulk customer {i:03d}", "currency": "EUR"},
            max_redirects=0,
        )
        assert response.status == 302, response.text()
    page.request.post(
        f"{live_server}/receivables/customer/new",
        form={"csrf_token": token, "name": "Zebra Logistics", "currency": "EUR"},
        max_redirects=0,
    )
    page.request.get(f"{live_server}/receivables/customer/")  # shows (and so clears) the flashes

    page.goto(f"{live_server}/receivables/invoice/new")
    box = page.get_by_role("combobox", name="Customer")
    expect(box).to_be_visible()
    box.fill("zebra")
    option = page.get_by_role("option", name="Zebra Logistics")
    expect(option).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    shot(page, "combobox")
    box.press("Enter")  # picks the match; must not submit the form
    expect(box).to_have_value("Zebra Logistics")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(page.locator("input[type=hidden][name=customer]")).to_have_value(re.compile(r"\d+"))
    expect(page.locator(".error-summary")).to_have_count(0)

    page.get_by_label("Number").fill("INV-Z-1")
    page.get_by_label("Issue date").fill("2026-04-01")
    page.get_by_label("Amount").fill("50")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("INV-Z-1")
    expect(
        page.locator("dl.fields").first.get_by_role("link", name="Zebra Logistics")
    ).to_be_visible()

    # the list's customer filter searches the same way
    page.goto(f"{live_server}/receivables/invoice/")
    expect(page.locator("[data-count-url]")).to_have_text(re.compile(r"^\d+ invoices?$"))
    flt = page.get_by_role("combobox", name="Customer")
    flt.fill("Zebra")
    expect(page.get_by_role("option", name="Zebra Logistics")).to_be_visible()
    flt.press("Enter")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("INV-Z-1")
    expect(page.get_by_role("combobox", name="Customer")).to_have_value("Zebra Logistics")
