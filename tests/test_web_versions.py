"""The edit and delete forms refuse a post that does not name a valid version: without it
the stale-version check cannot run, and the probe overwrote a newer record that way."""

from __future__ import annotations

from decimal import Decimal
from html import unescape

import pytest

from engine.permissions import Principal

# What the probe sent: no version at all, an empty one, and garbage of several kinds.
BAD_VERSIONS = [None, "", "abc", "0", "-1", "1.5", "1e3", "\uff12", "2147483648", "9" * 40]


@pytest.fixture
def invoice(app):
    repo = app.extensions["formwork"].db.repository(Principal.system("tester"))
    customer = repo.create("receivables.customer", {"name": "ACME Ltd"})
    values = {"number": "INV-001", "customer": customer["id"], "issue_date": "2026-01-10"}
    record = repo.create("receivables.invoice", {**values, "amount": Decimal("100")})
    repo.update("receivables.invoice", record["id"], {"amount": Decimal("2000")})  # someone else
    return repo.get("receivables.invoice", record["id"])


def _form(invoice, version):
    form = {
        "number": "INV-001",
        "customer": str(invoice["customer"]),
        "issue_date": "2026-01-10",
        "amount": "1500",
        "currency": "EUR",
    }
    if version is not None:
        form["version"] = version
    return form


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_an_edit_without_a_valid_version_is_refused(app, login, client, invoice, version):
    login("clerk")
    url = f"/receivables/invoice/{invoice['id']}/edit"
    response = client.post(url, data=_form(invoice, version))
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    assert "did not say which version of the record it changes, so nothing was saved" in html
    assert 'value="1500"' in html  # what the user typed is kept
    assert '<input type="hidden" name="version" value="2">' in html  # now they can save again
    repo = app.extensions["formwork"].db.repository(Principal.system("tester"))
    assert repo.get("receivables.invoice", invoice["id"])["amount"] == Decimal("2000.00")
    assert client.post(url, data=_form(invoice, "2")).status_code == 302  # knowingly, this time
    assert repo.get("receivables.invoice", invoice["id"])["amount"] == Decimal("1500.00")


@pytest.mark.parametrize("version", [None, "", "abc", "0"])
def test_a_delete_without_a_valid_version_is_refused(app, login, client, invoice, version):
    login("admin")
    data = {} if version is None else {"version": version}
    response = client.post(f"/receivables/invoice/{invoice['id']}/delete", data=data)
    assert response.status_code == 409
    assert "did not say which version of the record it deletes" in unescape(response.text)
    repo = app.extensions["formwork"].db.repository(Principal.system("tester"))
    assert repo.get("receivables.invoice", invoice["id"]) is not None
