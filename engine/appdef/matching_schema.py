"""The JSON Schema of the `matching:` section (engine.appdef.matching builds it)."""

from __future__ import annotations

from typing import Any

THEN = ("auto", "suggest")
CUSTOMER_METHODS = ("name", "alias", "iban", "mapping", "fuzzy")
EXTRACTOR_KINDS = ("pattern", "rf", "whole")
WRITE_OFF_REASONS = (
    "small_difference",
    "bank_fee",
    "discount",
    "bad_debt",
    "exchange_difference",
    "other",
)
DIFFERENCE_CLASSES = ("technical_error", "process_gap", "dispute")
PARTIAL_ORDERS = ("referenced", "oldest")

_FIELDS = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ],
    "description": "a source field, or a list of them",
}
_TOLERANCE = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%?\s*$"},
    ],
    "description": "an absolute amount (0.50) or a percentage of the open amount ('1%')",
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["source", "target", "rules"],
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "description": "the entity matched from, e.g. bank_line"},
        "target": {"type": "string", "description": "the entity matched to, e.g. invoice"},
        "credit_notes": {
            "type": "string",
            "description": "an entity whose unallocated records the rules also settle",
        },
        "customers": {"$ref": "#/$defs/match_customers"},
        "references": {
            "type": "object",
            "description": "named ways of reading references out of the source's text",
            "propertyNames": {"$ref": "#/$defs/identifier"},
            "additionalProperties": {"$ref": "#/$defs/match_reference"},
        },
        "rules": {
            "type": "array",
            "minItems": 1,
            "description": "tried in order; the first rule that accepts a candidate wins",
            "items": {"$ref": "#/$defs/match_rule"},
        },
        "differences": {
            "type": "array",
            "description": "classify what is left over or unmatched; the first that applies wins",
            "items": {"$ref": "#/$defs/match_difference"},
        },
    },
}

CUSTOMERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "how the customer of a source record is recognised",
    "properties": {
        "entity": {"type": "string", "description": "the customer entity [customer]"},
        "name": {"type": "string", "description": "the customer's name field [name]"},
        "aliases": {"type": "string", "description": "one alias per line [aliases]"},
        "iban": {"type": "string", "description": "the customer's IBAN field [iban]"},
        "counterparty": {"type": "string", "description": "source field [counterparty]"},
        "counterparty_iban": {
            "type": "string",
            "description": "source field [counterparty_iban]",
        },
        "fuzzy_threshold": {
            "type": "number",
            "minimum": 50,
            "maximum": 100,
            "description": "least name similarity (percent) for a fuzzy match [88]",
        },
        "mappings": {
            "type": "array",
            "description": "a pattern in the source that names a customer (a parent company)",
            "items": {
                "type": "object",
                "required": ["pattern", "customer"],
                "additionalProperties": False,
                "properties": {
                    "pattern": {"type": "string", "description": "a regular expression"},
                    "in": _FIELDS,
                    "customer": {"type": "string", "description": "the customer's name"},
                },
            },
        },
    },
}

REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["target"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(EXTRACTOR_KINDS), "description": "[pattern]"},
        "pattern": {"type": "string", "description": "a regular expression; group 1 if any"},
        "in": _FIELDS,
        "target": {"type": "string", "description": "the target field the reference names"},
    },
}

RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "then"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "label": {
            "$ref": "#/$defs/text",
            "description": "what people read for the rule (per language); [the name]",
        },
        "find": {
            "type": "object",
            "required": ["in", "equals"],
            "additionalProperties": False,
            "properties": {
                "pattern": {"type": "string", "description": "a regular expression"},
                "in": {"type": "string", "description": "the source field searched"},
                "equals": {"type": "string", "description": "the target field it must equal"},
            },
        },
        "when": {
            "$ref": "#/$defs/expression",
            "description": "the rule applies only to sources for which this is true (source.*)",
        },
        "customer": {
            "type": "array",
            "items": {"enum": list(CUSTOMER_METHODS)},
            "uniqueItems": True,
            "description": "the customer must be recognised in one of these ways",
        },
        "reference": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "names of `references:`; the invoice must be named by one",
        },
        "in": _FIELDS,
        "typos": {"enum": [0, 1], "description": "a reference may have one typo [0]"},
        "amount": {
            "oneOf": [
                {"const": "exact"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"under": _TOLERANCE, "over": _TOLERANCE},
                },
            ],
            "description": "exact, or how far under and over the open amount a payment may be",
        },
        "difference": {
            "enum": ["write_off", "open"],
            "description": "an under-payment within tolerance: written off or left open [open]",
        },
        "reason": {"enum": list(WRITE_OFF_REASONS), "description": "of the write-off"},
        "several": {"type": "boolean", "description": "one payment may settle several"},
        "partial": {
            "enum": list(PARTIAL_ORDERS),
            "description": "a smaller payment is allocated in this order, the rest left open",
        },
        "accept": {
            "$ref": "#/$defs/expression",
            "description": "true when a candidate is acceptable; reads source.* and target.*",
        },
        "then": {"enum": list(THEN)},
    },
}

DIFFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "class", "when"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "class": {"enum": list(DIFFERENCE_CLASSES)},
        "when": {
            "$ref": "#/$defs/expression",
            "description": "reads paid, expected, difference, already_paid, other_customer, "
            "customer_found, source.* and target.*",
        },
        "reason": {"$ref": "#/$defs/text"},
    },
}

DEFS: dict[str, Any] = {
    "matching": SCHEMA,
    "match_customers": CUSTOMERS_SCHEMA,
    "match_reference": REFERENCE_SCHEMA,
    "match_rule": RULE_SCHEMA,
    "match_difference": DIFFERENCE_SCHEMA,
}
