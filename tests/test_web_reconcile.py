"""The reconciliation workbench through the Flask test client: the pages render, confirm,
reject, match and undo through the forms change the allocations, a run goes in the
background with its progress polled, CSRF is enforced and a viewer is refused."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from engine.permissions import Principal
from engine.rules.service import Reconciliation

R = "receivables."


def seed(app) -> dict[str, int]:
    """Two customers, their invoices, and lines that leave one of each outcome: settled by a
    rule, a partial payment proposed, two invoices alike proposed, and one left open."""
    db = app.extensions["formwork"].db
    repo = db.repository(Principal.system("test"))
    mueller = repo.create(
        R + "customer", {"name": "Müller Maschinenbau GmbH", "iban": "DE89370400440532013000"}
    )["id"]
    acme = repo.create(R + "customer", {"name": "ACME GmbH"})["id"]
    ids = {"mueller": mueller, "acme": acme}
    for n, (number, customer, amount) in enumerate(
        [
            ("INV-000123", mueller, 100),
            ("INV-000124", mueller, 200),
            ("INV-000125", mueller, 250),
            ("INV-000200", acme, 300),
            ("INV-000201", acme, 300),
            ("INV-000202", acme, 150),
            ("INV-000203", acme, 50),
        ]
    ):
        values = {"number": number, "customer": customer, "issue_date": f"2026-01-0{n + 1}"}
        ids[number] = repo.create(R + "invoice", {**values, "amount": amount})["id"]
    lines = repo.bulk_create(
        R + "bank_line",
        [
            {
                "date": "2026-02-01",
                "amount": 100,
                "memo": "Zahlung INV000123",
                "counterparty": "Mueller Maschinenbau",
            },
            {  # the customer's IBAN, a payer name the customer does not know, no reference
                "date": "2026-02-02",
                "amount": 120,
                "memo": "Abschlag",
                "counterparty": "MM Buchhaltung",
                "counterparty_iban": "DE89 3704 0044 0532 0130 00",
            },
            {"date": "2026-02-03", "amount": 300, "memo": "payment", "counterparty": "ACME GMBH"},
            {"date": "2026-02-04", "amount": 200, "memo": "two invoices", "counterparty": "Nobody"},
        ],
    )
    ids.update(line_auto=lines[0], line_part=lines[1], line_twins=lines[2], line_free=lines[3])
    Reconciliation(db, Principal.system("test")).run()
    return ids


def rows(app, entity: str, **eq) -> list[dict]:
    repo = app.extensions["formwork"].db.repository(Principal.system("test"))
    found = repo.query(R + entity, sort="id", limit=500).rows
    return [r for r in found if all(r.get(k) == v for k, v in eq.items())]


def open_suggestion(app, line: int) -> dict:
    (found,) = rows(app, "match_suggestion", kind="match", status="open", bank_line=line)
    return found


def test_the_workbench_shows_suggestions_lines_allocations_and_runs(app, login, client):
    ids = seed(app)
    login("clerk")
    page = client.get("/reconcile/")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Customer, partial payment" in text  # the rule of a suggestion
    assert "customer recognised by IBAN" in text  # its reasons
    assert "reference INV-000123 found in Memo" in text  # an allocation's, field as its label
    assert "Option 2" in text  # two invoices of ACME score alike: both listed
    assert f'value="{ids["line_free"]}"' in text  # the unmatched line can be ticked
    assert "Reference and amount" in text  # the rule's allocation, ready to undo
    assert "data-undo" in text and 'name="dry_run"' in text
    assert "Latest runs" in text and "test" in text  # the run, by whom
    assert 'href="/reconcile/"' in client.get("/").text  # the navigation links to it


def test_confirm_then_undo_through_the_forms(app, login, client):
    ids = seed(app)
    login("clerk")
    suggestion = open_suggestion(app, ids["line_part"])
    done = client.post("/reconcile/suggestions", data={"confirm_one": f"{suggestion['id']}:0"})
    assert done.status_code == 302
    (allocation,) = rows(app, "allocation", bank_line=ids["line_part"])
    assert allocation["amount"] == Decimal("120.00") and allocation["matched_by"] == "suggestion"
    invoice = rows(app, "invoice", id=ids["INV-000124"])[0]
    assert invoice["open_amount"] == Decimal("80.00")
    assert invoice["status"] in ("partial", "overdue")  # overdue: due in February
    page = client.get(done.headers["Location"])
    assert "Confirmed: 1 allocation was made." in page.text
    assert "MM Buchhaltung" in page.text and "New aliases" in page.text  # the payer, proposed

    undone = client.post("/reconcile/undo", data={"undo_one": str(allocation["id"])})
    assert undone.status_code == 302
    assert rows(app, "allocation", bank_line=ids["line_part"]) == []
    assert rows(app, "invoice", id=ids["INV-000124"])[0]["open_amount"] == Decimal("200.00")
    page = client.get("/reconcile/").text
    assert "1 allocation was undone" in page
    assert "New aliases" not in page  # the undone match no longer says who the payer is
    assert rows(app, "match_suggestion", kind="alias", status="open") == []


def test_bulk_confirm_a_chosen_alternative_and_reject(app, login, client):
    ids = seed(app)
    login("clerk")
    twins = open_suggestion(app, ids["line_twins"])
    client.post("/reconcile/suggestions", data={"confirm_one": f"{twins['id']}:1"})
    (allocation,) = rows(app, "allocation", bank_line=ids["line_twins"])
    assert allocation["invoice"] == ids["INV-000201"]  # the second option, as chosen

    fee = open_suggestion(app, ids["line_part"])
    client.post("/reconcile/suggestions", data={"suggestion": [str(fee["id"])], "action": "reject"})
    assert rows(app, "match_suggestion", id=fee["id"])[0]["status"] == "rejected"
    again = client.post(
        "/reconcile/suggestions", data={"suggestion": [str(fee["id"])], "action": "confirm"}
    )
    assert "is not open to decide" in client.get(again.headers["Location"]).text
    assert rows(app, "allocation", bank_line=ids["line_part"]) == []


def test_match_two_invoices_to_one_line_by_hand(app, login, client):
    ids = seed(app)
    login("clerk")
    page = client.get(f"/reconcile/?customer={ids['acme']}&line={ids['line_free']}")
    assert "Open invoices of ACME GmbH" in page.text and "INV-000202" in page.text
    assert f'value="{ids["line_free"]}" data-amount="200.00"' in page.text
    done = client.post(
        "/reconcile/match",
        data={
            "line": [str(ids["line_free"])],
            "invoice": [str(ids["INV-000202"]), str(ids["INV-000203"])],
            "customer": str(ids["acme"]),
        },
    )
    assert done.status_code == 302 and f"customer={ids['acme']}" in done.headers["Location"]
    made = rows(app, "allocation", bank_line=ids["line_free"])
    assert [(a["invoice"], a["amount"]) for a in made] == [
        (ids["INV-000202"], Decimal("150.00")),
        (ids["INV-000203"], Decimal("50.00")),
    ]
    assert all(a["matched_by"] == "manual" for a in made)
    nothing = client.post("/reconcile/match", data={"line": [str(ids["line_free"])]})
    assert "Tick at least one bank line" in client.get(nothing.headers["Location"]).text


def test_why_a_line_was_left(app, login, client):
    ids = seed(app)
    login("viewer")
    page = client.get(f"/reconcile/lines/{ids['line_free']}")
    assert page.status_code == 200
    assert "No rule settles it." in page.text
    assert "Reference and amount" in page.text  # the rule's label, not its name
    assert "no reference found in Memo, Reference, or End-to-end id" in page.text
    assert "no customer recognised from Nobody" in page.text
    assert client.get("/reconcile/lines/999999").status_code == 404


def test_the_pages_in_chinese(app, login, client):
    ids = seed(app)
    login("clerk")
    client.post("/language", data={"locale": "zh_Hans_CN", "next": "/reconcile/"})
    page = client.get("/reconcile/")
    assert "银行流水核销" in page.text and "待决定的建议" in page.text
    assert "在 附言 中找到参考号 INV-000123" in page.text
    why = client.get(f"/reconcile/lines/{ids['line_free']}")
    assert "没有规则能核销这笔流水。" in why.text
    assert "在 附言、参考号或端到端编号 中未找到参考号" in why.text
    assert "参考号与金额" in why.text and "reference and amount" not in why.text  # rule labels


def test_alias_proposals_are_applied_only_when_accepted(app, login, client):
    ids = seed(app)
    login("clerk")
    fee = open_suggestion(app, ids["line_part"])
    client.post("/reconcile/suggestions", data={"confirm_one": f"{fee['id']}:0"})
    (proposal,) = rows(app, "match_suggestion", kind="alias", status="open")
    assert proposal["alias"] == "MM Buchhaltung"
    assert not rows(app, "customer", id=ids["mueller"])[0].get("aliases")
    client.post("/reconcile/aliases", data={"accept": str(proposal["id"])})
    assert "MM Buchhaltung" in rows(app, "customer", id=ids["mueller"])[0]["aliases"]


def test_a_run_in_the_background_reports_its_progress(app, login, client):
    from web import reconcile

    ids = seed(app)
    login("clerk")
    allocation = rows(app, "allocation", bank_line=ids["line_auto"])[0]
    client.post("/reconcile/undo", data={"undo_one": str(allocation["id"])})
    started = client.post(
        "/reconcile/run", data={"dry_run": "1"}, headers={"Accept": "application/json"}
    )
    assert started.status_code == 202
    job = reconcile.JOBS[started.json["job"]]
    job.thread.join(timeout=60)
    progress = client.get(started.json["progress"]).json
    assert progress["state"] == "done" and progress["dry_run"] is True
    assert "Dry run, nothing written" in progress["text"]
    runs_before = len(rows(app, "reconcile_run"))

    real = client.post("/reconcile/run", data={"dry_run": "0"})  # without JavaScript
    assert real.status_code == 302 and "job=" in real.headers["Location"]
    job_id = real.headers["Location"].split("job=")[1].split("#")[0]
    reconcile.JOBS[job_id].thread.join(timeout=60)
    assert len(rows(app, "reconcile_run")) == runs_before + 1
    assert "Run done" in client.get(real.headers["Location"]).text
    runs = client.get("/reconcile/runs")
    assert runs.status_code == 200 and "clerk" in runs.text


def test_a_viewer_sees_but_cannot_change(app, login, client):
    ids = seed(app)
    login("viewer")
    page = client.get("/reconcile/")
    assert page.status_code == 200 and "Customer, partial payment" in page.text
    assert 'name="confirm_one"' not in page.text and 'name="dry_run"' not in page.text
    fee = open_suggestion(app, ids["line_part"])
    refused = client.post("/reconcile/suggestions", data={"confirm_one": f"{fee['id']}:0"})
    assert refused.status_code == 403
    allocation = rows(app, "allocation", bank_line=ids["line_auto"])[0]
    assert (
        client.post("/reconcile/undo", data={"undo_one": str(allocation["id"])}).status_code == 403
    )
    assert client.post("/reconcile/run", data={"dry_run": "0"}).status_code == 403
    matched = client.post(
        "/reconcile/match",
        data={"line": [str(ids["line_free"])], "invoice": [str(ids["INV-000202"])]},
    )
    assert matched.status_code == 403
    assert rows(app, "allocation", bank_line=ids["line_free"]) == []
    assert rows(app, "allocation", id=allocation["id"])  # still there


@pytest.fixture
def csrf_app(database_url, web_app):
    with web_app(database_url) as flask_app:
        flask_app.config["WTF_CSRF_ENABLED"] = True
        yield flask_app


def test_decisions_need_the_csrf_token(csrf_app):
    ids = seed(csrf_app)
    client = csrf_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "clerk", "password": "clerk-pass", "csrf_token": token})
    fee = open_suggestion(csrf_app, ids["line_part"])
    refused = client.post("/reconcile/suggestions", data={"confirm_one": f"{fee['id']}:0"})
    assert (
        refused.status_code == 400
        and rows(csrf_app, "allocation", bank_line=ids["line_part"]) == []
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/reconcile/").text).group(1)
    ok = client.post(
        "/reconcile/suggestions", data={"confirm_one": f"{fee['id']}:0", "csrf_token": token}
    )
    assert ok.status_code == 302 and rows(csrf_app, "allocation", bank_line=ids["line_part"])
