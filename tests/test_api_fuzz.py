"""Schemathesis against /api/openapi.json: generated requests never make the API fail (5xx).

Runs in-process through the Flask app (WSGI), logged in with HTTP Basic as admin,
derandomized and with a bounded number of examples per operation so it stays quick.
Valid requests (what the document allows) and invalid ones (what it forbids) both run.
"""

from __future__ import annotations

import base64
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from werkzeug.security import generate_password_hash

from engine.permissions import Principal

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}


def cheap_password(app) -> None:
    """A fast hash for the admin's password: scrypt's 0.1 s per request would dominate."""
    db = app.extensions["formwork"].db
    users = db.system("user")
    fast = generate_password_hash("admin-pass", method="pbkdf2:sha256:1")
    with db.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == "admin").values(password_hash=fast))


def seed(app) -> None:
    """A few records, so that generated ids (small ones first) find something to read and edit."""
    repo = app.extensions["formwork"].db.repository(Principal.system("seed"))
    customer = repo.create("receivables.customer", {"name": "ACME"})
    invoice = repo.create(
        "receivables.invoice",
        {"number": "I-1", "customer": customer["id"], "issue_date": "2026-01-02", "amount": "10"},
    )
    line = repo.create("receivables.bank_line", {"date": "2026-01-03", "amount": "4"})
    allocation = {"bank_line": line["id"], "invoice": invoice["id"], "amount": "4"}
    repo.create("receivables.allocation", allocation)
    repo.create("collections.collection_task", {"title": "Call", "customer": customer["id"]})


def test_generated_requests_never_cause_a_server_error(app):
    cheap_password(app)
    seed(app)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    statuses: Counter[int] = Counter()
    for mode, examples in EXAMPLES.items():
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode, headers=AUTH))
            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
                statuses[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                # Nothing to get wrong (GET /api/ takes no input): no negative case exists.
                assert mode is GenerationMode.NEGATIVE, operation.label

    # The requests got past log-in and some were valid enough to read and write records,
    # so the run exercised the engine rather than only the error paths.
    assert statuses[401] == 0, statuses
    assert statuses[200] > 20 and statuses[201] > 0, statuses
