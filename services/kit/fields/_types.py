"""Every field type Tessera knows, one class each. Adding a type means adding a class here
and listing it in REGISTRY: the schema service checks field definitions, the records
service stores, validates, filters and converts values, and the gateway renders fields,
all through this registry."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Numeric,
    SmallInteger,
    Text,
    func,
    literal_column,
    or_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from services.kit.clock import rfc3339
from services.kit.errors import ValidationFailed
from services.kit.fields._base import (
    DATES,
    EQUALITY,
    JOIN,
    ORDERING,
    SYSTEM,
    TEXTUAL,
    FieldLike,
    FieldType,
    NoConfig,
    Serializer,
)
from services.kit.json import encoded_holds_nul, loads_exact


def sql_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported server)."""
    return "'" + value.replace("'", "''") + "'"


def sql_text_array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(sql_literal(v) for v in values) + "]::text[]"


def _check_string(field: FieldLike, value: Any, max_length: int, kind: FieldType) -> str:
    if not isinstance(value, str):
        raise kind.fail(field)
    if len(value) > max_length:
        raise ValidationFailed(
            f"Field '{field.slug}' must be at most {max_length} characters", field=field.slug
        )
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL.
        raise ValidationFailed(
            f"Field '{field.slug}' must not contain NUL characters", field=field.slug
        )
    return value


# Index and sort keys of text are cut here: a btree entry must fit a third of a page, and
# any valid value must be storable. Values sharing this prefix sort by record id (a
# keyset cursor carries the prefix, never a 10,000-character value); equality still
# compares the whole value.
TEXT_KEY_LENGTH = 200
# Rendered inline, never bound: a query's expression must match the index's to use it.
_KEY_LENGTH_SQL: ColumnElement[int] = literal_column(str(TEXT_KEY_LENGTH))


class TextLike(FieldType):
    max_length: ClassVar[int]
    operators = TEXTUAL
    searchable = True
    # The JSON Schema format of its values, where there is one.
    value_format: ClassVar[str | None] = None

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.value_format:
            schema["format"] = self.value_format
        return schema

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Text()

    def sort_key(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.left(column, _KEY_LENGTH_SQL)

    def sort_value(self, value: Any) -> Any:
        return value[:TEXT_KEY_LENGTH] if isinstance(value, str) else value

    def unique_index(self, name: str, column: Column[Any]) -> Index:
        # md5 keeps the entry small whatever the length; the prefix keeps the index
        # useful for equality lookups too.
        return Index(name, func.left(column, _KEY_LENGTH_SQL), func.md5(column), unique=True)

    def compile(self, column: ColumnElement[Any], op: str, operand: Any) -> ColumnElement[bool]:
        if op == "eq":
            # The prefix lets the sort index serve equality on values of any length.
            return (func.left(column, _KEY_LENGTH_SQL) == operand[:TEXT_KEY_LENGTH]) & (
                column == operand
            )
        return super().compile(column, op, operand)

    def validate(self, field: FieldLike, value: Any) -> Any:
        return _check_string(field, value, self.max_length, self)

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"CASE WHEN length({text}) <= {self.max_length} THEN {text} END"


class TextType(TextLike):
    name = "text"
    max_length = 10_000
    expected = "a string of at most 10000 characters"


class LongTextType(TextLike):
    name = "long_text"
    max_length = 1_000_000
    expected = "a string of at most 1000000 characters"
    sortable = False
    can_be_primary = False
    operators = EQUALITY | {"contains", "ncontains", "icontains", "starts_with", "ends_with"}

    def index(self, name: str, column: Column[Any], id_column: Column[Any]) -> Index | None:
        return None


# Deliberately loose: one @, no whitespace, a dot in the domain. Deliverability is the
# sender's business; this only keeps obvious garbage out.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class EmailType(TextLike):
    name = "email"
    value_format = "email"
    expected = "an email address"
    max_length = 254

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > self.max_length or "\x00" in value:
            raise self.fail(field)
        if _EMAIL.fullmatch(value) is None:
            raise self.fail(field)
        return value

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return (
            f"CASE WHEN length({text}) <= {self.max_length} AND {text} ~ "
            r"'^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$'"
            f" THEN {text} END"
        )


class UrlType(TextLike):
    name = "url"
    value_format = "uri"
    expected = "an absolute http or https URL"
    max_length = 2048

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise self.fail(field)
        if any(ch.isspace() or ch == "\x00" for ch in value):
            raise self.fail(field)
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            raise self.fail(field) from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise self.fail(field)
        return value

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return (
            f"CASE WHEN length({text}) <= {self.max_length} AND {text} ~* "
            r"'^https?://[^\s/?#@]+(/\S*)?$'"
            f" THEN {text} END"
        )


# Digits with the usual separators, an optional leading +; at most 32 characters.
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{1,30}")


class PhoneType(TextLike):
    name = "phone"
    expected = "a phone number: digits, spaces, ( ) . - and an optional leading +"
    max_length = 32

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or _PHONE.fullmatch(value) is None:
            raise self.fail(field)
        if sum(ch.isdigit() for ch in value) < 3:
            raise self.fail(field)
        return value

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"CASE WHEN {text} ~ " r"'^\+?[0-9][0-9 ().-]{1,30}$'" f" THEN {text} END"


# An int of this magnitude or more cannot travel as a JSON integer (64-bit) everywhere.
_INT_LIMIT = 2**63
# The most digits a number field keeps; PostgreSQL numeric holds far more, clients don't.
MAX_NUMBER_DIGITS = 60


def _exact_number(value: Decimal) -> Any:
    """A Decimal as the JSON number it is: an int or a float where that prints the same
    digits, else its exact decimal text (a 30-digit integer comes back as sent)."""
    if value == value.to_integral_value():
        if -_INT_LIMIT < value < _INT_LIMIT:
            return int(value)
        # Whole but beyond 64 bits: its digits alone, never a float's, nor a ".00" tail a
        # client would read as a float.
        return orjson.Fragment(str(int(value)).encode())
    as_float = float(value)
    shortest = repr(as_float)
    # str() first: it is the normalised text already for most values, and cheaper.
    if shortest == str(value) or shortest == format(value.normalize(), "f"):
        return as_float
    return orjson.Fragment(format(value, "f").encode())


class NumberConfig(NoConfig):
    decimal_places: int | None = Field(default=None, ge=0, le=30)


def _decimal(value: Any) -> Decimal | None:
    """A JSON or text number as an exact, finite Decimal; None when it is not one."""
    if isinstance(value, str):
        text = value.strip()
        # ASCII only: Decimal() would take other scripts' digits too.
        if not text or len(text) > 2 * MAX_NUMBER_DIGITS or not text.isascii():
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        if len(text) <= MAX_NUMBER_DIGITS and "e" not in text and "E" not in text:
            # No more digits than characters and no exponent: within bounds (the common
            # case, decided without taking the number apart).
            return number if number.is_finite() else None
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        # repr() is the shortest text that round-trips: 0.1 stays 0.1, not its binary.
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        return None
    if not number.is_finite():
        return None
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) + max(exponent, 0) > MAX_NUMBER_DIGITS or exponent < -MAX_NUMBER_DIGITS:
        return None
    return number


# Rounds to decimal_places as PostgreSQL's round() does (halves away from zero), so a
# value written now and one converted by a type change agree; precise enough for the most
# digits a number keeps plus the most places it rounds to.
_ROUNDING = Context(prec=2 * MAX_NUMBER_DIGITS + 2, rounding=ROUND_HALF_UP)


def _rounded(number: Decimal, places: int) -> Decimal:
    return number.quantize(Decimal(1).scaleb(-places), context=_ROUNDING)


NUMBER_TEXT = r"'^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,2})?\s*$'"


class NumberType(FieldType):
    name = "number"
    expected = "a number"
    config_model = NumberConfig
    operators = ORDERING

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "number"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Numeric(asdecimal=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        if isinstance(value, str):
            raise self.fail(field)
        number = _decimal(value)
        if number is None:
            raise self.fail(field)
        places = field.config.get("decimal_places")
        if places is not None:
            number = _rounded(number, int(places))
        return number

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        number = _decimal(raw)
        if number is None:
            raise ValueError(raw)
        return number

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        number = _decimal(raw)
        if number is None:
            raise self.fail(field)
        places = field.config.get("decimal_places")
        return number if places is None else round(number, places)

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return _exact_number

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        places = field.config.get("decimal_places")
        value = f"btrim({text})::numeric"
        if places is not None:
            value = f"round({value}, {int(places)})"
        return f"CASE WHEN {text} ~ {NUMBER_TEXT} THEN {value} END"


_INT64 = 2**63
_INTEGER_TEXT = re.compile(r"[-+]?\d{1,19}")


def _whole(value: Any) -> int | None:
    """A JSON number that is a whole one (5, 5.0, 5E+1) as an int; None otherwise. JSON
    does not tell 5 from 5.0, and exact parsing reads 5.0 as a Decimal."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    # adjusted() first: int() of 1E+999999999 would build a billion digits.
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 20
        and value == value.to_integral_value()
    ):
        return int(value)
    return None


class IntegerType(FieldType):
    name = "integer"
    expected = "a whole number between -9223372036854775808 and 9223372036854775807"
    operators = ORDERING

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return BigInteger()

    def validate(self, field: FieldLike, value: Any) -> Any:
        whole = _whole(value)
        if whole is None or not -_INT64 <= whole < _INT64:
            raise self.fail(field)
        return whole

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        text = raw.strip()
        if not text.isascii() or not _INTEGER_TEXT.fullmatch(text):
            raise ValueError(raw)
        try:
            return self.validate(field, int(text))
        except ValidationFailed:
            raise ValueError(raw) from None

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        text = raw.strip()
        if not text.isascii() or not _INTEGER_TEXT.fullmatch(text):
            raise self.fail(field)
        # validate() keeps it in range (and a rating within its maximum).
        return self.validate(field, int(text))

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        number = f"btrim({text})::numeric"
        return (
            f"CASE WHEN {text} ~ {NUMBER_TEXT} AND {number} = trunc({number})"
            f" AND abs({number}) < 9223372036854775807 THEN {number}::bigint END"
        )


class RatingConfig(NoConfig):
    max: int = Field(default=5, ge=1, le=10)


class RatingType(IntegerType):
    name = "rating"
    expected = "a whole number from 0 to the field's maximum"
    config_model = RatingConfig
    can_be_unique = False
    can_be_primary = False

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "integer", "minimum": 0, "maximum": int(field.config.get("max", 5))}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return SmallInteger()

    def validate(self, field: FieldLike, value: Any) -> Any:
        number = super().validate(field, value)
        if not 0 <= number <= int(field.config.get("max", 5)):
            raise self.fail(field)
        return number

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        top = int(field.config.get("max", 5))
        return (
            f"CASE WHEN {text} ~ '^\\s*\\d{{1,2}}\\s*$' AND btrim({text})::int BETWEEN 0 AND {top}"
            f" THEN btrim({text})::smallint END"
        )


_DURATION = re.compile(r"(-)?(\d{1,9}):([0-5]?\d)(?::([0-5]?\d(?:\.\d{1,6})?))?")
_DURATION_TEXT = r"'^\s*-?\d{1,9}:[0-5]?\d(:[0-5]?\d(\.\d{1,6})?)?\s*$'"


class DurationType(FieldType):
    """A length of time in seconds; "h:mm" and "h:mm:ss" are accepted on input."""

    name = "duration"
    expected = "a number of seconds, or h:mm[:ss]"
    operators = ORDERING
    can_be_unique = False

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "number", "description": "Seconds"}

    def input_schema(self, field: FieldLike) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _DURATION.pattern, "examples": ["1:30"]},
            ],
            "description": "Seconds, or h:mm[:ss]",
        }

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Numeric(asdecimal=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        if isinstance(value, str):
            match = _DURATION.fullmatch(value.strip())
            if match is None:
                raise self.fail(field)
            sign, hours, minutes, seconds = match.groups()
            total = Decimal(hours) * 3600 + Decimal(minutes) * 60 + Decimal(seconds or 0)
            return -total if sign else total
        number = _decimal(value)
        if number is None:
            raise self.fail(field)
        return number

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        number = _decimal(raw)
        if number is not None:
            return number
        try:
            return self.validate(field, raw)
        except ValidationFailed:
            raise ValueError(raw) from None

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        number = _decimal(raw)
        return number if number is not None else self.validate(field, raw)

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return _exact_number

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        # Seconds, or h:mm[:ss] as validate() reads it.
        t = f"btrim({text})"
        clock = (
            f"(CASE WHEN left({t}, 1) = '-' THEN -1 ELSE 1 END)"
            f" * (ltrim(split_part({t}, ':', 1), '-')::numeric * 3600"
            f" + split_part({t}, ':', 2)::numeric * 60"
            f" + coalesce(nullif(split_part({t}, ':', 3), ''), '0')::numeric)"
        )
        return (
            f"CASE WHEN {text} ~ {NUMBER_TEXT} THEN {t}::numeric"
            f" WHEN {text} ~ {_DURATION_TEXT} THEN {clock} END"
        )


class BooleanType(FieldType):
    name = "boolean"
    expected = "true or false"
    can_be_unique = False
    can_be_primary = False

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "boolean"}

    _TEXT_VALUES: ClassVar[dict[str, bool]] = {
        "true": True,
        "1": True,
        "false": False,
        "0": False,
    }

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Boolean()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self.fail(field)
        return value

    # What a spreadsheet may hold; the same words a conversion from text understands.
    _CELL_VALUES: ClassVar[dict[str, bool]] = {
        **dict.fromkeys(("true", "t", "yes", "y", "1", "on"), True),
        **dict.fromkeys(("false", "f", "no", "n", "0", "off"), False),
    }

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        parsed = self._TEXT_VALUES.get(raw.strip().lower())
        if parsed is None:
            raise ValueError(raw)
        return parsed

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        parsed = self._CELL_VALUES.get(raw.strip().lower())
        if parsed is None:
            raise self.fail(field)
        return parsed

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        t = f"lower(btrim({text}))"
        return (
            f"CASE WHEN {t} IN ('true', 't', 'yes', 'y', '1', 'on') THEN true"
            f" WHEN {t} IN ('false', 'f', 'no', 'n', '0', 'off') THEN false END"
        )


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: date) -> str:
    return value.isoformat()


class DateType(FieldType):
    name = "date"
    expected = "a date as YYYY-MM-DD"
    operators = DATES

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Date()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or _DATE.fullmatch(value) is None:
            raise self.fail(field)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(field) from None

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        return self.validate(field, raw.strip())

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return _iso_date

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"tessera_try_date({text})"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    # Naive means UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


class DatetimeType(FieldType):
    name = "datetime"
    expected = "an ISO 8601 date-time"
    operators = DATES

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return DateTime(timezone=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        moment = _moment(value)
        if moment is None:
            raise self.fail(field)
        return moment

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        return self.validate(field, raw.strip())

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return rfc3339

    def compile(self, column: ColumnElement[Any], op: str, operand: Any) -> ColumnElement[bool]:
        if op == "on":
            # The UTC calendar day of the given moment.
            day = operand.date()
            return func.timezone("UTC", column).cast(Date) == day
        return super().compile(column, op, operand)

    def to_text_sql(self, column: str, config: Mapping[str, Any]) -> str:
        return f"to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"tessera_try_timestamptz({text})"


class SelectType(FieldType):
    name = "select"
    expected = "one of the field's options"
    takes_choices = True
    searchable = True
    operators = EQUALITY

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "string", "enum": list(field.options)}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Text()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or value not in field.option_set:
            raise self.fail(field)
        return value

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return (
            f"CASE WHEN btrim({text}) = ANY({sql_text_array(field.options)}) THEN btrim({text}) END"
        )


def _as_list(value: list[str]) -> list[str]:
    return list(value)


class MultiSelectType(FieldType):
    name = "multi_select"
    expected = "a list of the field's options"

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(field.options)},
            "uniqueItems": True,
        }

    sortable = False
    takes_choices = True
    can_be_unique = False
    can_be_primary = False
    operators = frozenset({"eq", "has_any", "has_all", "has_none", "empty", "nempty"})

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return ARRAY(Text())

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, list):
            raise self.fail(field)
        options = field.option_set
        # Duplicates dropped, first occurrence's order kept.
        chosen: dict[str, None] = {}
        for item in value:
            if not isinstance(item, str) or item not in options:
                raise self.fail(field)
            chosen[item] = None
        return list(chosen)

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        if raw not in field.option_set:
            raise ValueError(raw)
        return raw

    def parse_json(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(value)
        return self.parse_text(field, value)

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        """A JSON list, as an export writes it, or options separated by commas."""
        text = raw.strip()
        if text.startswith("["):
            try:
                chosen = loads_exact(text)
            except ValueError:
                raise self.fail(field) from None
        else:
            chosen = [part for part in (p.strip() for p in text.split(",")) if part]
        return self.validate(field, chosen)

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return _as_list

    def compile(self, column: ColumnElement[Any], op: str, operand: Any) -> ColumnElement[bool]:
        # Served by the GIN index: @> and &&.
        if op == "eq":
            return column.contains([operand])
        if op == "has_all":
            return column.contains(list(operand))
        if op == "has_any":
            return column.overlap(list(operand))
        if op == "has_none":
            return or_(~column.overlap(list(operand)), column.is_(None))
        if op == "empty":
            return or_(column.is_(None), func.cardinality(column) == 0)
        if op == "nempty":
            return func.cardinality(column) > 0
        raise ValueError(op)

    def index(self, name: str, column: Column[Any], id_column: Column[Any]) -> Index | None:
        return Index(name, column, postgresql_using="gin")

    def to_text_sql(self, column: str, config: Mapping[str, Any]) -> str:
        return f"array_to_string({column}, ',')"

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"tessera_to_options({text}, {sql_text_array(field.options)})"


# A JSON value's size limit, as its serialised length.
MAX_JSON_BYTES = 100_000


class JsonType(FieldType):
    name = "json"
    expected = f"any JSON value of at most {MAX_JSON_BYTES} bytes"
    sortable = False
    can_be_unique = False
    can_be_primary = False
    operators = frozenset({"empty", "nempty"})

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return JSONB(none_as_null=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        try:
            # Also refuses nesting deeper than orjson's limit, before anything recurses.
            encoded = orjson.dumps(value, default=_json_default)
        except TypeError:
            raise self.fail(field) from None
        if len(encoded) > MAX_JSON_BYTES or encoded_holds_nul(encoded):
            raise self.fail(field)
        return orjson.loads(encoded) if _has_decimal(value) else value

    def parse_cell(self, field: FieldLike, raw: str) -> Any:
        """JSON text; anything that is not JSON is a string. An export writes a string
        value as its bare text, so this reads it back."""
        try:
            value = loads_exact(raw)
        except ValueError:
            value = raw
        return self.validate(field, value)

    def to_text_sql(self, column: str, config: Mapping[str, Any]) -> str:
        return f"({column} #>> '{{}}')"

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        return f"to_jsonb({text})"


def _json_default(value: Any) -> Any:
    """A fraction or a large number inside a JSON value, as the double it is stored as; a
    number no double holds (1e400, 1e-400) is refused rather than made infinite or 0."""
    if isinstance(value, Decimal):
        number = float(value)
        if math.isfinite(number) and (number != 0 or value == 0):
            return number
    raise TypeError(type(value))


def _has_decimal(value: Any) -> bool:
    if isinstance(value, Decimal):
        return True
    if isinstance(value, list):
        return any(_has_decimal(v) for v in value)
    if isinstance(value, dict):
        return any(_has_decimal(v) for v in value.values())
    return False


class LinkConfig(NoConfig):
    # The slug of the schema (of the same app) linked to; the schema service resolves it
    # to target_id and keeps the slug current when that schema is renamed.
    target: str | None = Field(default=None, min_length=1, max_length=50)
    target_id: str | None = Field(default=None, min_length=1, max_length=64)
    # At most one linked record.
    single: bool = False


# Links one record may hold in one field.
MAX_LINKS = 1000


class LinkType(FieldType):
    """Records of another schema of the app (or the same one). Values are written as
    record ids and read as [{"id", "display"}], display being the target's primary
    field."""

    name = "link"
    expected = "a list of record ids of the linked schema"
    storage = JOIN
    sortable = False
    config_model = LinkConfig
    can_be_unique = False
    can_be_primary = False
    operators = frozenset({"has_any", "has_all", "has_none", "empty", "nempty"})

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        linked = {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "display": {}},
        }
        return {"type": "array", "items": linked}

    def input_schema(self, field: FieldLike) -> dict[str, Any]:
        ids = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LINKS}
        if field.config.get("single"):
            return {"anyOf": [{"type": "string"}, {**ids, "maxItems": 1}]}
        return ids

    def validate(self, field: FieldLike, value: Any) -> Any:
        single = bool(field.config.get("single"))
        if single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or len(value) > (1 if single else MAX_LINKS):
            raise ValidationFailed(
                f"Field '{field.slug}' must be "
                + ("one record id" if single else f"a list of at most {MAX_LINKS} record ids"),
                field=field.slug,
            )
        ids: dict[str, None] = {}
        for item in value:
            if isinstance(item, dict):
                # A read value ({"id", "display"}) written back.
                item = item.get("id")
            if not isinstance(item, str) or not 0 < len(item) <= 64 or "\x00" in item:
                raise self.fail(field)
            ids[item] = None
        return list(ids)

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        if not raw or len(raw) > 64 or "\x00" in raw:
            raise ValueError(raw)
        return raw

    def parse_json(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(value)
        return self.parse_text(field, value)


class ReadOnly(FieldType):
    """A value the system sets; clients read and filter it, never write it."""

    read_only = True
    can_be_unique = False

    def validate(self, field: FieldLike, value: Any) -> Any:
        raise ValidationFailed(f"Field '{field.slug}' is read-only", field=field.slug)

    def from_text_sql(self, text: str, field: FieldLike) -> str:
        raise NotImplementedError


class AutonumberType(ReadOnly):
    name = "autonumber"
    expected = "a whole number"
    operators = ORDERING

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "integer"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return BigInteger()

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        return IntegerType().parse_text(field, raw)

    def parse_json(self, field: FieldLike, value: Any) -> Any:
        if isinstance(value, str):
            return self.parse_text(field, value)
        whole = _whole(value)
        if whole is None or abs(whole) >= _INT64:
            raise ValueError(value)
        return whole


class MomentStamp(ReadOnly):
    storage = SYSTEM
    expected = "an ISO 8601 date-time"
    operators = DATES

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return DateTime(timezone=True)

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        moment = _moment(raw)
        if moment is None:
            raise ValueError(raw)
        return moment

    def serializer(self, config: Mapping[str, Any]) -> Serializer:
        return rfc3339

    def compile(self, column: ColumnElement[Any], op: str, operand: Any) -> ColumnElement[bool]:
        return DatetimeType().compile(column, op, operand)


class CreatedAtType(MomentStamp):
    name = "created_at"
    system_column = "created_at"


class UpdatedAtType(MomentStamp):
    name = "updated_at"
    system_column = "updated_at"


class ActorStamp(ReadOnly):
    """The id of who made a change (an account, token or app user)."""

    storage = SYSTEM
    expected = "an id"
    can_be_primary = False
    operators = EQUALITY

    def value_schema(self, field: FieldLike) -> dict[str, Any]:
        return {"type": "string"}

    def column_type(self, config: Mapping[str, Any]) -> TypeEngine[Any]:
        return Text()

    def parse_text(self, field: FieldLike, raw: str) -> Any:
        if not raw or len(raw) > 64 or "\x00" in raw:
            raise ValueError(raw)
        return raw


class CreatedByType(ActorStamp):
    name = "created_by"
    system_column = "created_by"


class UpdatedByType(ActorStamp):
    name = "updated_by"
    system_column = "updated_by"


class RecordIdType(ActorStamp):
    """The record's own id, for sorting and filtering; not a type a field can have."""

    name = "record_id"
    system_column = "id"


RECORD_ID_TYPE = RecordIdType()

REGISTRY: dict[str, FieldType] = {
    kind.name: kind
    for kind in (
        TextType(),
        LongTextType(),
        NumberType(),
        IntegerType(),
        BooleanType(),
        DateType(),
        DatetimeType(),
        EmailType(),
        UrlType(),
        PhoneType(),
        SelectType(),
        MultiSelectType(),
        RatingType(),
        DurationType(),
        JsonType(),
        LinkType(),
        AutonumberType(),
        CreatedAtType(),
        UpdatedAtType(),
        CreatedByType(),
        UpdatedByType(),
    )
}

TYPE_NAMES: tuple[str, ...] = tuple(REGISTRY)


def field_type(name: str) -> FieldType:
    """The registered type called `name`; KeyError for an unknown one."""
    return REGISTRY[name]


def config_of(kind: FieldType, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A field's type-specific settings, validated and with defaults filled in;
    ValidationFailed naming the first bad key."""
    try:
        model: BaseModel = kind.config_model.model_validate(dict(raw))
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "config"
        if first["type"] == "extra_forbidden":
            raise ValidationFailed(
                f"Fields of type {kind.name} take no setting '{key}'", field=key
            ) from None
        raise ValidationFailed(f"Setting '{key}': {first['msg']}", field=key) from None
    return model.model_dump(exclude_none=True)
