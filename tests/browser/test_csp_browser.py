"""The Content-Security-Policy forbids inline code: in a real Chromium the pages still work
and the browser reports no violation of the policy."""

from __future__ import annotations

from playwright.sync_api import expect

PAGES = [
    "/",
    "/receivables/customer/",
    "/receivables/invoice/",
    "/receivables/invoice/new",
    "/reconcile/",
]


def test_the_pages_break_no_rule_of_the_policy(login, live_server):
    page = login("admin", "admin-pass")
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    for path in PAGES:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.ok, path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
        if path.endswith("invoice/"):  # app.js ran: it fills in the count
            expect(page.locator("[data-count-url]").first).to_contain_text("invoices")
    assert [text for text in console if "Content Security Policy" in text] == []
