"""Schemathesis, with all its checks, against /api/openapi.json: no response contradicts it.

This runs schemathesis's own engine, the one `st run --checks all` runs (its examples,
coverage, fuzzing and stateful phases), in-process through the Flask app (WSGI), logged
in with HTTP Basic as admin, derandomized and with a bounded number of examples per
operation so that it stays quick. Every check is on: no server error, status codes,
content types, headers and bodies as documented, every request the document forbids
refused, every one it allows accepted, deleted records gone, created ones there, and
no operation answering without credentials.

One exception, and only one: `positive_data_acceptance` also takes 428. An update or a
delete must name the version it is based on, in the body or in If-Match (or ?version=
for a delete); "one of these two places" is a rule JSON Schema cannot state across a
header and a body, so a request the document allows may still lack it.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, events, from_schema
from schemathesis.transport.wsgi import WSGITransport
from schwifty import IBAN
from werkzeug.security import generate_password_hash

from engine.permissions import Principal

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}
# schemathesis's own list for positive_data_acceptance, and 428 (see the module's docstring)
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "428"]
# The coverage phase sends every boundary and every violation of every keyword: ~500
# requests per write, ~1800 per list, over an hour of the CI budget for all entities.
# By default it covers these three, whose fields have every kind of value the document
# describes (a decimal and money with lower bounds, date, date-time, currency, choice,
# ref, text, a check over other records); FORMWORK_FUZZ=full covers every entity.
COVERED = r"^/api/(receivables/exchange_rate|collections/(contact_log|promise_to_pay))(/|$)"
FULL = os.environ.get("FORMWORK_FUZZ") == "full"
CONFIG = {
    "seed": 1,
    "workers": 1,
    "cache": {"enabled": False},
    "headers": AUTH,
    "generation": {"max-examples": 8, "deterministic": True},
    "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    "phases": {"enabled": True},
    "operations": []
    if FULL
    else [{"exclude-path-regex": COVERED, "phases": {"coverage": {"enabled": False}}}],
}
# ignored_auth sends thousands of wrong passwords: a throttle this test does not test
UNLIMITED = "1000000/minute"
UNTHROTTLED = {"LOGIN_LIMIT_PER_USER": UNLIMITED, "LOGIN_LIMIT_PER_ADDRESS": UNLIMITED}


# The document marks IBANs and BICs with `format`: check digits and country codes are more
# than a pattern can say. Valid ones to generate from, as a client would hold them.
IBANS = st.builds(
    lambda account: str(IBAN.generate("DE", bank_code="37040044", account_code=str(account))),
    st.integers(min_value=1, max_value=9_999_999_999),
)
schemathesis.openapi.format("iban", IBANS)
schemathesis.openapi.format("bic", st.sampled_from(["DEUTDEFF", "COBADEFFXXX", "BNPAFRPP"]))


@pytest.fixture
def fuzz_app(database_url: str, web_app) -> Iterator[object]:
    with web_app(database_url, **UNTHROTTLED) as flask_app:
        cheap_password(flask_app)
        seed(flask_app)
        yield flask_app


@pytest.fixture(autouse=True)
def _in_process_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """schemathesis 4.32 sends ignored_auth's probes through WSGI with the settings of a
    network session (max_redirects, verify, ...), which Werkzeug's client refuses; they
    mean nothing in-process, so they are dropped, as schemathesis does for its own calls."""
    send = WSGITransport.send

    def without_socket_settings(self, case, *, session=None, **kwargs):
        if session is None:
            for name in ("max_redirects", "verify", "cert", "proxies"):
                kwargs.pop(name, None)
        return send(self, case, session=session, **kwargs)

    monkeypatch.setattr(WSGITransport, "send", without_socket_settings)


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


def describe(recorder, case_id: str, check) -> str:
    """One failure, as a person can reproduce it: the check, the request, the answer."""
    interaction = recorder.interactions.get(case_id)
    failure = check.failure_info.failure
    lines = [f"{check.name}: {failure.title}", f"  {failure.message}"]
    if interaction is not None:
        request, response = interaction.request, interaction.response
        lines.append(f"  {request.method} {request.uri}")
        if request.body:
            lines.append(f"  body: {request.body[:300]!r}")
        if response is not None:
            lines.append(f"  -> {response.status_code} {response.content[:300]!r}")
    return "\n".join(lines)


def test_no_response_contradicts_the_document(fuzz_app):
    config = schemathesis.Config.from_dict(CONFIG)
    schema = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", fuzz_app, config=config, headers=AUTH
    )
    assert len(list(schema.get_all_operations())) > 50

    failures: list[str] = []
    errors: list[str] = []
    statuses: Counter[int] = Counter()
    checks: Counter[str] = Counter()
    phases = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            phases.add(event.phase.value)
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    statuses[interaction.response.status_code] += 1
            for case_id, results in recorder.checks.items():
                for check in results:
                    checks[check.name] += 1
                    if check.status == Status.FAILURE:
                        failures.append(describe(recorder, case_id, check))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or getattr(event, "exception", "")))
        elif isinstance(event, events.EngineFinished):
            failures += [f"{f.title}: {f.message}" for f in event.failures]

    assert not errors, "\n".join(errors)
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} contradictions:\n\n" + "\n\n".join(unique[:40])
    # Every phase ran and every check looked at answers; the requests got past log-in and
    # were valid often enough to read, write and delete records: the run exercised the
    # engine rather than only the error paths.
    assert {"coverage", "fuzzing", "stateful"} <= phases, phases
    expected_checks = {
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_headers_conformance", "response_schema_conformance",
        "negative_data_rejection", "positive_data_acceptance", "use_after_free",
        "ensure_resource_availability", "ignored_auth",
    }  # fmt: skip
    assert expected_checks <= set(checks), checks
    assert statuses[200] > 50 and statuses[201] > 10 and statuses[204] > 0, statuses
    assert statuses[422] > 50, statuses  # and the document's refusals were tried
