"""The OpenAPI 3.1 document of the JSON API, built from the app definitions.

Pure: an AppSet in, a dict out. web/api.py serves it at /api/openapi.json and
implements exactly what it describes; the constants below are shared by both so
that the document and the routes cannot drift apart.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.appdef import AppSet, Entity, Field
from engine.fieldtypes import NOT_TEXT
from engine.i18n import message_of, plain
from engine.permissions import Principal, can
from engine.storage.query import OPERATORS

OPENAPI_VERSION = "3.1.0"
PREFIX = "/api"
MAX_LIMIT = 500
MAX_OFFSET = 2**53 - 1  # exact in JSON numbers, and far beyond any table
MAX_ID = 2**63 - 1  # BIGINT
MAX_BULK = 1000
LIST_PARAMS = ("q", "sort", "limit", "offset", "count")  # everything else is a filter
NAME_RE = r"[A-Za-z_][A-Za-z0-9_]*"
# What the API takes in If-Match: one version, quoted as an entity tag (or not), or `*`.
IF_MATCH_RE = r'^(\*|(W/)?"([1-9][0-9]{0,17})"|([1-9][0-9]{0,17}))$'
NO_NUL = "^[^\\x00]*$"  # PostgreSQL text cannot hold NUL, so the API refuses it
NOT_BLANK = f"[^{NOT_TEXT}]"  # a character str.strip() keeps; engines read `\\S` apart

ERROR_CODES = {
    "400": "Malformed JSON, a body that is not an object, or a bad If-Match header",
    "401": "Not logged in: send an API token (Bearer), HTTP Basic credentials or a session cookie",
    "403": "The user's role may not do this to this entity",
    "404": "No such app, entity or record",
    "409": (
        "Stale version (someone else changed the record, or the versions sent disagree); the"
        " record is still referred to; or values that each fit this document conflict with"
        " stored records or the app's rules: a unique value already taken, a referenced record"
        " that does not exist, a check of the definitions, more decimal places than the"
        " record's currency has"
    ),
    "413": "The request body is larger than the server takes (MAX_CONTENT_LENGTH)",
    "415": "Writes take a JSON body (Content-Type: application/json)",
    "422": (
        "A value (of the body or of a query parameter) that this document does not allow;"
        " `fields` names each and what is wrong with it"
    ),
    "428": "An update or delete must name the version it was based on",
    "429": "Too many failed log-ins for this user or address; wait for Retry-After seconds",
}

DESCRIPTION = """\
Records of every entity of the loaded app definitions.

* Send a personal API token, `Authorization: Bearer fwt_...` (made on the API tokens
  page or with `formwork token create USER`; it acts with its user's role), or HTTP
  Basic credentials, or use the session cookie of the web UI. Failed log-ins are
  throttled (429 with Retry-After).
* Money and decimals are strings ("100.50") so they stay exact; writes take a string
  or a JSON number (read as a decimal, never a float). Dates are ISO 8601.
* Updates and deletes name the version they were based on (`version` in the body,
  `If-Match: "3"`, or `?version=3` for deletes); a stale version answers 409.
* Lists filter with `field=value` or `field__op=value` (ops: eq ne lt lte gt gte
  contains startswith in isnull; `in` takes a comma-separated list), search with `q`,
  sort with `sort=-due_date,number`, and page with `limit` and `offset`; follow
  `next` until it is null. `count=true` adds a total (counted up to 100000).
* Errors are JSON: `{"error": message, "fields": {field: message}}`. A request this
  document forbids answers 422; one it allows but the stored records or the app's rules
  refuse (a unique value taken, a check of the definitions) answers 409.
"""


def _a(noun: str) -> str:
    """The noun with its article: "an invoice", "a customer" (summaries read as English)."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def entity_path(entity: Entity) -> str:
    return f"{PREFIX}/{entity.app}/{entity.name}"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _describe(appset: AppSet, field: Field) -> str:
    parts = [field.help] if field.help else []
    if field.ref:
        target = appset.entity(field.ref)
        parts.append(f"Id of a {target.label.lower()} record ({field.ref}).")
    vtype = field.value_type
    if vtype.takes_bounds and "minimum" not in vtype.schema_bounds(field):
        if field.min is not None:
            parts.append(f"At least {vtype.to_json(field.min)}.")
        if field.max is not None:
            parts.append(f"At most {vtype.to_json(field.max)}.")
    if field.computed:
        parts.append("Computed; what a client sends is ignored.")
    elif field.readonly:
        parts.append("Set when the record is created; fixed after that.")
    if field.unique:
        parts.append("Unique.")
    return " ".join(parts)


def field_schema(appset: AppSet, field: Field, writing: bool = False) -> dict[str, Any]:
    """The JSON Schema of one field's value, as read (or, with `writing`, as written)."""
    vtype = field.value_type
    schema = dict(vtype.json_schema(field, writing))
    schema.pop("readOnly", None)
    schema["title"] = field.label
    if writing and field.required and vtype.text_like and "enum" not in schema:
        schema.setdefault("minLength", 1)  # blank is the same as missing
        schema.setdefault("pattern", NOT_BLANK)  # and so is only spaces
    if writing and schema.get("type") == "string" and "enum" not in schema:
        schema["allOf"] = [*schema.get("allOf", []), {"pattern": NO_NUL}]  # no database takes it
    if field.default is not None and not writing:
        schema["default"] = vtype.to_json(field.default)
    description = _describe(appset, field)
    if description:
        schema["description"] = description
    if field.computed:
        schema["readOnly"] = True
    if field.computed or not field.required:
        schema = _nullable(schema)
    return schema


SYSTEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "readOnly": True},
    "version": {
        "type": "integer",
        "minimum": 1,
        "readOnly": True,
        "description": "Goes up by one with every change; send it back when you update.",
    },
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["string", "null"], "readOnly": True},
    "updated_by": {"type": ["string", "null"], "readOnly": True},
}
VERSION_MAX = 2**31 - 1
VERSION_IN = {
    "type": "integer",
    "minimum": 1,
    "maximum": VERSION_MAX,
    "description": "The version you read; may be sent in an If-Match header instead.",
}


# System fields, computed ones and (after creation) fixed ones may be sent back as read:
# the server ignores them, whatever their value.
IGNORED = {"description": "Ignored: the server sets this value, whatever is sent"}


def _needs_value(field: Field) -> bool:
    return field.required and field.default is None and field.default_expr is None


def entity_schemas(appset: AppSet, entity: Entity) -> dict[str, dict[str, Any]]:
    """The record as read, and the bodies of create, replace (PUT) and patch requests."""
    fields = list(entity.fields.values())
    record = {
        "type": "object",
        "title": entity.label,
        "properties": {
            **SYSTEM_SCHEMAS,
            **{f.name: field_schema(appset, f) for f in fields},
        },
        "required": [*SYSTEM_SCHEMAS, *(f.name for f in fields)],
        "additionalProperties": False,
    }
    if entity.description:
        record["description"] = entity.description
    creatable = [f for f in fields if not f.computed]
    editable = [f for f in fields if f.editable]
    computed = {f.name: IGNORED for f in fields if f.computed}
    fixed = {f.name: IGNORED for f in fields if not f.computed and not f.editable}
    system = {name: IGNORED for name in SYSTEM_SCHEMAS}
    create = {
        "type": "object",
        "title": f"New {entity.label.lower()}",
        "properties": {
            **system,
            **computed,
            **{f.name: field_schema(appset, f, writing=True) for f in creatable},
        },
        "required": [f.name for f in creatable if _needs_value(f)],
        "additionalProperties": False,
    }
    replace = {
        "type": "object",
        "title": f"{entity.label}, every editable field",
        "description": "Fields left out are emptied. Send the version here or in If-Match.",
        "properties": {
            **system,
            **computed,
            **fixed,
            "version": VERSION_IN,
            **{f.name: field_schema(appset, f, writing=True) for f in editable},
        },
        "required": [f.name for f in editable if f.required],
        "additionalProperties": False,
    }
    patch = {
        "type": "object",
        "title": f"Changes to {_a(entity.label.lower())}",
        "description": "Only the fields sent change. Send the version here or in If-Match.",
        "properties": {
            **system,
            **computed,
            **fixed,
            "version": VERSION_IN,
            **{f.name: field_schema(appset, f, writing=True) for f in editable},
        },
        "additionalProperties": False,
    }
    ref = {"$ref": f"#/components/schemas/{entity.qualname}"}
    page = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": ref},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "has_more": {"type": "boolean"},
            "next": {"type": ["string", "null"], "format": "uri"},
            "count": {"type": "integer", "minimum": 0},
            "count_capped": {"type": "boolean"},
        },
        "required": ["data", "offset", "limit", "has_more", "next"],
    }
    bulk = {
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BULK,
                "items": {"$ref": f"#/components/schemas/{entity.qualname}.create"},
            }
        },
        "required": ["records"],
        "additionalProperties": False,
    }
    name = entity.qualname
    return {
        name: record,
        f"{name}.create": create,
        f"{name}.replace": replace,
        f"{name}.patch": patch,
        f"{name}.page": page,
        f"{name}.bulk": bulk,
    }


def _param(
    name: str, where: str, schema: dict[str, Any], description: str = "", **kw: Any
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": schema, **kw}
    if description:
        param["description"] = description
    return param


def filter_ops(field: Field) -> tuple[str, ...]:
    """The operators documented for a field (the API takes all of OPERATORS)."""
    vtype = field.value_type
    ops = ["eq", "ne", "in", "isnull"]
    if vtype.orderable:
        ops += ["lt", "lte", "gt", "gte"]
    if vtype.text_like:
        ops += ["contains", "startswith"]
    return tuple(op for op in OPERATORS if op in ops)


def _query_value(schema: dict[str, Any], *forbidden: str) -> dict[str, Any]:
    """A value sent in the query string: text without NUL (and without `forbidden`)."""
    if schema.get("type") != "string":
        return schema
    rule = {"pattern": f"^[^\\x00{''.join(forbidden)}]*$"}
    return {**schema, "allOf": [*schema.get("allOf", []), rule]}


def filter_params(entity: Entity) -> list[dict[str, Any]]:
    params = []
    for field in entity.fields.values():
        value = field.value_type.json_schema(field, bounds=False)
        value.pop("readOnly", None)
        items = _query_value(value, ",")  # `in` splits its value at each comma
        value = _query_value(value)
        listed = " (a filter of the list page)" if field.name in entity.list_filters else ""
        for op in filter_ops(field):
            if op == "eq":
                name = field.name if field.name not in LIST_PARAMS else f"{field.name}__eq"
            else:
                name = f"{field.name}__{op}"
            schema: dict[str, Any] = value
            text = f"{field.label} {op.replace('_', ' ')} this value{listed}"
            extra: dict[str, Any] = {}
            if op == "in":
                schema = {"type": "array", "items": items}
                extra = {"style": "form", "explode": False}
                text = f"{field.label} is one of these comma-separated values{listed}"
            elif op == "isnull":
                schema = {"type": "boolean"}
                text = f"{field.label} is empty (true) or filled (false){listed}"
            elif op in ("contains", "startswith"):
                schema = {"type": "string", "pattern": NO_NUL}
            params.append(_param(name, "query", schema, text, **extra))
    return params


def list_params(entity: Entity) -> list[dict[str, Any]]:
    sortable = ", ".join(["id", *entity.fields])
    default_sort = ",".join(("-" if desc else "") + name for name, desc in entity.default_sort)
    search = ", ".join(entity.search) or "the text fields"
    names = "|".join(["id", *entity.fields])
    sort_re = rf"^-?(?:{names})(,-?(?:{names}))*$"
    return [
        _param(
            "q",
            "query",
            {"type": "string", "pattern": NO_NUL},
            f"Search {search} (case-insensitive)",
        ),
        _param(
            "sort",
            "query",
            {"type": "string", "pattern": sort_re, "default": default_sort},
            f"Comma-separated fields, '-' for descending; any of: {sortable}",
        ),
        _param(
            "limit",
            "query",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": min(entity.page_size, MAX_LIMIT),
            },
            "Records per page",
        ),
        _param(
            "offset",
            "query",
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            "Records to skip; follow `next` rather than counting",
        ),
        _param(
            "count",
            "query",
            {"type": "boolean", "default": False},
            "Add the number of matching records (capped at 100000)",
        ),
        *filter_params(entity),
    ]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {"$ref": f"#/components/responses/Error{code}"} for code in ("401", *codes, "429")
    }


ETAG = {
    "ETag": {
        "description": 'The record\'s version as an entity tag, e.g. "3"',
        "schema": {"type": "string"},
    }
}
IF_MATCH = _param(
    "If-Match",
    "header",
    {"type": "string", "pattern": IF_MATCH_RE},
    'The version the change is based on, e.g. "3" (or the version in the body); `*` for'
    " whatever the version is",
)


def entity_paths(entity: Entity) -> dict[str, dict[str, Any]]:
    name, label = entity.qualname, entity.label.lower()
    a_label = _a(label)
    ident = f"{entity.app}_{entity.name}"
    schema = f"#/components/schemas/{name}"
    record = {"$ref": schema}
    tags = [name]
    id_param = _param(
        "id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, required=True
    )

    def body(suffix: str) -> dict[str, Any]:
        return {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"{schema}.{suffix}"}}},
        }

    def one(description: str, status: str = "200", **extra: Any) -> dict[str, Any]:
        return {status: {**_json(record, description), "headers": ETAG, **extra}}

    collection = {
        "get": {
            "operationId": f"list_{ident}",
            "summary": f"List {entity.plural.lower()}",
            "tags": tags,
            "parameters": list_params(entity),
            "responses": {
                "200": _json({"$ref": f"{schema}.page"}, "One page of records"),
                **_errors("403", "404", "422"),
            },
        },
        "post": {
            "operationId": f"create_{ident}",
            "summary": f"Create {a_label}",
            "tags": tags,
            "requestBody": body("create"),
            "responses": {
                **one(
                    "The new record",
                    "201",
                    headers={
                        **ETAG,
                        "Location": {"description": "its URL", "schema": {"type": "string"}},
                    },
                ),
                **_errors("400", "403", "404", "409", "413", "415", "422"),
            },
        },
    }
    item = {
        "parameters": [id_param],
        "get": {
            "operationId": f"get_{ident}",
            "summary": f"Read {a_label}",
            "tags": tags,
            "responses": {**one("The record"), **_errors("403", "404")},
        },
        "put": {
            "operationId": f"replace_{ident}",
            "summary": f"Replace every editable field of {a_label}",
            "tags": tags,
            "parameters": [IF_MATCH],
            "requestBody": body("replace"),
            "responses": {
                **one("The record as stored"),
                **_errors("400", "403", "404", "409", "413", "415", "422", "428"),
            },
        },
        "patch": {
            "operationId": f"update_{ident}",
            "summary": f"Change some fields of {a_label}",
            "tags": tags,
            "parameters": [IF_MATCH],
            "requestBody": body("patch"),
            "responses": {
                **one("The record as stored"),
                **_errors("400", "403", "404", "409", "413", "415", "422", "428"),
            },
        },
        "delete": {
            "operationId": f"delete_{ident}",
            "summary": f"Delete {a_label}",
            "tags": tags,
            "parameters": [
                IF_MATCH,
                _param("version", "query", VERSION_IN, "The version you read (or If-Match)"),
            ],
            "responses": {
                "204": {"description": "Deleted"},
                **_errors("400", "403", "404", "409", "422", "428"),
            },
        },
    }
    bulk = {
        "post": {
            "operationId": f"bulk_create_{ident}",
            "summary": f"Create many {entity.plural.lower()}: all of them or none",
            "tags": tags,
            "requestBody": body("bulk"),
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "properties": {"ids": {"type": "array", "items": {"type": "integer"}}},
                        "required": ["ids"],
                    },
                    "The new records' ids, in the order sent",
                ),
                **_errors("400", "403", "404", "409", "413", "415", "422"),
            },
        }
    }
    base = entity_path(entity)
    return {base: collection, f"{base}/{{id}}": item, f"{base}/_bulk": bulk}


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What is wrong, for a person"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Field name -> what is wrong with its value",
        },
        "rows": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": "Bulk writes: 0-based record index -> field errors",
        },
        "version": {"type": "integer", "description": "On 409: the record's current version"},
    },
    "required": ["error"],
}

INDEX_SCHEMA = {
    "type": "object",
    "properties": {
        "openapi": {"type": "string"},
        "apps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "title": {"type": "string"},
                    "entities": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "label": {"type": "string"},
                                "url": {"type": "string"},
                                "allowed": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
    "required": ["apps"],
}


# The action each HTTP method of a record path needs.
METHOD_ACTIONS = {
    "get": "read", "post": "create", "put": "update", "patch": "update", "delete": "delete",
}  # fmt: skip


def _allowed_operations(
    paths: dict[str, dict[str, Any]], principal: Principal, entity: Entity
) -> dict[str, dict[str, Any]]:
    """The entity's paths with only the operations the principal may call."""
    out = {}
    for path, item in paths.items():
        kept = {
            key: op
            for key, op in item.items()
            if key not in METHOD_ACTIONS or can(principal, entity, METHOD_ACTIONS[key])
        }
        if any(key in METHOD_ACTIONS for key in kept):
            out[path] = kept
    return out


def build_openapi(
    appset: AppSet,
    *,
    title: str = "Formwork JSON API",
    version: str = "1",
    session_cookie: str = "session",
    principal: Principal | None = None,
    server_url: str = "/",
) -> dict[str, Any]:
    """The whole document: schemas and paths of every entity, errors, security schemes.

    For a `principal`, only what it may do: entities it may not read are left out
    altogether, and so are the write operations its role may not use.
    """
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "Index": INDEX_SCHEMA}
    paths: dict[str, Any] = {
        f"{PREFIX}/": {
            "get": {
                "operationId": "index",
                "summary": "Apps and entities, with their URLs",
                "tags": ["meta"],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Index"}, "The index"),
                    **_errors(),
                },
            }
        },
        f"{PREFIX}/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["meta"],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI document"),
                    **_errors(),
                },
            }
        },
    }
    tags = [{"name": "meta", "description": "The API itself"}]
    for entity in appset.entities():
        if principal is not None and not can(principal, entity, "read"):
            continue
        schemas.update(entity_schemas(appset, entity))
        entity_ops = entity_paths(entity)
        if principal is not None:
            entity_ops = _allowed_operations(entity_ops, principal, entity)
        paths.update(entity_ops)
        tags.append({"name": entity.qualname, "description": entity.description or entity.plural})
    error_ref = {"$ref": "#/components/schemas/Error"}
    return plain(
        {  # labels are engine.i18n.Text; the document is English, in plain str
            "openapi": OPENAPI_VERSION,
            "info": {"title": title, "version": version, "description": DESCRIPTION},
            "servers": [{"url": server_url, "description": "The server that serves this document"}],
            "tags": tags,
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": {
                    f"Error{code}": _json(error_ref, text) for code, text in ERROR_CODES.items()
                },
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal API token (fwt_...)",
                    },
                    "basicAuth": {"type": "http", "scheme": "basic"},
                    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": session_cookie},
                },
            },
            "security": [{"bearerAuth": []}, {"basicAuth": []}, {"sessionCookie": []}],
        }
    )


# -- the document, enforced -------------------------------------------------------------------

_VALIDATORS: dict[tuple[int, str], tuple[Any, Any]] = {}


def _memo(owner: Any, kind: str, make: Any) -> Any:
    """What `make()` builds for `owner` (a field, an entity), kept with the owner itself,
    so that reloaded definitions get their own."""
    cached = _VALIDATORS.get((id(owner), kind))
    if cached is None or cached[0] is not owner:
        if len(_VALIDATORS) > 4096:
            _VALIDATORS.clear()
        cached = (owner, make())
        _VALIDATORS[(id(owner), kind)] = cached
    return cached[1]


def _checker(schema: dict[str, Any]) -> Any:
    """A validator of `schema` that checks formats (date, date-time) too, and reads JSON
    numbers as the API parses them, as Decimal: 7.0 is an integer, as JSON Schema says."""
    from jsonschema import Draft202012Validator, validators

    base = Draft202012Validator.TYPE_CHECKER

    def integer(checker: Any, value: Any) -> bool:
        if isinstance(value, Decimal):
            return value.is_finite() and value == value.to_integral_value()
        return bool(base.is_type(value, "integer"))

    kind = validators.extend(Draft202012Validator, type_checker=base.redefine("integer", integer))
    return kind(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _validator(appset: AppSet, field: Field) -> Any:
    return _memo(field, "write", lambda: _checker(field_schema(appset, field, writing=True)))


def _problem(field: Field, error: Any) -> str:
    """What is wrong, for a person, from the JSON-Schema keyword that failed."""
    keyword, expected = error.validator, error.validator_value
    vtype = field.value_type
    if keyword == "type":
        if error.instance is None:
            return "is required"
        if vtype.python_type is not str and "pattern" in error.schema:
            return 'must be a decimal string such as "100.50" (not a JSON number)'
        names = {"string": "text", "integer": "a whole number", "boolean": "true or false"}
        kinds = [expected] if isinstance(expected, str) else expected
        return "must be " + " or ".join(names.get(k, k) for k in kinds if k != "null")
    if keyword == "enum":
        if vtype.holds_currency:
            return "is not an ISO 4217 currency code"
        return "must be one of: " + ", ".join(str(v) for v in expected if v is not None)
    if keyword in ("minLength", "pattern") and expected in (1, NOT_BLANK):
        return "is required"
    if keyword == "pattern":
        if field.pattern and expected == f"^(?:{field.pattern})$":
            return field.pattern_message or f"does not match the pattern {field.pattern}"
        sign = "" if "-?" in expected else ", not below 0"
        places = expected.rsplit("{1,", 1)[-1].split("}", 1)[0]
        return f"must be a decimal string with at most {places} decimal places{sign}"
    if keyword == "maxLength":
        return f"must be at most {expected} characters"
    if keyword == "minLength":
        return f"must be at least {expected} characters"
    if keyword == "minimum":
        return f"must be at least {expected}"
    if keyword == "maximum":
        return f"must be at most {expected}"
    return str(error.message)


def body_problems(appset: AppSet, entity: Entity, body: dict[str, Any]) -> dict[str, str]:
    """Each field of a write body whose value the document's write schema forbids, with why.

    The API refuses what its document forbids (an empty currency, money as a JSON number,
    a blank required text) rather than reading it leniently, so a client generated from
    the document and the server agree on every value. Fields the body does not name, and
    keys that are not writable fields, are left to the Repository, which ignores or
    refuses them as before; so is every value the field type refuses itself, so that its
    message, with the record's other errors, is the one the client sees."""
    problems = {}
    for name, value in body.items():
        field = entity.fields.get(name)
        if field is None or field.computed:
            continue
        error = next(iter(_validator(appset, field).iter_errors(value)), None)
        if error is not None and (value is None or engine_accepts(field, value)):
            problems[name] = _problem(field, error)
    return problems


def key_problems(appset: AppSet, entity: Entity, body: dict[str, Any], kind: str) -> dict[str, str]:
    """The keys a write body of `kind` (create, replace, patch) lacks or may not have, as
    its schema says: required fields left out, keys that name no field."""
    schema = _memo(
        entity, kind, lambda: entity_schemas(appset, entity)[f"{entity.qualname}.{kind}"]
    )
    problems = {name: "is required" for name in schema.get("required", ()) if name not in body}
    unknown = {key: f"{entity.name} has no field '{key}'" for key in body}
    return problems | {
        key: message for key, message in unknown.items() if key not in schema["properties"]
    }


def query_problems(entity: Entity, args: Any) -> dict[str, str]:
    """Each query parameter of a list request whose value its documented schema forbids.

    The values are read as the document types them (whole numbers, true or false, lists
    split at commas) and checked against the very schemas the document publishes, so a
    value the document allows is one the server takes, and one it forbids answers 422.
    Parameters the document does not name are left to the query, which refuses them."""
    documented = _memo(entity, "query", lambda: {p["name"]: p for p in list_params(entity)})
    problems = {}
    for name, raw in args.items(multi=True):
        param = documented.get(name)
        if param is None or name in problems:
            continue
        schema = param["schema"]
        try:
            value = _typed(schema, raw)
        except ValueError as exc:
            problems[name] = str(exc)
            continue
        validator = _memo(param, "schema", lambda schema=schema: _checker(schema))
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            field = entity.fields.get(name.partition("__")[0]) if name not in LIST_PARAMS else None
            problems[name] = _engine_problem(field, error.instance) or _query_problem(error)
    return problems


def _engine_problem(field: Field | None, value: Any) -> str | None:
    """The field type's own words for a filter value it refuses (as the list page's)."""
    if field is None or not isinstance(value, str):
        return None
    try:
        field.value_type.parse(value, field)
    except ValueError as exc:
        return f"{value!r} {message_of(exc)}"
    return None


WHOLE_RE = re.compile(r"-?[0-9]{1,19}")


def _typed(schema: dict[str, Any], raw: str) -> Any:
    """A query string value as the document's type for it."""
    kind = schema.get("type")
    if kind == "integer":
        if not WHOLE_RE.fullmatch(raw):
            raise ValueError("must be a whole number")
        return int(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    if kind == "array":  # as OpenAPI's form style writes it: `a,b`, and nothing for []
        return [_typed(schema["items"], item) for item in raw.split(",")] if raw else []
    return raw


def _query_problem(error: Any) -> str:
    keyword, expected = error.validator, error.validator_value
    if keyword == "enum":
        return "must be one of: " + ", ".join(str(v) for v in expected)
    if keyword == "minimum":
        return f"must be at least {expected}"
    if keyword == "maximum":
        return f"must be at most {expected}"
    if keyword == "format":
        return f"is not a {expected} (ISO 8601)" if "date" in expected else f"is not an {expected}"
    if keyword == "pattern" and expected.startswith("^[^"):
        return "holds a NUL character" if "\x00" in error.instance else "holds a comma"
    return f"does not have the form the document gives ({error.message})"


def engine_accepts(field: Field, value: Any) -> bool:
    """Whether the field type would take the value; when it would not, the Repository
    refuses it in its own words, with the record's other errors."""
    try:
        coerced = field.value_type.coerce(value, field)
    except ValueError:
        return False
    return field.value_type.validate(coerced, field) is None
