"""The import page: upload a statement to a profile, see the preview with its warnings or
its row errors, then import; CSRF on every form, and the role's permissions as the
engine has them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from engine.permissions import Principal

SAMPLES = Path(__file__).resolve().parent / "statements"


def bank_lines(app) -> list[dict]:
    repo = app.extensions["formwork"].db.repository(Principal.system("test"))
    return repo.query("receivables.bank_line", limit=100).rows


def upload(client, profile: str, name: str, data: bytes):
    return client.post(
        "/imports/preview",
        data={"profile": profile, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def token_of(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_preview_then_import_then_a_second_upload_adds_nothing(app, login, client):
    login("clerk")
    page = client.get("/imports/")
    assert page.status_code == 200
    assert 'value="receivables.mt940"' in page.text and 'type="file"' in page.text

    data = (SAMPLES / "sample.sta").read_bytes()
    preview = upload(client, "receivables.mt940", "march.sta", data)
    assert preview.status_code == 200, preview.text
    assert "Import 3 lines" in preview.text and "INV-000123" in preview.text
    assert "closing balance of 1330.00" in preview.text  # the sample's balance warning
    assert bank_lines(app) == []

    done = client.post("/imports/run", data={"token": token_of(preview.text)})
    assert done.status_code == 200
    assert len(bank_lines(app)) == 3
    assert "Imported march.sta: 3 new bank lines, 0 already imported." in done.text

    again = client.post("/imports/run", data={"token": token_of(preview.text)})
    assert again.status_code == 302  # the upload was used up
    second = upload(client, "receivables.mt940", "march.sta", data)
    assert "Nothing new to import" in second.text and 'name="token"' not in second.text
    assert len(bank_lines(app)) == 3


def test_an_upload_never_imported_is_removed_a_day_later(app, login, client):
    import os
    import time

    from web.imports import _folder

    login("clerk")
    stale = _folder() / "stale-upload"
    stale.write_bytes(b"old")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    page = upload(client, "receivables.mt940", "m.sta", (SAMPLES / "sample.sta").read_bytes())
    assert page.status_code == 200
    assert not stale.exists()


def test_row_errors_are_shown_by_line_and_nothing_is_imported(app, login, client):
    login("clerk")
    bad = (SAMPLES / "sample.sta").read_text().replace("2603030303CR100", "2602300303CR100")
    page = upload(client, "receivables.mt940", "bad.sta", bad.encode())
    assert page.status_code == 422
    assert "<td>15</td>" in page.text and "value date 260230 does not exist" in page.text
    assert 'name="token"' not in page.text and bank_lines(app) == []


def test_the_preview_and_its_messages_in_chinese(app, login, client):
    login("clerk")
    client.post("/language", data={"locale": "zh_Hans_CN", "next": "/imports/"})
    page = client.get("/imports/")
    assert "导入对账单" in page.text
    data = (SAMPLES / "sample.sta").read_bytes()
    preview = upload(client, "receivables.mt940", "march.sta", data)
    assert "期末余额为 1330.00" in preview.text and "导入 3 笔流水" in preview.text


def test_a_role_that_may_not_create_bank_lines_is_refused(app, login, client):
    login("viewer")
    assert "receivables.mt940" not in client.get("/imports/").text
    page = upload(client, "receivables.mt940", "x.sta", (SAMPLES / "sample.sta").read_bytes())
    assert page.status_code == 403 and bank_lines(app) == []


def test_an_unknown_profile_is_a_404_and_a_missing_file_a_message(app, login, client):
    login("clerk")
    assert upload(client, "receivables.nope", "x.sta", b"").status_code == 404
    missing = client.post("/imports/preview", data={"profile": "receivables.mt940"})
    assert missing.status_code == 422 and "Choose the statement file" in missing.text


@pytest.fixture
def csrf_app(database_url, web_app, tmp_path):
    with web_app(database_url) as flask_app:
        flask_app.config["WTF_CSRF_ENABLED"] = True
        yield flask_app


def test_uploads_need_the_csrf_token(csrf_app):
    client = csrf_app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "clerk", "password": "clerk-pass", "csrf_token": token})
    refused = upload(client, "receivables.mt940", "x.sta", (SAMPLES / "sample.sta").read_bytes())
    assert refused.status_code == 400 and bank_lines(csrf_app) == []
    form = client.get("/imports/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    ok = client.post(
        "/imports/preview",
        data={"profile": "receivables.mt940", "csrf_token": token,
              "file": (io.BytesIO((SAMPLES / "sample.sta").read_bytes()), "x.sta")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert ok.status_code == 200 and "Import 3 lines" in ok.text
