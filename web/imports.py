"""The statement import page: choose a profile, upload a file, see the preview, import.

The upload is kept in a private temporary folder under a random token remembered in
the user's session, so that the import the user confirms is of the very file they saw
previewed. The preview is engine.imports' dry run; the import is the same call for
real. Permissions are the engine's: the Repository refuses what the user's role may
not create, and the page offers only profiles whose records the role may create.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from engine.appdef.imports import ImportProfile
from engine.errors import FormworkError, PermissionDenied
from engine.imports import import_file
from engine.recordio import ImportFailed
from web.context import allowed, formwork, repository
from web.i18n import _, locale

bp = Blueprint("imports", __name__, url_prefix="/imports")
UPLOADS = "formwork-uploads"
SESSION_KEY = "import_upload"
KEEP_SECONDS = 24 * 3600
PREVIEW_FIELDS = ("date", "amount", "currency", "counterparty", "memo", "reference", "booking")


def _profiles() -> dict[str, ImportProfile]:
    """Every profile (`app.name`) whose records the current user may create."""
    appset = formwork().appset
    found = {}
    for app in appset.apps.values():
        for name, profile in app.imports.items():
            targets = [t for t in (profile.entity, profile.statement_entity) if t]
            if all(allowed(appset.entity(t), "create") for t in targets):
                found[f"{app.name}.{name}"] = profile
    return found


def _profile(key: str) -> ImportProfile:
    profiles = _profiles()
    if key not in profiles:
        known = {f"{a.name}.{n}" for a in formwork().appset.apps.values() for n in a.imports}
        abort(403 if key in known else 404)
    return profiles[key]


def _folder() -> Path:
    folder = Path(tempfile.gettempdir()) / UPLOADS
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _sweep() -> None:
    """Remove uploads previewed but never imported, a day on."""
    cutoff = time.time() - KEEP_SECONDS
    for path in _folder().iterdir():
        with contextlib.suppress(OSError):  # another worker swept it first
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _upload() -> tuple[Path, dict] | None:
    """The file this user uploaded for the preview they are looking at, if it is still there."""
    kept = session.get(SESSION_KEY)
    token = request.form.get("token", "")
    if not kept or not token or not secrets.compare_digest(kept.get("token", ""), token):
        return None
    path = _folder() / kept["token"]
    return (path, kept) if path.is_file() else None


@bp.get("/")
def index():
    return render_template("imports/index.html", profiles=_profiles())


@bp.post("/preview")
def preview():
    key = request.form.get("profile", "")
    profile = _profile(key)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template(
            "imports/index.html", profiles=_profiles(), chosen=key,
            error=_("Choose the statement file to import."),
        ), 422  # fmt: skip
    _sweep()
    token = secrets.token_urlsafe(24)
    path = _folder() / token
    with path.open("wb") as out:
        shutil.copyfileobj(upload.stream, out)
    _forget()
    name = Path(upload.filename).name
    session[SESSION_KEY] = {"token": token, "name": name, "profile": key}
    return _run(profile, key, path, name, token, dry_run=True)


@bp.post("/run")
def run():
    found = _upload()
    if found is None:
        flash(_("That upload is gone: upload the file again."), "error")
        return redirect(url_for("imports.index"))
    path, kept = found
    profile = _profile(kept["profile"])
    return _run(profile, kept["profile"], path, kept["name"], kept["token"], dry_run=False)


def _run(profile: ImportProfile, key: str, path: Path, name: str, token: str, dry_run: bool):
    repo = repository()
    try:
        result = import_file(repo, profile, path, name=name, dry_run=dry_run)
    except ImportFailed as exc:
        _forget()
        page = render_template("imports/preview.html", key=key, profile=profile, name=name,
                               errors=exc.errors, result=None, token=None)  # fmt: skip
        return page, 422
    except PermissionDenied:
        _forget()
        abort(403)
    except FormworkError as exc:
        _forget()
        return render_template(
            "imports/index.html", profiles=_profiles(), chosen=key, error=str(exc)
        ), 422  # fmt: skip
    if not dry_run:
        _forget()
        flash(_("Imported %(file)s: %(created)s new bank lines, %(skipped)s already imported.",
                file=name, created=result.created, skipped=result.skipped), "success")  # fmt: skip
    columns, rows = _preview(repo, profile, result.preview)
    return render_template(
        "imports/preview.html", key=key, profile=profile, name=name, errors=[], result=result,
        token=token if dry_run else None, columns=columns, rows=rows,
    )  # fmt: skip


def _preview(repo, profile: ImportProfile, lines: list[dict]):
    """The first lines as the list pages show values: the fields a clerk checks, formatted
    for the reader's locale; (label, numeric) per column and (line, cells) per line."""
    entity = repo.entity(profile.entity)
    present = {k for line in lines for k, v in line.items() if v is not None}
    fields = [entity.fields[n] for n in PREVIEW_FIELDS if n in entity.fields and n in present]
    columns = [(f.label, f.value_type.numeric) for f in fields]
    rows = [
        (line.get("line"), [
            f.value_type.format(line[f.name], f, locale()) if line.get(f.name) is not None
            else "" for f in fields
        ])
        for line in lines
    ]  # fmt: skip
    return columns, rows


def _forget() -> None:
    """Remove the previous upload of this user, if any."""
    kept = session.pop(SESSION_KEY, None)
    if kept and kept.get("token"):
        (_folder() / kept["token"]).unlink(missing_ok=True)
