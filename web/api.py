"""JSON API: the records of every entity over HTTP, as /api/openapi.json describes them.

Thin on purpose: each view turns a request into one Repository call and the
result into JSON, so validation, audit and record events happen in the engine.
Every answer under /api/ is JSON, errors included: `{"error": ..., "fields": {...}}`.

CSRF: this blueprint is exempt from Flask-WTF's form tokens, yet a browser session
also authenticates it. It stays safe because every write (POST, PUT, PATCH) is
refused with 415 unless its body is `application/json`: a cross-site HTML form can
only send urlencoded, multipart or text/plain bodies, and a cross-site `fetch()`
with a JSON body, or with PUT, PATCH or DELETE at all, needs a CORS preflight that
this app never grants, so the browser does not send it. Reads change nothing, and
the session cookie is SameSite=Lax besides.

Money leaves as strings ("100.50") and JSON numbers in request bodies are read as
Decimal, never float, so 0.1 stays 0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from engine.appdef import Entity
from engine.errors import Conflict, NotFound, PermissionDenied, StaleVersion, ValidationError
from engine.fieldtypes import json_value
from engine.openapi import (
    IF_MATCH_RE,
    LIST_PARAMS,
    MAX_BULK,
    MAX_ID,
    MAX_LIMIT,
    MAX_OFFSET,
    PREFIX,
    VERSION_MAX,
    body_problems,
    build_openapi,
    engine_accepts,
    key_problems,
    query_problems,
)
from engine.permissions import ACTIONS, can, require
from engine.storage import BulkValidationError, Filter, jsonable
from web.context import formwork, principal, repository

bp = Blueprint("api", __name__, url_prefix=PREFIX)
COUNT_CAP = 100_000


class ApiError(Exception):
    """An answer other than 2xx, raised anywhere in a view and rendered as JSON."""

    def __init__(self, status: int, message: str, fields: dict | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.fields, self.extra = status, message, fields, extra


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    text = json.dumps(body, default=_json_default)  # ASCII-escaped: any text encodes
    return current_app.response_class(
        text, status=status, headers=headers, mimetype="application/json"
    )


def _json_default(value: Any) -> Any:
    encoded = json_value(value)
    if encoded is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return encoded


def json_error(status: int, message: str, fields: dict | None = None, **extra: Any) -> Response:
    """The one error format; `fields` maps a field (or parameter) name to its problem."""
    body = {"error": message, "fields": {k: v for k, v in (fields or {}).items() if k}, **extra}
    return json_response(body, status)


# -- request helpers ------------------------------------------------------------------------


def _entity(app: str, name: str, action: str) -> Entity:
    """The entity, or 404; then 403 unless the user's role may do `action` to it."""
    try:
        entity = formwork().appset.entity(f"{app}.{name}")
    except NotFound:
        raise ApiError(404, f"there is no entity {app}.{name}") from None
    require(principal(), entity, action)  # PermissionDenied: 403, the same for every id
    return entity


def _check_id(entity: Entity, record_id: int) -> None:
    if record_id > MAX_ID:  # beyond BIGINT: no query needed, and none could run
        raise ApiError(404, f"{entity.label} #{record_id} does not exist")


def _missing(entity: Entity, record_id: int) -> NoReturn:
    raise ApiError(404, f"{entity.label} #{record_id} does not exist")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_text(value: Any) -> None:
    """Refuse lone surrogates ("\\ud800"): no database can store them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "the body holds text that is not valid Unicode") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _body() -> dict[str, Any]:
    """The JSON object of a write; numbers are read as Decimal so that money stays exact."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(
            415,
            f"send the record as JSON (Content-Type: application/json, not {mimetype or 'none'})",
        )
    try:
        body = json.loads(
            request.get_data(cache=True), parse_float=Decimal, parse_constant=_no_constant
        )
        _check_text(body)
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply") from None
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers of thousands of digits
        reason = str(exc).split(";")[0]
        raise ApiError(400, f"the body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object of field names and values")
    return body


def _checked_args(entity: Entity) -> None:
    """Every documented query parameter has a value its schema allows, else 422."""
    problems = query_problems(entity, request.args)
    if problems:
        name, problem = next(iter(problems.items()))
        raise ApiError(422, f"{name} {problem}", problems)


IF_MATCH_TAG = re.compile(IF_MATCH_RE.removeprefix("^").removesuffix("$"))


def _parse_version(raw: Any) -> int:
    """A version from the body (a JSON number) or the query string (its digits), as
    VERSION_IN types it."""
    if isinstance(raw, bool):
        raw = None
    elif isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        raw = int(raw) if raw.adjusted() < 18 else None  # 1e999999999 would build a huge int
    elif isinstance(raw, str):  # from the query string
        raw = int(raw) if re.fullmatch("[0-9]{1,18}", raw) else None
    if not isinstance(raw, int) or not 1 <= raw <= VERSION_MAX:
        message = f"must be the record's version, a whole number from 1 to {VERSION_MAX}"
        raise ApiError(422, f"version {message}", {"version": message})
    return raw


def _version(body: dict[str, Any] | None, record_exists: Callable[[], None]) -> int | None:
    """The version the write is based on, from the body, If-Match or ?version=.

    `If-Match: *` deliberately overrides the check (None); naming none at all is 428.
    Two that disagree cannot both be the record's version: that is stale, 409.
    """
    given: list[int] = []
    if body is not None and "version" in body:
        version = body.pop("version")
        given.append(_parse_version(None if isinstance(version, str) else version))
    if body is None and "version" in request.args:
        given.append(_parse_version(request.args["version"]))  # text, as any query value
    header = request.headers.get("If-Match")
    if header is not None:
        tag = IF_MATCH_TAG.fullmatch(header)
        if tag is None:
            message = "must be the record's version, a whole number from 1"
            raise ApiError(400, f'If-Match {message}, in quotes: "3"', {"version": message})
        if header == "*":
            return None
        given.append(int(tag.group(3) or tag.group(4)))
    if len(set(given)) > 1:
        record_exists()
        message = "the versions sent disagree: at most one of them is the record's"
        raise ApiError(409, message, {"version": "sent twice, differently"})
    if not given:
        record_exists()  # 404 before 428 for a record that is not there anyway
        raise ApiError(
            428,
            "name the version you read: 'version' in the body, If-Match: \"<version>\""
            " or ?version=<version>",
            {"version": "is required"},
        )
    return given[0]


def _apps() -> Any:
    return formwork().appset


def _checked(entity: Entity, body: dict[str, Any], kind: str) -> dict[str, Any]:
    """The body, once every key and value in it fits the document's write schema (else 422)."""
    problems = key_problems(_apps(), entity, body, kind) | body_problems(_apps(), entity, body)
    if problems:
        name, problem = next(iter(problems.items()))
        raise ApiError(422, f"{name}: {problem}", problems)
    return body


def _refused(entity: Entity, body: dict[str, Any], errors: dict[str, str]) -> int:
    """The status of a write the Repository refused although the body fits the document:
    422 when a value is wrong in itself (the field type refuses it: the document is the
    looser), else 409, a conflict with stored records or the app's rules (a unique value
    taken, a referenced record missing, a check of the definitions)."""
    for name in errors:
        field = entity.fields.get(name)
        if field is not None and name in body and not engine_accepts(field, body[name]):
            return 422
    return 409


def _etag(row: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{row["version"]}"'}


def _record_url(entity: Entity, record_id: int) -> str:
    return url_for(
        "api.get_record", app=entity.app, entity=entity.name, record_id=record_id, _external=True
    )


# -- routes ---------------------------------------------------------------------------------


@bp.get("/")
def index():
    """Apps and the entities this user may read, with their URLs."""
    user = principal()
    apps = []
    for app in formwork().appset.apps.values():
        entities = [
            {
                "name": e.name,
                "label": e.label,
                "url": url_for("api.list_records", app=app.name, entity=e.name, _external=True),
                "allowed": [a for a in ACTIONS if can(user, e, a)],
            }
            for e in app.entities.values()
            if can(user, e, "read")
        ]
        if entities:
            apps.append({"name": app.name, "title": app.title, "entities": entities})
    return json_response({"openapi": url_for("api.openapi", _external=True), "apps": apps})


@bp.get("/openapi.json")
def openapi():
    """The document as this user may use it: entities it may read, operations it may call."""
    user = principal()
    # The document depends on the version of the definitions (a hot reload makes new ones),
    # on the role and on which entities a scope names, not on the user; and the server's
    # URL (the Host header is the client's: the cache may not grow with it forever).
    version = formwork().version.id
    key = (user.role, tuple(sorted(user.scope or ())), request.url_root)
    cached = current_app.extensions.get("formwork_openapi")
    if cached is None or cached[0] != version or len(cached[1]) > 64:
        cached = current_app.extensions["formwork_openapi"] = (version, {})
    cache = cached[1]
    if key not in cache:
        doc = build_openapi(
            formwork().appset,
            session_cookie=current_app.config["SESSION_COOKIE_NAME"],
            principal=user,
            server_url=request.url_root,
        )
        cache[key] = json.dumps(doc)
    return current_app.response_class(cache[key], mimetype="application/json")


@bp.get("/<app>/<entity>")
def list_records(app: str, entity: str):
    ent = _entity(app, entity, "read")
    args = request.args
    for key, value in args.items(multi=True):
        if "\x00" in value:  # an undocumented one too: no query can hold it
            raise ApiError(422, f"{key} holds a NUL character", {key: "holds a NUL character"})
    _checked_args(ent)
    limit = int(args.get("limit") or min(ent.page_size, MAX_LIMIT))
    offset = int(args.get("offset") or 0)
    want_count = args.get("count") == "true"
    filters = [Filter.parse(k, v) for k, v in args.items(multi=True) if k not in LIST_PARAMS]
    search, sort = args.get("q") or None, args.get("sort") or None
    repo = repository()
    page = repo.query(ent, filters, search=search, sort=sort, limit=limit, offset=offset)
    next_url = None
    if page.has_more and offset + limit <= MAX_OFFSET:
        kept = [(k, v) for k, v in args.items(multi=True) if k not in ("offset", "count")]
        next_url = f"{request.base_url}?{urlencode([*kept, ('offset', offset + limit)])}"
    body: dict[str, Any] = {
        "data": [jsonable(r) for r in page.rows],
        "offset": page.offset,
        "limit": page.limit,
        "has_more": page.has_more,
        "next": next_url,
    }
    if want_count:
        total = repo.count(ent, filters, search=search, cap=COUNT_CAP)
        body["count"], body["count_capped"] = min(total, COUNT_CAP), total > COUNT_CAP
    return json_response(body)


@bp.get("/<app>/<entity>/<int:record_id>")
def get_record(app: str, entity: str, record_id: int):
    ent = _entity(app, entity, "read")
    _check_id(ent, record_id)
    row = repository().get(ent, record_id)
    if row is None:
        _missing(ent, record_id)
    return json_response(jsonable(row), headers=_etag(row))


@bp.post("/<app>/<entity>")
def create_record(app: str, entity: str):
    ent = _entity(app, entity, "create")
    repo = repository()
    body = _checked(ent, _body(), "create")
    try:
        row = repo.create(ent, body)
    except ValidationError as exc:
        raise ApiError(_refused(ent, body, exc.errors), str(exc), exc.errors) from None
    row = repo.get(ent, row["id"]) or row  # as stored: NUMERIC scale, database rounding
    headers = {"Location": _record_url(ent, row["id"]), **_etag(row)}
    return json_response(jsonable(row), 201, headers)


@bp.post("/<app>/<entity>/_bulk")
def bulk_create(app: str, entity: str):
    """Many records in one transaction: all of them, or none and every row's errors."""
    ent = _entity(app, entity, "create")
    body = _body()
    records = body.get("records")
    extra = sorted(set(body) - {"records"})
    if extra:
        raise ApiError(422, f"unknown key {extra[0]!r}", {extra[0]: "unknown key"})
    if not isinstance(records, list) or not records or len(records) > MAX_BULK:
        message = f"must be a list of 1 to {MAX_BULK} records"
        raise ApiError(422, f"records {message}", {"records": message})
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        rows = {str(i): {"": "must be a JSON object"} for i in bad}
        raise ApiError(422, f"record {bad[0]} is not a JSON object", rows=rows)
    problems = {
        str(i): p
        for i, r in enumerate(records)
        if (p := key_problems(_apps(), ent, r, "create") | body_problems(_apps(), ent, r))
    }
    if problems:
        raise ApiError(422, f"{len(problems)} records are invalid; none was written", rows=problems)
    try:
        ids = repository().bulk_create(ent, records)
    except BulkValidationError as exc:
        rows = {str(i): errors for i, errors in sorted(exc.rows.items())}
        refused = [_refused(ent, records[i], errors) for i, errors in exc.rows.items()]
        message = f"{len(rows)} records are invalid; none was written"
        raise ApiError(max(refused), message, rows=rows) from None
    except ValidationError as exc:  # of the records together (a parent's check)
        status = max(_refused(ent, record, exc.errors) for record in records)
        raise ApiError(status, str(exc), exc.errors) from None
    return json_response({"ids": ids}, 201)


@bp.route("/<app>/<entity>/<int:record_id>", methods=["PUT", "PATCH"])
def update_record(app: str, entity: str, record_id: int):
    """PATCH changes the fields sent; PUT replaces them all (fields left out are emptied)."""
    ent = _entity(app, entity, "update")
    _check_id(ent, record_id)
    body = _body()
    repo = repository()

    def exists() -> None:
        if repo.get(ent, record_id) is None:
            _missing(ent, record_id)

    version = _version(body, exists)
    # The document says what is sent for a computed field, or for one fixed once the record
    # is created, is ignored on update: it is, before any of it is read.
    fixed = {name for name, f in ent.fields.items() if not f.editable}
    body = {k: v for k, v in body.items() if k not in fixed}
    values = _checked(ent, body, "replace" if request.method == "PUT" else "patch")
    if request.method == "PUT":
        values = {f.name: None for f in ent.fields.values() if f.editable} | body
    try:
        row = repo.update(ent, record_id, values, version=version)
    except ValidationError as exc:
        raise ApiError(_refused(ent, body, exc.errors), str(exc), exc.errors) from None
    row = repo.get(ent, record_id) or row
    return json_response(jsonable(row), headers=_etag(row))


@bp.delete("/<app>/<entity>/<int:record_id>")
def delete_record(app: str, entity: str, record_id: int):
    ent = _entity(app, entity, "delete")
    _check_id(ent, record_id)
    repo = repository()

    def exists() -> None:
        if repo.get(ent, record_id) is None:
            _missing(ent, record_id)

    version = _version(None, exists)
    try:
        repo.delete(ent, record_id, version=version)
    except ValidationError as exc:  # still referred to: a conflict with other records
        raise ApiError(409, exc.errors.get("") or str(exc), exc.errors) from None
    return Response(status=204)


# -- errors: JSON, always -------------------------------------------------------------------


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return json_error(exc.status, exc.message, exc.fields, **exc.extra)


@bp.errorhandler(StaleVersion)
def _stale(exc: StaleVersion):
    return json_error(409, str(exc), {"version": "is stale"}, version=exc.actual)


@bp.errorhandler(BulkValidationError)
def _bulk_invalid(exc: BulkValidationError):
    rows = {str(i): errors for i, errors in sorted(exc.rows.items())}
    return json_error(422, f"{len(rows)} records are invalid; none was written", rows=rows)


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return json_error(422, str(exc), exc.errors)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return json_error(404, str(exc))


@bp.errorhandler(PermissionDenied)
def _denied(exc: PermissionDenied):
    return json_error(403, str(exc) or "your role may not do this")


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict):
    # A concurrent write took a unique value or held its lock too long: try again.
    return json_error(409, str(exc), exc.errors)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    response = json_error(exc.code or 500, exc.description or exc.name)
    for name in ("Allow", "Retry-After"):
        value = exc.get_response().headers.get(name)
        if value:
            response.headers[name] = value
    return response


@bp.errorhandler(Exception)
def _crash(exc: Exception):
    current_app.logger.exception("API request failed: %s %s", request.method, request.path)
    return json_error(500, "internal error; it has been logged")


@bp.after_app_request
def _json_errors_only(response: Response) -> Response:
    """Routing errors (404, 405) happen outside the blueprint: make them JSON too."""
    if not request.path.startswith(f"{PREFIX}/") or response.status_code < 400:
        return response
    if response.is_json:
        return response
    status = response.status_code
    message = f"{HTTP_STATUS_CODES.get(status, 'error').lower()}: {request.method} {request.path}"
    if status == 405 and response.allow:
        message += f" (allowed: {', '.join(sorted(response.allow))})"
    response.set_data(json.dumps({"error": message, "fields": {}}))
    response.mimetype = "application/json"
    return response
