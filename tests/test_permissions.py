"""Permissions in the engine: principals, default deny, scope, and records kept hidden.

The test app (tests/apps_permissions/vault.yaml) has `secret` and `memo`, which only
admins may read; `thing`, which every role reads, refers to a secret and is referred
to by memos.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.appdef import AppSet, load_apps
from engine.errors import NotFound, PermissionDenied, ValidationError
from engine.permissions import ANONYMOUS, Principal, can, principal_of
from engine.storage import Database, Filter, Reader, Repository

VAULT = Path(__file__).resolve().parent / "apps_permissions"
ADMIN = Principal("ann", "admin")
CLERK = Principal("carl", "clerk")
VIEWER = Principal("vera", "viewer")


@pytest.fixture(scope="session")
def vault() -> AppSet:
    return load_apps([VAULT])


@pytest.fixture
def vdb(vault: AppSet, database_url: str):
    database = Database(vault, database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def ids(vdb: Database) -> dict[str, int]:
    """Two customers, a secret of the first, a thing of each (one holding the secret), a memo."""
    repo = vdb.repository(Principal.system("seed"))
    acme = repo.create("vault.customer", {"name": "Acme"})["id"]
    beta = repo.create("vault.customer", {"name": "Beta"})["id"]
    secret = repo.create("vault.secret", {"code": "S-ACME", "customer": acme})["id"]
    widget = repo.create(
        "vault.thing", {"name": "Widget", "tag": "W", "customer": acme, "secret": secret}
    )
    gadget = repo.create("vault.thing", {"name": "Gadget", "tag": "G", "customer": beta})
    memo = repo.create("vault.memo", {"text": "top secret memo", "thing": widget["id"]})
    return {
        "acme": acme,
        "beta": beta,
        "secret": secret,
        "widget": widget["id"],
        "gadget": gadget["id"],
        "memo": memo["id"],
    }


# -- the principal ------------------------------------------------------------------------------


def test_reader_and_repository_refuse_anything_but_a_principal(vdb: Database):
    with pytest.raises(TypeError, match="Principal"):
        Reader(vdb, "carl")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Principal"):
        vdb.repository(None)  # type: ignore[arg-type]
    assert Reader(vdb, CLERK).principal == CLERK
    assert vdb.repository(CLERK).user == "carl"


def test_principal_is_frozen_and_its_scope_checked():
    scoped = Principal("p", "viewer", {"vault.customer": 42})
    assert dict(scoped.scope) == {"vault.customer": 42}
    assert hash(scoped) == hash(Principal("p", "viewer", {"vault.customer": 42}))
    with pytest.raises(TypeError):
        scoped.scope["vault.customer"] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match=r"app\.entity"):
        Principal("p", "viewer", {"customer": 42})
    with pytest.raises(ValueError):
        Principal("p", "viewer", {"vault.customer": "forty-two"})
    assert Principal.system("cli").is_system
    assert not Principal("cli", "system", {"vault.customer": 1}).is_system


def test_default_deny(vault: AppSet):
    """No role, an unknown role, or "system" stored as a user's role: nothing is allowed."""
    secret, thing = vault.entity("vault.secret"), vault.entity("vault.thing")
    stored_system = principal_of(SimpleNamespace(username="mallory", role="system"))
    unknown = principal_of(SimpleNamespace(username="x", role="superuser"))
    disabled = principal_of(SimpleNamespace(username="ann", role="admin", active=False))
    for nobody in (ANONYMOUS, Principal("x", None), stored_system, unknown, disabled):
        assert not any(can(nobody, e, a) for e in (secret, thing) for a in ("read", "create"))
    assert can(principal_of(SimpleNamespace(username="ann", role="admin")), secret, "read")
    assert can(Principal.system("demo"), secret, "delete")
    assert not can(CLERK, secret, "read")
    assert can(CLERK, thing, "update")
    assert can(VIEWER, thing, "read") and not can(VIEWER, thing, "create")


def test_every_read_of_a_closed_entity_is_refused(vdb: Database, ids: dict[str, int]):
    repo = vdb.repository(CLERK)
    calls = [
        lambda: repo.get("vault.secret", ids["secret"]),
        lambda: repo.get("vault.secret", 999_999),
        lambda: repo.require("vault.secret", ids["secret"]),
        lambda: repo.query("vault.secret"),
        lambda: repo.query("vault.memo", [Filter("thing", "eq", ids["widget"])]),
        lambda: repo.count("vault.secret"),
        lambda: repo.ids_by("vault.secret", "code", ["S-ACME"]),
        lambda: repo.history("vault.secret", ids["secret"]),
    ]
    messages = set()
    for call in calls[:4]:
        with pytest.raises(PermissionDenied) as info:
            call()
        messages.add(str(info.value))
    # The same answer for a record that exists and one that does not: no probing.
    assert messages == {"the clerk role may not read secrets"}
    for call in calls[4:]:
        with pytest.raises(PermissionDenied):
            call()


def test_every_write_the_yaml_does_not_allow_is_refused(vdb: Database, ids: dict[str, int]):
    clerk, viewer = vdb.repository(CLERK), vdb.repository(VIEWER)
    with pytest.raises(PermissionDenied, match="clerk role may not create secrets"):
        clerk.create("vault.secret", {"code": "S-2"})
    with pytest.raises(PermissionDenied):
        clerk.bulk_create("vault.secret", [{"code": "S-3"}])
    with pytest.raises(PermissionDenied):
        clerk.update("vault.secret", ids["secret"], {"code": "S-X"})
    with pytest.raises(PermissionDenied):
        clerk.delete("vault.secret", ids["secret"])
    with pytest.raises(PermissionDenied, match="viewer role may not change things"):
        viewer.update("vault.thing", ids["gadget"], {"name": "Gizmo"})
    with pytest.raises(PermissionDenied):
        viewer.create("vault.thing", {"name": "New"})
    admin = vdb.repository(ADMIN)
    assert admin.get("vault.secret", ids["secret"])["code"] == "S-ACME"
    assert clerk.update("vault.thing", ids["gadget"], {"name": "Gizmo"})["name"] == "Gizmo"
    assert admin.count("vault.secret") == 1  # nothing was written by the refused calls


# -- hiding what may not be read ----------------------------------------------------------------


def test_labels_of_closed_records_are_just_their_ids(vdb: Database, ids: dict[str, int]):
    clerk, admin = vdb.repository(CLERK), vdb.repository(ADMIN)
    assert clerk.labels("vault.secret", [ids["secret"], 999]) == {}
    assert clerk.labels("vault.thing", [ids["widget"]]) == {
        ids["widget"]: f"Widget / #{ids['secret']}"
    }
    assert admin.labels("vault.thing", [ids["widget"]]) == {ids["widget"]: "Widget / S-ACME"}
    widget = clerk.get("vault.thing", ids["widget"])
    assert clerk.display("vault.thing", widget) == f"Widget / #{ids['secret']}"


def test_a_ref_to_a_closed_entity_cannot_be_set_and_cannot_probe(
    vdb: Database, ids: dict[str, int]
):
    clerk = vdb.repository(CLERK)
    answers = []
    for secret in (ids["secret"], 999_999):
        with pytest.raises(ValidationError) as info:
            clerk.create("vault.thing", {"name": "Probe", "secret": secret})
        answers.append(info.value.errors)
    assert (
        answers[0] == answers[1] == {"secret": "cannot be chosen: your role may not read secrets"}
    )
    with pytest.raises(ValidationError):
        clerk.update("vault.thing", ids["gadget"], {"secret": ids["secret"]})
    # A ref already there may stay while the clerk edits other fields.
    saved = clerk.update("vault.thing", ids["widget"], {"name": "Widget 2"})
    assert saved["secret"] == ids["secret"]
    assert clerk.update("vault.thing", ids["widget"], {"secret": None})["secret"] is None


def test_deleting_does_not_count_closed_children(vdb: Database, ids: dict[str, int]):
    with pytest.raises(ValidationError) as info:
        vdb.repository(CLERK).delete("vault.thing", ids["widget"])
    assert info.value.errors == {"": "cannot delete: other records refer to it"}
    with pytest.raises(ValidationError, match="1 memo refers to it"):
        vdb.repository(ADMIN).delete("vault.thing", ids["widget"])


# -- scope --------------------------------------------------------------------------------------


def _portal(ids: dict[str, int], role: str = "viewer") -> Principal:
    return Principal("acme-portal", role, {"vault.customer": ids["acme"]})


def test_scope_shows_the_customer_and_records_referring_to_it(vdb: Database, ids: dict[str, int]):
    repo = vdb.repository(_portal(ids))
    assert [r["name"] for r in repo.query("vault.customer").rows] == ["Acme"]
    assert [r["name"] for r in repo.query("vault.thing").rows] == ["Widget"]
    assert repo.count("vault.thing") == 1
    assert repo.get("vault.customer", ids["beta"]) is None
    assert repo.get("vault.thing", ids["gadget"]) is None
    assert repo.labels("vault.customer", [ids["acme"], ids["beta"]]) == {ids["acme"]: "Acme"}
    assert repo.ids_by("vault.customer", "name", ["Acme", "Beta"]) == {"Acme": ids["acme"]}
    assert repo.history("vault.customer", ids["beta"]) == []
    assert [h["action"] for h in repo.history("vault.customer", ids["acme"])] == ["create"]
    # Out of scope reads exactly like a record that is not there.
    with pytest.raises(NotFound) as out_of_scope:
        repo.require("vault.customer", ids["beta"])
    with pytest.raises(NotFound) as missing:
        repo.require("vault.customer", 999_999)
    assert str(out_of_scope.value).replace(str(ids["beta"]), "N") == str(missing.value).replace(
        "999999", "N"
    )


def test_scope_refuses_entities_it_does_not_reach(vdb: Database, ids: dict[str, int]):
    """memo reaches the customer only through thing: not followed yet, so refused whole."""
    repo = vdb.repository(_portal(ids, role="admin"))
    with pytest.raises(PermissionDenied, match="outside what you may see"):
        repo.query("vault.memo")
    assert repo.get("vault.secret", ids["secret"])["code"] == "S-ACME"


def test_scoped_writes_stay_inside_the_scope(vdb: Database, ids: dict[str, int]):
    repo: Repository = vdb.repository(_portal(ids, role="clerk"))
    mine = repo.create("vault.thing", {"name": "Mine", "customer": ids["acme"]})
    assert mine["customer"] == ids["acme"]
    # Another customer is "not there", as if it did not exist...
    with pytest.raises(ValidationError, match=f"there is no customer #{ids['beta']}"):
        repo.create("vault.thing", {"name": "Theirs", "customer": ids["beta"]})
    with pytest.raises(ValidationError, match=f"there is no customer #{ids['beta']}"):
        repo.update("vault.thing", mine["id"], {"customer": ids["beta"]})
    # ...and a record of no customer would leave the scope.
    with pytest.raises(PermissionDenied, match="outside what you may change"):
        repo.create("vault.thing", {"name": "Nobody's"})
    with pytest.raises(PermissionDenied):
        repo.update("vault.thing", mine["id"], {"customer": None})
    with pytest.raises(NotFound):
        repo.update("vault.thing", ids["gadget"], {"name": "Hijacked"})
    with pytest.raises(NotFound):
        repo.delete("vault.thing", ids["gadget"])
    # A unique value names the record holding it only when that record is in scope.
    with pytest.raises(ValidationError) as theirs:
        repo.create("vault.thing", {"name": "Copy", "tag": "G", "customer": ids["acme"]})
    assert theirs.value.errors == {"tag": "G is already used by another record"}
    with pytest.raises(ValidationError) as ours:
        repo.create("vault.thing", {"name": "Copy", "tag": "W", "customer": ids["acme"]})
    assert ours.value.errors == {"tag": f"W is already used by thing #{ids['widget']}"}
    admin = vdb.repository(ADMIN)
    assert admin.get("vault.thing", ids["gadget"])["name"] == "Gadget"
    assert admin.count("vault.thing") == 3


# -- every interface: pages, the JSON API, the OpenAPI document -----------------------------------

SECRET_TEXTS = ("S-ACME", "S-OTHER", "top secret memo")


@pytest.fixture
def vault_app(web_app, database_url: str):
    with web_app(database_url, VAULT) as flask_app:
        yield flask_app


@pytest.fixture
def web_ids(vault_app) -> dict[str, int]:
    """The records of `ids`, and a history in which the widget's secret changed twice."""
    repo = vault_app.extensions["formwork"].db.repository(Principal.system("seed"))
    acme = repo.create("vault.customer", {"name": "Acme"})["id"]
    secret = repo.create("vault.secret", {"code": "S-ACME", "customer": acme})["id"]
    other = repo.create("vault.secret", {"code": "S-OTHER"})["id"]
    widget = repo.create("vault.thing", {"name": "Widget", "customer": acme, "secret": other})
    repo.update("vault.thing", widget["id"], {"secret": secret})
    repo.create("vault.memo", {"text": "top secret memo", "thing": widget["id"]})
    return {"acme": acme, "secret": secret, "other": other, "widget": widget["id"]}


def _as(vault_app, role: str):
    client = vault_app.test_client()
    response = client.post("/login", data={"username": role, "password": f"{role}-pass"})
    assert response.status_code == 302
    return client


def _hides_secrets(response) -> str:
    text = response.get_data(as_text=True)
    for secret in SECRET_TEXTS:
        assert secret not in text, (response.request.path, secret)
    return text


def test_a_clerk_sees_no_secret_on_any_page(vault_app, web_ids: dict[str, int]):
    clerk = _as(vault_app, "clerk")
    widget, secret = web_ids["widget"], web_ids["secret"]
    readable = [
        "/",
        "/vault/thing/",
        f"/vault/thing/?secret={secret}",
        f"/vault/thing/?secret__in={secret},{web_ids['other']}",
        "/vault/thing/lookup?q=W",
        "/vault/thing/new",
        f"/vault/thing/{widget}",
        f"/vault/thing/{widget}/edit",
        f"/vault/thing/{widget}/delete",
        f"/vault/customer/{web_ids['acme']}",
    ]
    pages = {}
    for url in readable:
        response = clerk.get(url)
        assert response.status_code == 200, url
        pages[url] = _hides_secrets(response)
    assert "Secrets" not in pages["/"] and "Memos" not in pages["/"]
    assert "/vault/secret/" not in pages["/vault/thing/"]  # no picker, no lookup, no link
    assert f"Secret = #{secret}" in pages[f"/vault/thing/?secret={secret}"]
    detail = pages[f"/vault/thing/{widget}"]
    assert f"Widget / #{secret}" in detail  # the title, by the display template
    assert "Memos" not in detail  # the related list of a closed child entity is hidden
    assert f"#{web_ids['other']}" in detail and f"#{secret}" in detail  # history, by id
    assert "/vault/secret/lookup" not in pages["/vault/thing/new"]
    closed = [
        "/vault/secret/",
        f"/vault/secret/{secret}",
        "/vault/secret/999999",
        f"/vault/secret/{secret}/edit",
        "/vault/secret/lookup?q=S",
        "/vault/secret/count",
        "/vault/secret/new",
        "/vault/memo/",
    ]
    for url in closed:
        response = clerk.get(url)
        assert response.status_code == 403, url
        assert "Your role may not do this" in _hides_secrets(response)
    pages = [clerk.get(f"/vault/secret/{i}").get_data(as_text=True) for i in (999_999, secret)]
    main = [re.search(r"<main.*</main>", page, re.S).group(0) for page in pages]
    assert main[0] == main[1]
    admin = _as(vault_app, "admin")
    assert "S-ACME" in admin.get(f"/vault/thing/{widget}").get_data(as_text=True)
    assert "top secret memo" in admin.get(f"/vault/thing/{widget}").get_data(as_text=True)


def test_a_clerk_editing_a_thing_keeps_its_secret_and_cannot_set_one(
    vault_app, web_ids: dict[str, int]
):
    clerk = _as(vault_app, "clerk")
    widget = web_ids["widget"]
    db = vault_app.extensions["formwork"].db
    version = db.repository(ADMIN).get("vault.thing", widget)["version"]
    response = clerk.post(
        f"/vault/thing/{widget}/edit",
        data={"name": "Widget 2", "customer": str(web_ids["acme"]), "version": str(version)},
    )
    assert response.status_code == 302
    assert db.repository(ADMIN).get("vault.thing", widget)["secret"] == web_ids["secret"]
    answers = []
    for secret in (web_ids["other"], 999_999):
        response = clerk.post("/vault/thing/new", data={"name": "Probe", "secret": str(secret)})
        assert response.status_code == 422
        text = _hides_secrets(response)
        answers.append(re.findall(r'class="error-text"[^>]*>(.*?)</p>', text, re.S))
    assert answers[0] == answers[1]
    assert "may not read secrets" in answers[0][0]


def test_the_api_tells_a_clerk_nothing_about_secrets(vault_app, web_ids: dict[str, int]):
    clerk = _as(vault_app, "clerk")
    secret = web_ids["secret"]
    for url in ("/api/vault/secret", f"/api/vault/secret/{secret}", "/api/vault/memo"):
        response = clerk.get(url)
        assert response.status_code == 403
        assert response.json["error"] == f"the clerk role may not read {url.split('/')[3]}s"
    assert (
        clerk.get("/api/vault/secret/999999").json == clerk.get(f"/api/vault/secret/{secret}").json
    )
    patch = clerk.patch(f"/api/vault/secret/{secret}", json={"code": "X", "version": 1})
    assert patch.status_code == 403
    assert (
        clerk.delete("/api/vault/secret/999999?version=1").json
        == clerk.delete(f"/api/vault/secret/{secret}?version=1").json
    )
    answers = [
        clerk.post("/api/vault/thing", json={"name": "Probe", "secret": s}).json
        for s in (secret, 999_999)
    ]
    assert (
        answers[0]["fields"]
        == answers[1]["fields"]
        == {"secret": "cannot be chosen: your role may not read secrets"}
    )
    listing = clerk.get(f"/api/vault/thing?secret={secret}")
    assert listing.status_code == 200
    _hides_secrets(listing)
    index = _hides_secrets(clerk.get("/api/"))
    assert "vault/secret" not in index and "vault/memo" not in index


def test_the_openapi_document_lists_what_the_user_may_do(vault_app, web_ids: dict[str, int]):
    def document(role: str) -> dict:
        response = _as(vault_app, role).get("/api/openapi.json")
        assert response.status_code == 200
        return response.json

    clerk, viewer, admin = document("clerk"), document("viewer"), document("admin")
    for doc in (clerk, viewer):
        assert not [p for p in doc["paths"] if "/secret" in p or "/memo" in p]
        assert not [
            s for s in doc["components"]["schemas"] if s.startswith(("vault.secret", "vault.memo"))
        ]
        assert {t["name"] for t in doc["tags"]} == {"meta", "vault.customer", "vault.thing"}
    assert set(clerk["paths"]["/api/vault/thing/{id}"]) == {
        "parameters",
        "get",
        "put",
        "patch",
        "delete",
    }
    assert set(viewer["paths"]["/api/vault/thing/{id}"]) == {"parameters", "get"}
    assert set(viewer["paths"]["/api/vault/thing"]) == {"get"}
    assert "/api/vault/thing/_bulk" not in viewer["paths"]
    assert "/api/vault/secret/{id}" in admin["paths"]


def test_a_refs_rule_worked_out_once_per_field_says_what_the_general_check_says(
    vdb: Database, ids: dict[str, int]
):
    """Validation asks `_ref_rule` once per field and transaction (the readable, unscoped
    case reduced to "does it exist"); it must answer as `_ref_problem` does for every
    principal, value and record before the write."""
    principals = [
        Principal.system("seed"), ADMIN, CLERK, VIEWER,
        _portal(ids, role="clerk"), _portal(ids, role="admin"),
    ]  # fmt: skip
    values = [ids["acme"], ids["beta"], ids["secret"], 999_999]
    befores = [None, {"customer": ids["acme"], "secret": ids["secret"]}]
    thing = vdb.appset.entity("vault.thing")
    refs = [f for f in thing.fields.values() if f.ref]
    assert {f.name for f in refs} >= {"customer", "secret"}
    seen = set()
    for principal in principals:
        repo = vdb.repository(principal)
        with repo.transaction():
            repo.loader.fetch("vault.customer", values, None)
            repo.loader.fetch("vault.secret", values, None)
            for field in refs:
                rule = repo._ref_rule(field)
                for value in values:
                    for before in befores:
                        expected = repo._ref_problem(field, value, before)
                        assert rule(value, before) == expected, (principal, field.name, value)
                        seen.add(expected is None)
    assert seen == {True, False}
