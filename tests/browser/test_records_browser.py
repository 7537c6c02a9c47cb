"""The generated record pages in a real Chromium: forms, ref inputs, messages, list search.

The main path runs in English and in Chinese; screenshots of its pages in both languages
are saved under test-artifacts/ on every run, so a person can look at them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


# The same path in each language: what the pages say, and the data typed into them.
ENGLISH = {
    "lang": "en",
    "html": "en-US",
    "customer": "Browser Test GmbH",
    "invoice": "INV-B-1",
    "new customer": "New customer",
    "Name": "Name",
    "Email": "Email",
    "Create customer": "Create customer",
    "created": "Customer Browser Test GmbH was created.",
    "Invoices": "Invoices",
    "New invoice": "New invoice",
    "Number": "Number",
    "Issue date": "Issue date",
    "Due date": "Due date",
    "Amount": "Amount",
    "Create invoice": "Create invoice",
    "not a number": "Amount is not a number",
    "Error:": "Error:",
    "check": "The due date cannot be before the issue date",
    "Search": "Search",
    "one": "1 invoice",
    "status": "Overdue",  # due 2026-03-31, long past
    "issued": "Mar 31, 2026",
}
CHINESE = {
    "lang": "zh", "html": "zh-Hans-CN", "customer": "华信贸易有限公司", "invoice": "INV-B-2",
    "new customer": "新建客户", "Name": "名称", "Email": "电子邮箱",
    "Create customer": "创建客户", "created": "已创建客户 华信贸易有限公司。",
    "Invoices": "发票", "New invoice": "新建发票", "Number": "发票号",
    "Issue date": "开票日期", "Due date": "到期日", "Amount": "金额",
    "Create invoice": "创建发票", "not a number": "金额不是数字",
    "Error:": "错误\uff1a", "check": "到期日不能早于开票日期",
    "Search": "搜索", "one": "共 1 条", "status": "已逾期", "issued": "2026年3月31日",
}  # fmt: skip


@pytest.mark.parametrize(
    "t",
    [
        pytest.param(ENGLISH, marks=pytest.mark.locale("en-US"), id="en"),
        pytest.param(CHINESE, marks=pytest.mark.locale("zh-CN"), id="zh"),
    ],
)
def test_create_a_customer_and_an_invoice_then_find_it(login, live_server, t):
    """The whole path, once per language; screenshots of each go to test-artifacts/."""
    page = login("admin", "admin-pass")
    expect(page.locator("html")).to_have_attribute("lang", t["html"])
    page.goto(f"{live_server}/receivables/customer/")
    page.get_by_role("link", name=t["new customer"]).click()
    page.get_by_label(t["Name"]).fill(t["customer"])
    page.get_by_label(t["Email"]).fill("ar@browser-test.example")
    shot(page, f"{t['lang']}-customer-form")
    page.get_by_role("button", name=t["Create customer"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["customer"])
    expect(page.get_by_role("status")).to_contain_text(t["created"])

    page.goto(f"{live_server}/receivables/invoice/")
    page.get_by_role("link", name=t["New invoice"]).click()
    page.get_by_label(t["Number"]).fill(t["invoice"])
    choose_ref(page, "customer", t["customer"])
    page.get_by_label(t["Issue date"]).fill("2026-03-01")
    page.get_by_label(t["Due date"]).fill("2026-02-01")
    page.get_by_label(t["Amount"]).fill("12,x")
    page.get_by_role("button", name=t["Create invoice"]).click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name=t["not a number"])).to_be_visible()
    amount = page.get_by_label(t["Amount"])
    expect(amount).to_have_value("12,x")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-amount-error")).to_have_text(f"{t['Error:']} {t['not a number']}")
    expect(page.locator("#f-customer")).to_have_value(re.compile(r"\d+"))  # still chosen
    shot(page, f"{t['lang']}-form-errors")

    amount.fill("1,234.50")
    page.get_by_role("button", name=t["Create invoice"]).click()
    expect(page.locator("#f-due_date-error")).to_contain_text(t["check"])
    shot(page, f"{t['lang']}-form-check-error")

    page.get_by_label(t["Due date"]).fill("")
    page.get_by_role("button", name=t["Create invoice"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["invoice"])
    details = page.locator("dl.fields")
    expect(details.get_by_role("link", name=t["customer"])).to_be_visible()
    expect(details.first).to_contain_text(t["issued"])  # issue date + 30 days of terms
    expect(page.locator("dl.fields").nth(1)).to_contain_text("1,234.50")
    shot(page, f"{t['lang']}-detail")

    page.get_by_role("link", name=t["Invoices"]).first.click()
    page.get_by_label(t["Search"]).fill(t["invoice"])
    page.get_by_label(t["Search"]).press("Enter")
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(t["invoice"])
    expect(rows.first).to_contain_text(t["status"])  # the choice's label, not `open`
    expect(rows.first.locator("td.num").first).to_have_text("1,234.50")
    expect(page.locator("[data-count-url]")).to_have_text(t["one"])
    shot(page, f"{t['lang']}-list")

    rows.first.get_by_role("link", name=t["invoice"]).click()
    page.get_by_role("link", name=t["customer"]).first.click()
    related = page.locator("section.related", has=page.get_by_role("heading", name=t["Invoices"]))
    expect(related).to_contain_text(t["invoice"])
    shot(page, f"{t['lang']}-customer-detail")


def test_the_language_switch_is_remembered_for_the_user(login, live_server, browser):
    page = login("viewer", "viewer-pass")
    expect(page.locator("html")).to_have_attribute("lang", "en-US")
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("应用")
    shot(page, "zh-home")
    other = browser.new_context(locale="en-US")  # another browser, in English
    try:
        second = other.new_page()
        second.goto(f"{live_server}/login")
        second.fill("input[name=username]", "viewer")
        second.fill("input[name=password]", "viewer-pass")
        second.click(".login button[type=submit]")
        expect(second.locator("html")).to_have_attribute("lang", "zh-Hans-CN")
        expect(second.get_by_role("button", name="退出登录")).to_be_visible()
    finally:
        other.close()


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
