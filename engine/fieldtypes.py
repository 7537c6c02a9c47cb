"""Field types: one class each, owning SQL type, widget, parsing, validation and JSON.

A plain registry maps a type name to an instance; built-ins register the same
way an extension would, and a duplicate name fails at import time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from babel.dates import format_date, format_time, parse_date
from babel.numbers import NumberFormatError, format_decimal, parse_decimal

from engine import decimal_patterns, money, patterns
from engine.i18n import _, localize

if TYPE_CHECKING:
    from engine.appdef.model import Field

FIELD_TYPES: dict[str, FieldType] = {}
MAX_BIGINT = 2**63 - 1  # the largest whole number (and record id) the databases store

# The keys a field definition may carry beyond the common ones (label, help, required, ...),
# with their JSON-Schema: the published app schema is assembled from these.
_BOUND = {"type": ["number", "string"]}
VALUE_BOUNDS: dict[str, Any] = {
    "min": {**_BOUND, "description": "the smallest value allowed"},
    "max": {**_BOUND, "description": "the largest value allowed"},
}
LENGTH_BOUNDS: dict[str, Any] = {
    "min": {**_BOUND, "description": "the fewest characters allowed"},
    "max": {**_BOUND, "description": "the most characters allowed"},
    "pattern": {"type": "string", "description": "a regular expression the whole value matches"},
    "pattern_message": {"type": "string", "description": "shown when the pattern does not match"},
}

# What str.strip() removes (str.isspace), spelled out: `\s` means other sets to other
# regex engines (JavaScript's adds U+FEFF), and these patterns are published in the API's
# document, where the server and every client must read them alike. NUL is never text.
NOT_TEXT = (
    "\x00\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Each is used with fullmatch: the whole value, up to its very end (a `$` also matches
# before a final newline).
EMAIL_RE = re.compile(f"[^@{NOT_TEXT}]+@[^@{NOT_TEXT}]+\\.[^@{NOT_TEXT}]+")
PHONE_RE = re.compile(r"\+?[0-9 ()./-]{4,30}")
URL_RE = re.compile(f"[Hh][Tt][Tt][Pp][Ss]?://[^{NOT_TEXT}/$.?#][^{NOT_TEXT}]*")


def _blank(value: Any) -> bool:
    """No value: None, or text of nothing but spaces (from a form or from JSON alike)."""
    return value is None or (isinstance(value, str) and not value.strip())


def register(cls: type[FieldType]) -> type[FieldType]:
    if cls.name in FIELD_TYPES:
        raise RuntimeError(f"field type {cls.name!r} is registered twice")
    FIELD_TYPES[cls.name] = cls()
    return cls


class FieldType:
    """Base of all field types. `parse` reads form text, `coerce` reads JSON/Python values."""

    name: ClassVar[str]
    widget: ClassVar[str] = "text"
    python_type: ClassVar[type | tuple[type, ...]] = str
    json_schema_type: ClassVar[dict[str, Any]] = {"type": "string"}
    takes_bounds: ClassVar[bool] = False
    stored: ClassVar[bool] = True
    # Definition keys this type accepts beyond the common ones, with their JSON-Schema.
    options: ClassVar[Mapping[str, Any]] = {}
    # Keys a definition of this type must give: key -> how the message names it.
    needs: ClassVar[Mapping[str, str]] = {}
    # A computed field may produce a value of this type.
    can_be_result: ClassVar[bool] = True
    # The engine computes the value: nobody enters it.
    derived: ClassVar[bool] = False
    # `min`/`max` count characters rather than compare values.
    length_bounds: ClassVar[bool] = False
    # Text whose literal is itself: a default that is not a valid value is not an expression.
    text_like: ClassVar[bool] = False
    # Good to show a record by, when the entity names no display template.
    names_a_record: ClassVar[bool] = False
    # Holds an ISO 4217 code that money fields may take their currency from.
    holds_currency: ClassVar[bool] = False
    # A calendar date: days can be counted from it (reports' buckets, date functions).
    is_date: ClassVar[bool] = False
    # Values compare in a meaningful order: lt/gt filters apply.
    orderable: ClassVar[bool] = False
    # A number: shown right-aligned, totals make sense.
    numeric: ClassVar[bool] = False
    # A unique field of this type names a record in an import file (customer.name).
    import_key: ClassVar[bool] = False
    # The list page's filter control: text, choice, boolean, range or ref.
    filter_kind: ClassVar[str] = "text"
    # The keyboard a phone shows for the input (HTML inputmode), when not plain text.
    inputmode: ClassVar[str | None] = None
    # The HTML input type of a plain one-line input (email, tel, url), when it has its own.
    input_type: ClassVar[str | None] = None
    # Several lines of prose: shown as paragraphs.
    multiline: ClassVar[bool] = False
    # Rounded by a currency (the record's, through the entity's currency field).
    uses_currency: ClassVar[bool] = False

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.String(field.max_length or self.default_max_length or 255)

    def definition_problems(self, raw: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
        """What is wrong with a definition of this type beyond what the JSON Schema says:
        (path inside the field, message) pairs."""
        yield from ()

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        text = text.strip()
        return None if text == "" else self.coerce(text, field)

    def coerce(self, value: Any, field: Field) -> Any:
        """A Python value from JSON or YAML, or ValueError with a message for a person."""
        if type(value) is str:  # the usual case, each step below in one pass
            text = value.strip()
            if not text:
                return None
            if "\x00" in value:
                raise ValueError(_("must not contain NUL characters"))
            return text
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise ValueError(_("must be text"))
        if "\x00" in value:  # PostgreSQL cannot store it; no person types it
            raise ValueError(_("must not contain NUL characters"))
        return value.strip() or None  # only spaces is blank: `required` must catch it

    def validate(self, value: Any, field: Field) -> str | None:
        """Check field options (min, max, pattern, options); None when fine."""
        if value is None:
            return None
        if field.pattern and isinstance(value, str):
            try:  # timed: a pattern that backtracks must not hold a request for seconds
                matched = patterns.fullmatch(field.pattern, value)
            except patterns.PatternError:
                return _("could not be checked against the pattern in time")
            if not matched:
                return field.pattern_message or _(
                    "does not match the pattern %(pattern)s", pattern=field.pattern
                )
        if self.takes_bounds:
            if field.min is not None and value < field.min:
                return _("must be at least %(min)s", min=self.format(field.min, field))
            if field.max is not None and value > field.max:
                return _("must be at most %(max)s", max=self.format(field.max, field))
        return None

    def result(self, field: Field) -> FieldType:
        """The type of the value stored (a computed field's result type)."""
        return self

    def currency_problem(self, value: Any, currency: str | None) -> str | None:
        """For `uses_currency` types: what is wrong with `value` in `currency`."""
        return None

    def computed_value(self, value: Any, field: Field, currency: str | None = None) -> Any:
        """An expression's result stored in a field of this type (`currency`: the record's)."""
        return self.coerce(value, field)

    def to_json(self, value: Any) -> Any:
        return json_value(value)

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        """Text for people (lists, detail pages)."""
        return "" if value is None else str(value)

    def link(self, value: Any) -> str | None:
        """Where a value shown on a page links to (mailto:, the web address), if anywhere."""
        return None

    def form_value(self, value: Any) -> str:
        """Text to put back in a form input."""
        return "" if value is None else str(value)

    def json_schema(
        self, field: Field, writing: bool = False, bounds: bool = True
    ) -> dict[str, Any]:
        """The JSON Schema of a value; with `bounds`, the field's limits too (a filter's
        value may lie outside them)."""
        schema = dict(self.json_schema_type)
        if field.pattern:  # validate() uses fullmatch; JSON Schema patterns search
            schema["pattern"] = f"^(?:{field.pattern})$"
        return {**schema, **self.schema_bounds(field)} if bounds else schema

    def schema_bounds(self, field: Field) -> dict[str, Any]:
        """The field's limits in JSON Schema terms."""
        out: dict[str, Any] = {}
        if self.length_bounds:
            if field.max_length or self.default_max_length:
                out["maxLength"] = field.max_length or self.default_max_length
            if field.min_length:
                out["minLength"] = field.min_length
        return out

    # The length a value may have when the field gives no `max` (None: unbounded).
    default_max_length: ClassVar[int | None] = None


def json_value(value: Any) -> Any:
    """The one JSON form of a stored value: Decimal as exact text (never a float, never
    an exponent), dates and times in ISO 8601; everything else as it is."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def jsonable(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a record fit for JSON (see json_value)."""
    return None if row is None else {key: json_value(value) for key, value in row.items()}


@register
class StringType(FieldType):
    name = "string"
    options = LENGTH_BOUNDS
    length_bounds = True
    default_max_length: ClassVar[int | None] = 255
    text_like = True
    names_a_record = True
    import_key = True

    def validate(self, value: Any, field: Field) -> str | None:
        if value is not None and self.length_bounds:
            most = field.max_length or self.default_max_length
            if most and len(value) > most:
                return _("must be at most %(count)s characters", count=most)
            if field.min_length and len(value) < field.min_length:
                return _("must be at least %(count)s characters", count=field.min_length)
        return super().validate(value, field)

    def computed_value(self, value: Any, field: Field, currency: str | None = None) -> Any:
        return None if value is None else str(value)


@register
class TextType(StringType):
    name = "text"
    widget = "textarea"
    multiline = True
    names_a_record = False
    import_key = False
    # A few pages of notes; `max:` raises it. Unbounded, one request stored 20 MB (and the
    # audit row copied it), so every text has a limit.
    default_max_length = 10_000

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.Text()


@register
class EmailType(StringType):
    name = "email"
    widget = "email"
    input_type = "email"
    # EMAIL_RE, no `format`: an e-mail address by RFC 5322 is another (and subtler) set
    json_schema_type = {"type": "string", "pattern": f"^{EMAIL_RE.pattern}$"}

    def coerce(self, value: Any, field: Field) -> Any:
        value = super().coerce(value, field)
        if value is not None and not EMAIL_RE.fullmatch(value):
            raise ValueError(_("is not an e-mail address"))
        return value

    def link(self, value: Any) -> str | None:
        return f"mailto:{value}" if value else None


@register
class PhoneType(StringType):
    name = "phone"
    widget = "tel"
    input_type = "tel"
    names_a_record = False
    # PHONE_RE, without the spaces at either end that coerce() strips (and then counts
    # without): what the document allows, the server takes.
    json_schema_type = {"type": "string", "pattern": r"^\+?[0-9()./-][0-9 ()./-]{2,28}[0-9()./-]$"}

    def coerce(self, value: Any, field: Field) -> Any:
        value = super().coerce(value, field)
        if value is not None and not PHONE_RE.fullmatch(value):
            raise ValueError(_("is not a phone number (digits, spaces, + ( ) - . /)"))
        return value


@register
class UrlType(StringType):
    name = "url"
    widget = "url"
    input_type = "url"
    names_a_record = False
    json_schema_type = {"type": "string", "pattern": f"^{URL_RE.pattern}$"}  # not RFC 3986's

    def coerce(self, value: Any, field: Field) -> Any:
        value = super().coerce(value, field)
        if value is not None and not URL_RE.fullmatch(value):
            raise ValueError(_("is not a web address (http:// or https://)"))
        return value

    def link(self, value: Any) -> str | None:
        return str(value) if value else None


@register
class ChoiceType(StringType):
    name = "choice"
    widget = "select"
    options = {"options": {"$ref": "#/$defs/choice_options"}}
    needs = {"options": "options"}
    length_bounds = False
    names_a_record = False
    import_key = False
    filter_kind = "choice"

    def validate(self, value: Any, field: Field) -> str | None:
        if value is not None and value not in field.options:
            return _("must be one of: %(options)s", options=", ".join(field.options))
        return None

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        """The option's label in the reader's language: in_progress -> In progress, 进行中."""
        return "" if value is None else str(localize(field.option_label(value), locale))

    def json_schema(
        self, field: Field, writing: bool = False, bounds: bool = True
    ) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if field.options:  # else a computed choice: any text, not an enum nothing matches
            schema["enum"] = list(field.options)
        return {**schema, "maxLength": self.default_max_length} if bounds else schema


@register
class CurrencyType(StringType):
    name = "currency"
    widget = "currency"
    options = {}
    length_bounds = False
    names_a_record = False
    import_key = False
    holds_currency = True
    json_schema_type = {"type": "string", "pattern": "^[A-Z]{3}$"}

    def json_schema(
        self, field: Field, writing: bool = False, bounds: bool = True
    ) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(money.currency_codes())}  # ISO 4217

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.String(3)

    def coerce(self, value: Any, field: Field) -> Any:
        value = super().coerce(value, field)
        if value is None:
            return None
        value = value.upper()
        if not money.is_currency(value):
            raise ValueError(_("is not an ISO 4217 currency code"))
        return value


@register
class IntegerType(FieldType):
    name = "integer"
    widget = "number"
    python_type = int
    # BIGINT's limits even where the field's own do not apply (a filter's value)
    json_schema_type = {"type": "integer", "minimum": -MAX_BIGINT, "maximum": MAX_BIGINT}
    takes_bounds = True
    options = VALUE_BOUNDS
    orderable = True
    numeric = True
    filter_kind = "range"
    inputmode = "numeric"

    def schema_bounds(self, field: Field) -> dict[str, Any]:
        """JSON Schema carries the bounds itself (and BIGINT's, when the field has none)."""
        low, high = field.min, field.max
        return {
            "minimum": -MAX_BIGINT if low is None else low,
            "maximum": MAX_BIGINT if high is None else high,
        }

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        text = text.strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        try:
            number = parse_decimal(text, locale=locale, strict=True)
        except NumberFormatError:
            raise ValueError(_("is not a whole number")) from None
        return self.coerce(number, field)

    def coerce(self, value: Any, field: Field) -> Any:
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("is not a whole number"))
        if isinstance(value, int):
            if abs(value) >= 2**63:  # beyond BIGINT: the database would refuse it
                raise ValueError(_("is too large"))
            return value
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(_("is not a whole number")) from None
        if number != number.to_integral_value():
            raise ValueError(_("is not a whole number"))
        if abs(number) >= 2**63:
            raise ValueError(_("is too large"))
        return int(number)


@register
class DecimalType(FieldType):
    name = "decimal"
    widget = "number"
    python_type = Decimal
    json_schema_type = {"type": "string"}
    takes_bounds = True
    options = VALUE_BOUNDS
    orderable = True
    numeric = True
    filter_kind = "range"
    inputmode = "decimal"
    scale = 6
    quantum = Decimal(1).scaleb(-scale)  # the smallest step stored, made once, not per value
    max_abs = Decimal("1e12")  # stays exact as a scaled 64-bit integer on SQLite

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.quantum = Decimal(1).scaleb(-cls.scale)  # a subclass's own scale

    def sql_type(self, field: Field) -> Any:

        from engine.storage.types import ExactDecimal

        return ExactDecimal(24, self.scale)

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        text = text.strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        text = re.sub(r"^[A-Z]{3}|[A-Z]{3}$|[€$£¥]", "", text)
        try:
            number = parse_decimal(text, locale=locale, strict=True)
        except NumberFormatError:
            try:
                number = Decimal(text)  # plain 1234.56 always reads, whatever the locale
            except InvalidOperation:
                raise ValueError(_("is not a number")) from None
        return self.coerce(number, field)

    def coerce(self, value: Any, field: Field) -> Any:
        if (
            type(value) is Decimal
            and value.is_finite()
            and abs(value) < self.max_abs
            and -self.scale <= value.as_tuple().exponent <= 0  # type: ignore[operator]
        ):
            return value  # the usual case, within the places stored: what the steps below give
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("is not a number"))
        if isinstance(value, float):
            value = repr(value)
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(_("is not a number")) from None
        if not number.is_finite():
            raise ValueError(_("is not a number"))
        if abs(number) >= self.max_abs:
            raise ValueError(_("is too large"))
        if number != number.quantize(self.quantum):
            raise ValueError(_("has more than %(places)s decimal places", places=self.scale))
        exponent = number.as_tuple().exponent  # an int: the number is finite
        if isinstance(exponent, int) and exponent > 0:  # "1e3" -> 1000, not 1E+3 in JSON
            number = number.quantize(Decimal(1))
        return number

    def json_schema(
        self, field: Field, writing: bool = False, bounds: bool = True
    ) -> dict[str, Any]:
        """A decimal string (JSON numbers invite float rounding), with the digits and the
        places the type stores; written, within the field's `min` and `max` too."""
        schema = super().json_schema(field, writing, bounds)
        digits = len(str(int(self.max_abs))) - 1
        schema["pattern"] = rf"^-?[0-9]{{1,{digits}}}(\.[0-9]{{1,{self.scale}}})?$"
        if writing and bounds:
            limits = [
                *([decimal_patterns.at_least(field.min)] if field.min is not None else []),
                *([decimal_patterns.at_most(field.max)] if field.max is not None else []),
            ]
            if limits:
                schema["allOf"] = [{"pattern": limit} for limit in limits]
        return schema

    def computed_value(self, value: Any, field: Field, currency: str | None = None) -> Any:
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return Decimal(value).quantize(self.quantum)
        return self.coerce(value, field)

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        # every significant digit: the default pattern rounds to 3 places (0.000001 -> "0")
        if value is None:
            return ""
        return format_decimal(value, locale=locale, decimal_quantization=False)


@register
class MoneyType(DecimalType):
    """Money: Decimal, stored as NUMERIC, rounded by the record's currency (see Repository)."""

    name = "money"
    widget = "money"
    options = {
        **VALUE_BOUNDS,
        "currency": {
            "type": "string",
            "description": "the field holding the currency (default: the entity's 'currency')",
        },
    }
    scale = 4
    max_abs = Decimal("1e13")
    uses_currency = True

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        """`JPY 1000` or `€12.50`: the amount remembers the currency it named."""
        number = super().parse(text, field, locale)
        named = money.named_currency(text)
        return money.Amount(number, named) if number is not None and named else number

    def currency_problem(self, value: Any, currency: str | None) -> str | None:
        named = getattr(value, "currency", None)
        if named and currency and named != currency:
            return _(
                "is in %(named)s, but the record's currency is %(currency)s",
                named=named,
                currency=currency,
            )
        if money.fits_currency(value, currency):
            return None
        if not currency:
            return _("has more than %(places)s decimal places", places=money.places(currency))
        return _(
            "has more than %(places)s decimal places for %(currency)s",
            places=money.places(currency),
            currency=currency,
        )

    def computed_value(self, value: Any, field: Field, currency: str | None = None) -> Any:
        if type(value) is Decimal:  # the usual result: no copy to make first
            return money.round_money(value, currency)
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            value = self.coerce(value, field)  # text reads as typed; then rounded like numbers
        return None if value is None else money.round_money(Decimal(value), currency)

    def sql_type(self, field: Field) -> Any:

        from engine.storage.types import ExactDecimal

        return ExactDecimal(20, self.scale)

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        """The Repository reads money back at its currency's places, so the value's own
        places are the currency's: JPY 1,200, EUR 12.50, KWD 1.200; a value at the
        storage scale (4 places) shows its significant places; never fewer than 2 when
        there are any (12.5 shows as 12.50)."""
        if value is None:
            return ""
        exponent = int(value.as_tuple().exponent)  # the currency's places, as read back
        if exponent <= -self.scale:  # not read back by currency: every significant place
            exponent = min(0, int(value.normalize().as_tuple().exponent))
        places = 0 if exponent >= 0 else max(2, -exponent)
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return format_decimal(value, format=pattern, locale=locale)


@register
class DateType(FieldType):
    name = "date"
    widget = "date"
    python_type = dt.date
    json_schema_type = {"type": "string", "format": "date"}
    takes_bounds = True
    is_date = True
    options = VALUE_BOUNDS
    orderable = True
    filter_kind = "range"

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.Date()

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        text = text.strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return parse_date(text, locale=locale)
        except (ValueError, IndexError, OverflowError):  # "2.9e-234": a year too large
            raise ValueError(_("is not a date (use YYYY-MM-DD)")) from None

    def coerce(self, value: Any, field: Field) -> Any:
        if type(value) is dt.date:
            return value
        if _blank(value):
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(_("is not a date (use YYYY-MM-DD)")) from None

    def format(self, value: Any, field: Field, locale: str | None = None) -> str:
        """In a reader's locale: Mar 31, 2026, 31.03.2026, 2026年3月31日; ISO without one
        (messages, exports)."""
        if value is None:
            return ""
        return value.isoformat() if locale is None else format_date(value, "medium", locale)

    def form_value(self, value: Any) -> str:
        return "" if value is None else value.isoformat()


@register
class DateTimeType(FieldType):
    """Timezone-aware; naive input is taken as UTC; stored in UTC."""

    name = "datetime"
    widget = "datetime-local"
    python_type = dt.datetime
    # RFC 3339 as Python reads it: upper-case T and Z, at most 6 places of seconds
    json_schema_type = {
        "type": "string",
        "format": "date-time",
        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})$",
    }
    takes_bounds = True
    options = VALUE_BOUNDS
    orderable = True
    filter_kind = "range"

    def sql_type(self, field: Field) -> Any:

        from engine.storage.types import UTCDateTime

        return UTCDateTime()

    def coerce(self, value: Any, field: Field) -> Any:
        if _blank(value):
            return None
        if not isinstance(value, dt.datetime):
            try:
                value = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise ValueError(_("is not a date and time (use YYYY-MM-DDTHH:MM)")) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable UTC
            raise ValueError(_("is out of range")) from None

    def form_value(self, value: Any) -> str:
        return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")

    def format(self, value: Any, field: Field | None, locale: str | None = None) -> str:
        """UTC, to the minute: in a reader's locale (Mar 31, 2026 2:30 PM UTC, 2026年3月31日
        14:30 UTC), or 2026-03-31 14:30 UTC without one."""
        if value is None:
            return ""
        if locale is None:
            return value.strftime("%Y-%m-%d %H:%M UTC")
        day = format_date(value.astimezone(dt.UTC), "medium", locale)
        return f"{day} {format_time(value, 'short', tzinfo=dt.UTC, locale=locale)} UTC"


@register
class BooleanType(FieldType):
    name = "boolean"
    widget = "checkbox"
    python_type = bool
    json_schema_type = {"type": "boolean"}
    filter_kind = "boolean"
    TRUE = frozenset({"1", "true", "yes", "y", "on", "x"})
    FALSE = frozenset({"0", "false", "no", "n", "off", ""})

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.Boolean()

    def parse(self, text: str, field: Field, locale: str = "en_US") -> Any:
        return self.coerce(text, field) if text.strip() else False

    def coerce(self, value: Any, field: Field) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(_("must be yes or no"))

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        return "" if value is None else str(localize(_("yes") if value else _("no"), locale))

    def form_value(self, value: Any) -> str:
        return "on" if value else ""  # what a checked checkbox posts


@register
class RefType(FieldType):
    """A reference to another entity's record, by id; shown by the target's display template."""

    name = "ref"
    widget = "ref"
    python_type = int
    json_schema_type = {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT}
    options = {
        "to": {"type": "string", "description": "the target entity, 'entity' or 'app.entity'"},
        "on_delete": {"enum": ["restrict", "cascade"]},
    }
    needs = {"to": "to: <entity>"}
    can_be_result = False
    orderable = True
    filter_kind = "ref"

    def schema_bounds(self, field: Field) -> dict[str, Any]:
        return {"maximum": MAX_BIGINT, "x-formwork-ref": field.ref}

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def coerce(self, value: Any, field: Field) -> Any:
        if type(value) is int and 1 <= value <= MAX_BIGINT:
            return value  # what the steps below make of it, without the Decimal
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValueError(_("must be a record id"))
        try:  # 7.0 is 7 in JSON (and to JSON Schema's "integer")
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(_("must be a record id")) from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(_("must be a record id"))
        if number < 1 or number > MAX_BIGINT:  # beyond BIGINT: no such record
            raise ValueError(_("must be a record id"))
        return int(number)


@register
class ComputedType(FieldType):
    """Read-only, computed from an expression on every write and stored for queries."""

    name = "computed"
    widget = "readonly"
    options = {
        "expr": {"$ref": "#/$defs/expression", "description": "the expression"},
        "result": {"type": "string", "description": "the type of the result (default decimal)"},
        "options": {"$ref": "#/$defs/choice_options"},
        "refresh": {
            "enum": ["daily"],
            "description": "daily: the expression may use today(); stored values are "
            "computed again each day by `formwork refresh` (overdue follows the date)",
        },
    }
    needs = {"expr": "expr"}
    can_be_result = False
    derived = True
    default_result = "decimal"  # the result type when the definition names none

    def definition_problems(self, raw: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
        if "default" in raw or raw.get("required") or raw.get("unique"):
            yield (), "a computed field takes no default, required or unique"

    def result(self, field: Field) -> FieldType:
        return FIELD_TYPES[field.result or self.default_result]

    def sql_type(self, field: Field) -> Any:
        return self.result(field).sql_type(field)

    def coerce(self, value: Any, field: Field) -> Any:
        return self.result(field).coerce(value, field)

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        return self.result(field).format(value, field, locale)

    def json_schema(
        self, field: Field, writing: bool = False, bounds: bool = True
    ) -> dict[str, Any]:
        return {**self.result(field).json_schema(field, writing, bounds), "readOnly": True}


class _BankCodeType(StringType):
    """A bank code checked and normalised by schwifty: stored compact."""

    options = {}
    length_bounds = False
    names_a_record = False
    not_valid: ClassVar[str]

    def code(self, text: str) -> Any:
        """schwifty's object for `text`; SchwiftyException when it is not one."""
        raise NotImplementedError

    def sql_type(self, field: Field) -> Any:
        import sqlalchemy as sa

        return sa.String(self.default_max_length)

    def coerce(self, value: Any, field: Field) -> Any:
        from schwifty.exceptions import SchwiftyException

        text = super().coerce(value, field)
        if text is None:
            return None
        try:
            return self.code(text).compact
        except SchwiftyException as exc:
            raise ValueError(self.problem(exc)) from None

    def problem(self, exc: Exception) -> str:
        return self.not_valid

    def schema_bounds(self, field: Field) -> dict[str, Any]:
        return {"maxLength": self.default_max_length}


@register
class IbanType(_BankCodeType):
    """An International Bank Account Number (ISO 13616), checked by its check digits."""

    name = "iban"
    default_max_length = 34
    # `format: iban`: its check digits are beyond a pattern; a client can check them
    json_schema_type = {
        "type": "string",
        "format": "iban",
        "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$",
    }
    not_valid = _("is not an IBAN")

    def code(self, text: str) -> Any:
        from schwifty import IBAN

        return IBAN(text)

    def problem(self, exc: Exception) -> str:
        from schwifty.exceptions import InvalidChecksumDigits

        if isinstance(exc, InvalidChecksumDigits):
            return _("is not an IBAN: its check digits do not match (a typing error?)")
        return self.not_valid

    def format(self, value: Any, field: Field, locale: str = "en_US") -> str:
        """In groups of four, as printed on statements and invoices."""
        return "" if value is None else self.code(value).formatted

    def form_value(self, value: Any) -> str:
        return "" if value is None else self.code(value).formatted  # reads back the same


@register
class BicType(_BankCodeType):
    """A bank's Business Identifier Code (ISO 9362, SWIFT): 8 or 11 letters and digits."""

    name = "bic"
    default_max_length = 11
    json_schema_type = {
        "type": "string",
        "format": "bic",  # its country must exist: beyond the pattern too
        "pattern": "^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$",
    }
    not_valid = _("is not a BIC (8 or 11 letters and digits, e.g. DEUTDEFF)")

    def code(self, text: str) -> Any:
        from schwifty import BIC

        return BIC(text)
