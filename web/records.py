"""List, detail, create, edit and delete pages for every entity of every app.

Views only translate: query strings into filters, form text into engine.forms, and
Repository results and errors into pages. Rules and validation live in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError

from engine.appdef import Entity, Field, Relation
from engine.errors import Conflict, NotFound, PermissionDenied, StaleVersion, ValidationError
from engine.fieldtypes import FIELD_TYPES
from engine.forms import (
    TEXT_SUFFIX,
    audit_changes,
    error_sentence,
    filter_args,
    filter_controls,
    filters_from_args,
    form_spec,
    initial_values,
    parse_form,
    record_values,
)
from engine.i18n import N_
from engine.storage import Filter, Page, Repository
from web.context import allowed, entity_or_404, formwork, repository, require
from web.i18n import _, locale, noun

bp = Blueprint("records", __name__)

COUNT_CAP = 10_000
LOOKUP_LIMIT = 20
RELATED_LIMIT = 20
HISTORY_LIMIT = 50
MAX_ID = 2**63 - 1
MAX_PAGE = 1_000_000
OP_TEXT = {
    "eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "contains": N_("contains"),
    "startswith": N_("starts with"), "in": N_("is one of"), "isnull": N_("is empty"),
}  # fmt: skip


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None
    numeric: bool = False


# -- helpers --------------------------------------------------------------------------------


def _entity(app: str, name: str, action: str) -> Entity:
    entity = entity_or_404(app, name)
    require(entity, action)
    return entity


def _target(qualname: str) -> Entity:
    return formwork().appset.entity(qualname)


def _record(repo: Repository, entity: Entity, record_id: int) -> dict[str, Any]:
    record = repo.get(entity, record_id) if record_id <= MAX_ID else None
    if record is None:
        abort(404, _("%(entity)s #%(id)s does not exist.", entity=entity.label, id=record_id))
    return record


def _url(endpoint: str, entity: Entity, params: dict[str, Any] | None = None, **kw: Any) -> str:
    """A record page's URL; query parameters apart, so a field named like a view argument
    ("app", "entity") can never collide with one."""
    url = url_for(f"records.{endpoint}", app=entity.app, entity=entity.name, **kw)
    return f"{url}?{urlencode(params, doseq=True)}" if params else url


def _url_with(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    return f"{request.path}?{urlencode(args, doseq=True)}" if args else request.path


def _int(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


MAX_VERSION = 2**31 - 1  # the version column is an INTEGER
NO_VERSION = N_(
    "this form did not say which version of the record it changes, so nothing was saved; "
    "check the values below against the record as it is now and save again"
)
NO_VERSION_DELETE = N_(
    "this form did not say which version of the record it deletes, so nothing was deleted; "
    "check the record below and confirm again"
)


def _form_version(form: Any) -> int | None:
    """The record version a posted form was based on, or None when it is missing or garbage:
    without it the stale-version check cannot run, so the write must be refused."""
    text = (form.get("version") or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None  # the page wrote ASCII digits; anything else did not come from it
    return int(text) if 0 < int(text) <= MAX_VERSION else None


def _id(text: Any) -> int | None:
    """A record id from user text, or None: the database refuses ids beyond BIGINT."""
    number = _int(text)
    return number if number is not None and 0 < number <= MAX_ID else None


def _messages(entity: Entity, errors: dict[str, str]) -> list[str]:
    return [error_sentence(entity, key, message) for key, message in errors.items()]


def _filter_messages(entity: Entity, errors: dict[str, str]) -> list[str]:
    """A filter's message names the field: "Amount: 'abc' is not a number"."""
    return [
        _("%(label)s: %(message)s", label=entity.fields[key].label, message=message)
        if key in entity.fields
        else error_sentence(entity, key, message)
        for key, message in errors.items()
    ]


def _cells(
    repo: Repository, entity: Entity, rows: list[dict[str, Any]], names: list[str]
) -> list[list[Cell]]:
    """Display cells of rows; each ref column costs one `labels` call, whatever the row count."""
    labels = {
        name: repo.labels(entity.fields[name].ref, (r.get(name) for r in rows))
        for name in names
        if name in entity.fields and entity.fields[name].ref
    }
    return [
        [_cell(entity, name, row.get(name), labels.get(name)) for name in names] for row in rows
    ]


def _cell(entity: Entity, name: str, value: Any, labels: dict[int, str] | None) -> Cell:
    if name == "id":
        return Cell(f"#{value}", numeric=True)
    field = entity.fields[name]
    if field.ref:
        if value is None:
            return Cell("")
        target = _target(field.ref)
        href = _url("detail", target, record_id=value) if allowed(target, "read") else None
        return Cell((labels or {}).get(value, f"#{value}"), href)
    vtype = field.value_type
    return Cell(_format(field, value), vtype.link(value), numeric=vtype.numeric)


def _format(field: Field, value: Any) -> str:
    return field.value_type.format(value, field, locale())


# -- list -----------------------------------------------------------------------------------


@bp.route("/<app>/<entity>/")
def list_records(app: str, entity: str):
    ent = _entity(app, entity, "read")
    repo = repository()
    args = list(request.args.items(multi=True))
    filters = filters_from_args(args)
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", "").strip()
    page_no = min(max(1, _int(request.args.get("page")) or 1), MAX_PAGE)
    errors: list[str] = []
    try:
        page = repo.query(
            ent,
            filters,
            search=search or None,
            sort=sort or None,
            limit=ent.page_size,
            offset=(page_no - 1) * ent.page_size,
        )
    except ValidationError as exc:
        errors = _filter_messages(ent, exc.errors)
        page = Page([], 0, ent.page_size, False)
    columns = list(ent.list_columns)
    rows = list(zip(page.rows, _cells(repo, ent, page.rows, columns), strict=True))
    controls, extra = _filter_bar(repo, ent, filters)
    keep = filter_args(args)
    return render_template(
        "records/list.html",
        entity=ent,
        columns=_headers(repo, ent, columns, sort),
        rows=rows,
        page=page,
        page_no=page_no,
        prev_url=_url_with(page=page_no - 1 if page_no > 2 else None) if page_no > 1 else None,
        next_url=_url_with(page=page_no + 1) if page.has_more else None,
        search=search,
        searchable=repo.searchable(ent),
        sort=sort,
        controls=controls,
        extra_filters=extra,
        errors=errors,
        filtered=bool(keep or search),
        count_url=None if errors else _url("count_records", ent, {**keep, **_q(search)}),
        id_column=bool(columns) and _is_ref(ent, columns[0]),
        can_create=allowed(ent, "create"),
        new_url=_url("new_record", ent, _prefill(ent, filters)),
    ), (400 if errors else 200)


def _is_ref(entity: Entity, name: str) -> bool:
    return name in entity.fields and entity.fields[name].ref is not None


def _q(search: str) -> dict[str, str]:
    return {"q": search} if search else {}


def _prefill(entity: Entity, filters: list[Filter]) -> dict[str, str]:
    """A list filtered by `customer=3` offers to create a record of that customer."""
    return {
        f.field: str(f.value)
        for f in filters
        if f.op == "eq" and f.field in entity.fields and entity.fields[f.field].editable
    }


def _headers(
    repo: Repository, entity: Entity, columns: list[str], sort: str
) -> list[dict[str, Any]]:
    try:
        current = repo.sort_order(entity, sort or None)[0]
    except ValidationError:
        current = entity.default_sort[0]
    headers = []
    for name in columns:
        field = entity.fields.get(name)
        state = None
        if current[0] == name:
            state = "descending" if current[1] else "ascending"
        next_sort = f"-{name}" if state == "ascending" else name
        headers.append(
            {
                "name": name,
                "label": field.label if field else "#",
                "numeric": bool(field and field.value_type.numeric),
                "sort": state,
                "url": _url_with(sort=next_sort, page=None),
            }
        )
    return headers


def _filter_bar(
    repo: Repository, entity: Entity, filters: list[Filter]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The list's filter controls with their current values, and the other active filters."""
    controls = []
    used: set[str] = set()
    for control in filter_controls(entity):
        used.update(control.params)
        values = {p: request.args.get(p, "") for p in control.params}
        item: dict[str, Any] = {"control": control, "values": values}
        if control.kind == "ref":
            assert control.ref is not None
            target = _target(control.ref)
            if not repo.can(target, "read"):
                used.difference_update(control.params)  # shown as an active filter, by id
                continue  # no picker of records the user may not read
            item["options"] = _ref_options(repo, target)
            chosen = _id(values[control.field])
            item["label"] = repo.labels(target, [chosen]).get(chosen, "") if chosen else ""
            item["lookup"] = _url("lookup", target)
            item["target"] = target
        controls.append(item)
    extra = []
    for flt in filters:
        key = flt.field if flt.op == "eq" else f"{flt.field}__{flt.op}"
        if key in used:
            continue
        field = entity.fields.get(flt.field)
        text = str(flt.value)
        chosen = _id(flt.value)
        if field is not None and field.ref and flt.op == "eq" and chosen:
            text = repo.labels(field.ref, [chosen]).get(chosen, f"#{chosen}")
        elif field is not None and field.options and flt.op in ("eq", "ne"):
            text = field.option_label(text)
        label = field.label if field else flt.field
        extra.append(
            {
                "key": key,
                "value": str(flt.value),
                "text": _(
                    "%(field)s %(op)s %(value)s",
                    field=label,
                    op=OP_TEXT.get(flt.op, flt.op),
                    value=text,
                ),
                "remove_url": _url_with(**{key: None, "page": None}),
            }
        )
    return controls, extra


def _ref_options(repo: Repository, target: Entity) -> list[tuple[int, str]] | None:
    """Every record of a small table as (id, label), sorted by label; None when it is large."""
    cache: dict[str, Any] = g.setdefault("ref_options", {})
    if target.qualname not in cache:
        limit = int(current_app.config.get("REF_SELECT_MAX", 200))
        options = None
        if limit > 0:
            page = repo.query(target, limit=limit)
            if not page.has_more:
                labels = repo.labels(target, [r["id"] for r in page.rows])
                options = sorted(labels.items(), key=lambda item: (item[1].casefold(), item[0]))
        cache[target.qualname] = options
    return cache[target.qualname]


@bp.route("/<app>/<entity>/count")
def count_records(app: str, entity: str):
    """The total for a list, fetched after the page shows: counting can be slow, paging not."""
    ent = _entity(app, entity, "read")
    filters = filters_from_args(request.args.items(multi=True))
    search = request.args.get("q", "").strip() or None
    try:
        count = repository().count(ent, filters, search=search, cap=COUNT_CAP)
    except ValidationError as exc:
        return jsonify(error="; ".join(_filter_messages(ent, exc.errors)), fields=exc.errors), 400
    return jsonify(count=min(count, COUNT_CAP), capped=count > COUNT_CAP)


@bp.route("/<app>/<entity>/lookup")
def lookup(app: str, entity: str):
    """Records whose search fields contain `q`, for searchable ref inputs: [{id, label}]."""
    ent = _entity(app, entity, "read")
    repo = repository()
    search = request.args.get("q", "").strip()
    page = repo.query(ent, search=search or None, limit=LOOKUP_LIMIT)
    labels = repo.labels(ent, [r["id"] for r in page.rows])
    return jsonify(
        [{"id": r["id"], "label": labels.get(r["id"], f"#{r['id']}")} for r in page.rows]
    )


# -- detail ---------------------------------------------------------------------------------


@bp.route("/<app>/<entity>/<int:record_id>")
def detail(app: str, entity: str, record_id: int):
    ent = _entity(app, entity, "read")
    repo = repository()
    record = _record(repo, ent, record_id)
    spec = form_spec(ent, editing=True)
    names = [f.name for f in spec.fields()]
    cells = dict(zip(names, _cells(repo, ent, [record], names)[0], strict=True))
    return render_template(
        "records/detail.html",
        entity=ent,
        record=record,
        title=repo.display(ent, record),
        spec=spec,
        cells=cells,
        related=[
            _related(repo, relation, record_id)
            for relation in ent.relations
            if allowed(_target(relation.child), "read")
        ],
        history=_history(repo, ent, record_id),
        can_update=allowed(ent, "update"),
        can_delete=allowed(ent, "delete"),
    )


def _related(repo: Repository, relation: Relation, record_id: int) -> dict[str, Any]:
    child = _target(relation.child)
    columns = [c for c in child.list_columns if c != relation.field][:6]
    page = repo.query(child, [Filter(relation.field, "eq", record_id)], limit=RELATED_LIMIT)
    title = child.plural
    if relation.name != child.name:
        title = _(
            "%(records)s (as %(field)s)",
            records=child.plural,
            field=noun(child.fields[relation.field].label),
        )
    return {
        "entity": child,
        "title": title,
        "columns": [child.fields[c].label if c in child.fields else "#" for c in columns],
        "numeric": [c in child.fields and child.fields[c].value_type.numeric for c in columns],
        "rows": list(zip(page.rows, _cells(repo, child, page.rows, columns), strict=True)),
        "has_more": page.has_more,
        "id_column": bool(columns) and _is_ref(child, columns[0]),
        "list_url": _url("list_records", child, {relation.field: record_id}),
        "new_url": _url("new_record", child, {relation.field: record_id})
        if allowed(child, "create")
        else None,
    }


def _history(repo: Repository, entity: Entity, record_id: int) -> list[dict[str, Any]]:
    entries = repo.history(entity, record_id, limit=HISTORY_LIMIT)
    changes = [audit_changes(entity, e.get("before"), e.get("after")) for e in entries]
    ref_ids: dict[str, set[int]] = {}
    for items in changes:
        for name, old, new in items:
            if entity.fields[name].ref:
                ref_ids.setdefault(name, set()).update(v for v in (old, new) if isinstance(v, int))
    labels = {n: repo.labels(entity.fields[n].ref, ids) for n, ids in ref_ids.items()}

    def show(name: str, value: Any) -> str:
        if value is None or value == "":
            return "—"
        if name in labels:
            return labels[name].get(value, f"#{value}")
        return _format(entity.fields[name], value) or "—"

    out = []
    for entry, items in zip(entries, changes, strict=True):
        shown = [] if entry["action"] == "create" else items
        out.append(
            {
                "at": entry["at"],
                "user": entry.get("user") or _("the system"),
                "action": entry["action"],
                "changes": [
                    (entity.fields[n].label, show(n, old), show(n, new)) for n, old, new in shown
                ],
            }
        )
    return out


# -- create and edit ------------------------------------------------------------------------


@bp.route("/<app>/<entity>/new", methods=["GET", "POST"])
def new_record(app: str, entity: str):
    ent = _entity(app, entity, "create")
    repo = repository()
    if request.method == "GET":
        return _render_form(repo, ent, None, initial_values(ent, request.args), {})
    values, errors = parse_form(ent, request.form, locale())
    if not errors:
        try:
            record = repo.create(ent, values)
        except ValidationError as exc:
            errors = exc.errors
        except Conflict as exc:  # a concurrent write took a unique value or the lock
            return _render_form(repo, ent, None, request.form, exc.errors), 409
        else:
            flash(
                _(
                    "%(entity)s %(record)s was created.",
                    entity=ent.label,
                    record=repo.display(ent, record),
                ),
                "success",
            )
            return redirect(_url("detail", ent, record_id=record["id"]))
    return _render_form(repo, ent, None, request.form, errors), 422


@bp.route("/<app>/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
def edit_record(app: str, entity: str, record_id: int):
    ent = _entity(app, entity, "update")
    repo = repository()
    record = _record(repo, ent, record_id)
    if request.method == "GET":
        texts = record_values(ent, record)
        return _render_form(repo, ent, record, texts, {}, version=record["version"])
    values, errors = parse_form(ent, request.form, locale(), editing=True)
    version = _form_version(request.form)
    if version is None:
        errors = {"": NO_VERSION, **errors}
        return _render_form(repo, ent, record, request.form, errors, version=record["version"]), 400
    if not errors:
        try:
            saved = repo.update(ent, record_id, values, version=version)
        except ValidationError as exc:
            errors = exc.errors
        except StaleVersion:
            current = _record(repo, ent, record_id)
            conflict = _conflict(repo, ent, current, values)
            return _render_form(
                repo, ent, current, request.form, {}, version=current["version"], conflict=conflict
            ), 409
        except NotFound:
            abort(
                404, _("%(entity)s #%(id)s was deleted meanwhile.", entity=ent.label, id=record_id)
            )
        except Conflict as exc:
            form = _render_form(repo, ent, record, request.form, exc.errors, version=version)
            return form, 409
        else:
            flash(
                _(
                    "%(entity)s %(record)s was saved.",
                    entity=ent.label,
                    record=repo.display(ent, saved),
                ),
                "success",
            )
            return redirect(_url("detail", ent, record_id=record_id))
    return _render_form(repo, ent, record, request.form, errors, version=version), 422


def _conflict(
    repo: Repository, entity: Entity, current: dict[str, Any], values: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(label, saved now, yours) for each field where the stored record differs from the form."""
    names = [n for n, v in values.items() if current.get(n) != v]
    saved = _cells(repo, entity, [current], names)[0] if names else []
    yours = _cells(repo, entity, [values], names)[0] if names else []
    return [
        (entity.fields[n].label, s.text or "—", y.text or "—")
        for n, s, y in zip(names, saved, yours, strict=True)
    ]


def _render_form(
    repo: Repository,
    entity: Entity,
    record: dict[str, Any] | None,
    texts: Any,
    errors: dict[str, str],
    version: int | None = None,
    conflict: list[tuple[str, str, str]] | None = None,
) -> str:
    spec = form_spec(entity, editing=record is not None)
    refs: dict[str, dict[str, Any]] = {}
    for field in spec.inputs:
        if field.ref:
            target = _target(field.ref)
            chosen = _id(texts.get(field.name))
            if not repo.can(target, "read"):
                # Not a picker: the user may not read the target, so it cannot be chosen;
                # a ref already set stays as it is and shows as its id.
                refs[field.name] = {"closed": True, "label": f"#{chosen}" if chosen else "—"}
                continue
            options = _ref_options(repo, target)
            typed = texts.get(field.name + TEXT_SUFFIX)
            label = typed if typed is not None else ""
            if typed is None and chosen:
                label = repo.labels(target, [chosen]).get(chosen, f"#{chosen}")
            refs[field.name] = {
                "options": options,
                "label": label,
                "lookup": _url("lookup", target),
                "target": target,
            }
    shown: dict[str, Cell] = {}
    if record is not None:
        names = [f.name for f in spec.fields() if f.readonly]
        shown = dict(zip(names, _cells(repo, entity, [record], names)[0], strict=True))
    field_errors = {k: error_sentence(entity, k, v) for k, v in errors.items()}
    in_form = {f.name for f in spec.inputs}
    summary = [(f"f-{k}" if k in in_form else None, m) for k, m in field_errors.items()]
    order = {f.name: i for i, f in enumerate(spec.fields())}
    summary.sort(key=lambda s: order.get((s[0] or "")[2:], -1))
    record_title = repo.display(entity, record) if record is not None else None
    if record is None:
        action, cancel = _url("new_record", entity), _url("list_records", entity)
        title = _("New %(entity)s", entity=noun(entity.label))
    else:
        action = _url("edit_record", entity, record_id=record["id"])
        cancel = _url("detail", entity, record_id=record["id"])
        title = _("Edit %(entity)s %(record)s", entity=noun(entity.label), record=record_title)
    return render_template(
        "records/form.html",
        entity=entity,
        record=record,
        spec=spec,
        texts=texts,
        errors=field_errors,
        summary=summary,
        refs=refs,
        shown=shown,
        version=version,
        conflict=conflict,
        action=action,
        cancel=cancel,
        title=title,
        record_title=record_title,
    )


# -- delete ---------------------------------------------------------------------------------


@bp.route("/<app>/<entity>/<int:record_id>/delete", methods=["GET", "POST"])
def delete_record(app: str, entity: str, record_id: int):
    ent = _entity(app, entity, "delete")
    repo = repository()
    record = _record(repo, ent, record_id)
    version = record["version"]
    errors: list[str] = []
    if request.method == "POST" and _form_version(request.form) is None:
        errors = [error_sentence(ent, "", NO_VERSION_DELETE)]
    elif request.method == "POST":
        try:
            repo.delete(ent, record_id, version=_form_version(request.form))
        except ValidationError as exc:
            errors = _messages(ent, exc.errors)
        except StaleVersion as exc:
            errors = [
                _(
                    "%(entity)s #%(id)s was changed by someone else (you saw version "
                    "%(expected)s, it is now at version %(actual)s). Check the record below, "
                    "then confirm again.",
                    entity=ent.label,
                    id=record_id,
                    expected=exc.expected,
                    actual=exc.actual,
                )
            ]
        except Conflict as exc:
            errors = _messages(ent, exc.errors)
        except NotFound:
            abort(
                404, _("%(entity)s #%(id)s was deleted meanwhile.", entity=ent.label, id=record_id)
            )
        else:
            flash(
                _(
                    "%(entity)s %(record)s was deleted.",
                    entity=ent.label,
                    record=repo.display(ent, record),
                ),
                "success",
            )
            return redirect(_url("list_records", ent))
    return render_template(
        "records/delete.html",
        entity=ent,
        record=record,
        title=repo.display(ent, record),
        version=version,
        errors=errors,
    ), (409 if errors else 200)


@bp.app_template_filter("when")
def when(value: Any) -> str:
    """A stored UTC time, to the minute, in the reader's locale."""
    return FIELD_TYPES["datetime"].format(value, None, locale())


# -- errors ---------------------------------------------------------------------------------

ERROR_TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
}


def _error_page(code: int, message: str):
    if request.path.startswith("/api/"):
        from web.api import json_error

        return json_error(code, message)
    return render_template(
        "error.html", code=code, title=ERROR_TITLES.get(code, N_("Error")), message=message
    ), code


@bp.app_errorhandler(403)
def forbidden(error):
    return _error_page(403, _("Your role may not do this. Ask an administrator if you need to."))


@bp.app_errorhandler(PermissionDenied)
def denied(error: PermissionDenied):
    """The engine refused: the same page as a 403 from a view, with the engine's reason."""
    reason = error.args[0] if error.args else str(error)  # a Message: the page translates it
    return _error_page(403, N_("Not allowed: %(reason)s.", reason=reason))


@bp.app_errorhandler(404)
def not_found(error):
    description = getattr(error, "description", "")
    if not description or description.startswith("The requested URL"):
        description = _("There is no such page or record. It may have been deleted.")
    return _error_page(404, description)


@bp.app_errorhandler(CSRFError)
def csrf_failed(error):
    return _error_page(
        400,
        _("The form had expired or came from elsewhere. Go back, reload the page and try again."),
    )
