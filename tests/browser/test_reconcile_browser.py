"""The reconciliation workbench in a real Chromium, once in English and once in Chinese:
a dry run with its progress, confirm a suggestion from the keyboard, undo it, then match
two invoices to one line by hand watching the running total. Screenshots of each step
go to test-artifacts/ on every run, so a person can look at them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from engine.permissions import Principal
from engine.rules.service import Reconciliation

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
R = "receivables."

# Each language gets its own customer, invoices and lines, so the two runs do not meet.
DATA = {
    "en": {"customer": "Brandt Solar GmbH", "iban": "DE89370400440532013000",
           "payer": "BRANDT SOLAR BUCHHALTUNG", "stranger": "J. Smith Holdings", "prefix": "INV-E"},
    "zh": {"customer": "华信贸易有限公司", "iban": "DE02120300000000202051",
           "payer": "华信贸易 财务部", "stranger": "未知付款人", "prefix": "INV-Z"},
}  # fmt: skip
ENGLISH = {
    "lang": "en", "title": "Reconcile bank lines", "dry": "Dry run",
    "dry done": "Dry run, nothing written", "confirmed": "Confirmed: 1 allocation was made.",
    "alias": "New aliases", "undone": "1 allocation was undone",
    "show": "Show invoices", "open of": "Open invoices of Brandt Solar GmbH",
    "balanced": "balanced",
    "matched": "Matched by hand: 2 allocations were made.", "match": "Match ticked",
    "reason": "customer recognised by IBAN", "first rule": "Reference and amount",
}  # fmt: skip
CHINESE = {
    "lang": "zh", "title": "银行流水核销", "dry": "试运行", "dry done": "试运行，未写入任何数据",
    "confirmed": "已确认：生成了 1 笔核销。", "alias": "新别名", "undone": "已撤销 1 笔核销",
    "show": "显示发票", "open of": "华信贸易有限公司 的未结发票", "balanced": "已平衡",
"matched": "已手工匹配：生成了 2 笔核销。",
    "match": "匹配所选", "reason": "通过 IBAN", "first rule": "参考号与金额",
}  # fmt: skip


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky totals bar in its place
    page.screenshot(path=str(ARTIFACTS / f"reconcile-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def seeded(live_app) -> None:
    """Per language: a partial payment from the customer's IBAN (a suggestion) and a line
    from a stranger paying two invoices at once (left unmatched); then one run."""
    db = live_app.extensions["formwork"].db
    repo = db.repository(Principal.system("browser-test"))
    for d in DATA.values():
        customer = repo.create(R + "customer", {"name": d["customer"], "iban": d["iban"]})["id"]
        for n, amount in enumerate((400, 150, 50), 1):
            number = f"{d['prefix']}-{n}"
            values = {"number": number, "customer": customer, "issue_date": f"2026-03-0{n}"}
            repo.create(R + "invoice", {**values, "amount": amount})
        repo.bulk_create(
            R + "bank_line",
            [
                {
                    "date": "2026-04-01",
                    "amount": 120,
                    "memo": "Abschlag",
                    "counterparty": d["payer"],
                    "counterparty_iban": d["iban"],
                },
                {
                    "date": "2026-04-02",
                    "amount": 200,
                    "memo": "two bills",
                    "counterparty": d["stranger"],
                },
            ],
        )
    Reconciliation(db, Principal.system("browser-test")).run()


@pytest.mark.parametrize(
    "t",
    [
        pytest.param(ENGLISH, marks=pytest.mark.locale("en-US"), id="en"),
        pytest.param(CHINESE, marks=pytest.mark.locale("zh-CN"), id="zh"),
    ],
)
def test_confirm_undo_and_match_by_hand(login, live_server, seeded, t):
    d = DATA[t["lang"]]
    page = login("admin", "admin-pass")
    errors: list[str] = []  # script errors, and failed requests (but the favicon's)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)  # fmt: skip
    page.goto(f"{live_server}/reconcile/")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["title"])
    shot(page, f"{t['lang']}-workbench")

    # A dry run goes in the background; its progress shows while the page stays usable.
    page.get_by_role("button", name=t["dry"], exact=True).click()
    expect(page.locator(".run-status .run-text")).to_contain_text(t["dry done"])
    shot(page, f"{t['lang']}-dry-run")

    # Confirm the partial payment's suggestion from the keyboard: focus its row, Enter.
    suggestion = page.locator("#suggestions tr[data-row]", has_text=d["payer"])
    expect(suggestion).to_contain_text(t["reason"])
    suggestion.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text(t["confirmed"])
    expect(page.locator("#aliases")).to_contain_text(d["payer"])  # proposed, not yet applied
    expect(page.locator("#aliases")).to_contain_text(t["alias"])
    shot(page, f"{t['lang']}-confirmed")

    # Undo it with u on its row among the latest allocations.
    allocation = page.locator("#allocations tr[data-row]", has_text=d["payer"])
    allocation.focus()
    with page.expect_navigation():
        page.keyboard.press("u")
    expect(page.get_by_role("status").first).to_contain_text(t["undone"])
    expect(page.locator("#allocations tr[data-row]", has_text=d["payer"])).to_have_count(0)
    shot(page, f"{t['lang']}-undone")

    # Why the stranger's line was left: each rule tried, and why it did not fire.
    page.locator("#match tr[data-row]", has_text=d["stranger"]).locator("a[href*=lines]").click()
    expect(page.locator("ol.attempts li").first).to_contain_text(t["first rule"])
    expect(page.locator("ol.attempts")).to_contain_text(d["stranger"])
    shot(page, f"{t['lang']}-why")
    page.go_back()

    # Match by hand: choose the customer, tick the stranger's line and two invoices.
    chooser = page.locator("#choose-customer")
    chooser.fill(d["customer"][:4])
    options = page.locator("#choose-customer-listbox [role=option]")
    expect(options).to_have_count(1)  # the search's answer, not the list shown on focus
    expect(options).to_have_text(d["customer"])
    chooser.press("ArrowDown")
    chooser.press("Enter")
    page.get_by_role("button", name=t["show"]).click()
    expect(page.locator("#match h3").nth(1)).to_have_text(t["open of"])
    line = page.locator("#match tr[data-row]", has_text=d["stranger"])
    line.focus()
    page.keyboard.press(" ")  # Space ticks the focused row
    expect(line.locator("input[type=checkbox]")).to_be_checked()
    totals = page.locator(".totals")
    expect(totals.locator("[data-total=line]")).to_contain_text("200.00")
    page.locator("#match tr[data-row]", has_text=f"{d['prefix']}-2").locator("input").check()
    expect(totals.locator("[data-total=invoice]")).to_contain_text("150.00")
    expect(totals.locator("[data-total=difference]")).to_contain_text("50.00")
    page.locator("#match tr[data-row]", has_text=f"{d['prefix']}-3").locator("input").check()
    expect(totals.locator("[data-total=invoice]")).to_contain_text("200.00")
    expect(totals.locator("[data-total=difference]")).to_contain_text("0.00")
    expect(totals).to_contain_text(t["balanced"])
    shot(page, f"{t['lang']}-match-ticked")
    page.get_by_role("button", name=t["match"]).click()
    expect(page.get_by_role("status").first).to_contain_text(t["matched"])
    expect(page.locator("#allocations tr[data-row]", has_text=d["stranger"])).to_have_count(2)
    shot(page, f"{t['lang']}-matched")
    assert errors == []
