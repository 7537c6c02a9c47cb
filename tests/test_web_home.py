"""The home page lists the entities a role may read, with their record counts."""

from __future__ import annotations

from engine.permissions import Principal


def test_home_lists_readable_entities_with_counts(app, login) -> None:
    repo = app.extensions["formwork"].db.repository(Principal.system("tester"))
    for name in ("Acme", "Beta"):
        repo.create("receivables.customer", {"name": name})
    html = login("viewer").get("/").get_data(as_text=True)
    assert (
        '<a href="/receivables/customer/">Customers</a></th>\n          <td class="num">2</td>'
        in html
    )
    assert (
        '<a href="/receivables/invoice/">Invoices</a></th>\n          <td class="num">0</td>'
        in html
    )


def test_home_needs_log_in(client) -> None:
    answer = client.get("/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
