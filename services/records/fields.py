"""The field-type registry: one class per field type, knowing its column type, how to
validate and coerce a JSON value for storage, how to serialise a stored value back to JSON,
how to parse a filter's query-string value, its equality clause, its index and whether it
sorts. Adding a type means adding one class here and listing it in REGISTRY."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Boolean, Column, Date, DateTime, Index, Numeric, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from services.kit.clock import rfc3339
from services.kit.errors import ValidationFailed


class FieldLike(Protocol):
    """What a type needs to know about the field it checks a value for."""

    @property
    def slug(self) -> str: ...

    @property
    def option_set(self) -> frozenset[str]: ...


# Turns a stored (non-null) value into JSON; None means the stored value already is JSON.
Serializer = Callable[[Any], Any] | None


class FieldType:
    """Base class of every field type. Values reaching validate() are never None: the
    caller handles null and `required` before asking the type."""

    name: ClassVar[str]
    sortable: ClassVar[bool] = True
    # Human wording of what a value must be, used in error messages.
    expected: ClassVar[str]

    def column_type(self) -> TypeEngine[Any]:
        raise NotImplementedError

    def validate(self, field: FieldLike, value: Any) -> Any:
        """JSON input -> the value to store; ValidationFailed(field=slug) when unfit."""
        raise NotImplementedError

    def serializer(self) -> Serializer:
        """A function turning a stored (non-null) value into JSON, or None for identity."""
        return None

    def serialize(self, value: Any) -> Any:
        if value is None:
            return None
        fn = self.serializer()
        return value if fn is None else fn(value)

    def parse_filter(self, field: FieldLike, raw: str, *, param: str) -> Any:
        """A query-string value -> the value to compare with; ValidationFailed(field=param)."""
        try:
            return self.validate(field, raw)
        except ValidationFailed as error:
            raise ValidationFailed(_filter_message(field, self.expected), field=param) from error

    def eq_clause(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column == value

    def index(self, name: str, column: Column[Any], id_column: Column[Any]) -> Index | None:
        """The index serving this field's sort and filter; (column, id) matches the
        tie-break by id, so a sorted page is read straight off the index."""
        if not self.sortable:
            return None
        return Index(name, column, id_column)

    def fail(self, field: FieldLike) -> ValidationFailed:
        return ValidationFailed(f"Field '{field.slug}' must be {self.expected}", field=field.slug)


def _filter_message(field: FieldLike, expected: str) -> str:
    return f"Filter on '{field.slug}' must be {expected}"


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


class TextType(FieldType):
    name = "text"
    max_length: ClassVar[int] = 10_000
    expected = "a string of at most 10000 characters"

    def column_type(self) -> TypeEngine[Any]:
        return Text()

    def validate(self, field: FieldLike, value: Any) -> Any:
        return _check_string(field, value, self.max_length, self)


class LongTextType(TextType):
    name = "long_text"
    max_length = 1_000_000
    expected = "a string of at most 1000000 characters"
    sortable = False


# An int of this magnitude or more cannot travel as a JSON integer (64-bit) everywhere.
_INT_LIMIT = 2**63


def _number_out(value: Decimal) -> int | float:
    if value == value.to_integral_value() and -_INT_LIMIT < value < _INT_LIMIT:
        return int(value)
    return float(value)


class NumberType(FieldType):
    name = "number"
    expected = "a number"

    def column_type(self) -> TypeEngine[Any]:
        return Numeric(asdecimal=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        # bool is an int subclass in Python; JSON true is not a number.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(field)
            # repr() is the shortest text that round-trips: 0.1 stays 0.1, not its binary.
            return Decimal(repr(value))
        return Decimal(value)

    def serializer(self) -> Serializer:
        return _number_out

    def parse_filter(self, field: FieldLike, raw: str, *, param: str) -> Any:
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise ValidationFailed(_filter_message(field, self.expected), field=param) from None
        if not number.is_finite():
            raise ValidationFailed(_filter_message(field, self.expected), field=param)
        return number


class BooleanType(FieldType):
    name = "boolean"
    expected = "true or false"
    _FILTER_VALUES: ClassVar[dict[str, bool]] = {
        "true": True,
        "1": True,
        "false": False,
        "0": False,
    }

    def column_type(self) -> TypeEngine[Any]:
        return Boolean()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self.fail(field)
        return value

    def parse_filter(self, field: FieldLike, raw: str, *, param: str) -> Any:
        parsed = self._FILTER_VALUES.get(raw.strip().lower())
        if parsed is None:
            raise ValidationFailed(_filter_message(field, "true, false, 1 or 0"), field=param)
        return parsed


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: date) -> str:
    return value.isoformat()


class DateType(FieldType):
    name = "date"
    expected = "a date as YYYY-MM-DD"

    def column_type(self) -> TypeEngine[Any]:
        return Date()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or _DATE.fullmatch(value) is None:
            raise self.fail(field)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(field) from None

    def serializer(self) -> Serializer:
        return _iso_date


class DatetimeType(FieldType):
    name = "datetime"
    expected = "an ISO 8601 date-time"

    def column_type(self) -> TypeEngine[Any]:
        return DateTime(timezone=True)

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > 64:
            raise self.fail(field)
        try:
            moment = datetime.fromisoformat(value)
            # Naive means UTC.
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise self.fail(field) from None

    def serializer(self) -> Serializer:
        return rfc3339


# Deliberately loose: one @, no whitespace, a dot in the domain. Deliverability is the
# sender's business; this only keeps obvious garbage out.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class EmailType(FieldType):
    name = "email"
    expected = "an email address"
    max_length: ClassVar[int] = 254

    def column_type(self) -> TypeEngine[Any]:
        return Text()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise self.fail(field)
        if _EMAIL.fullmatch(value) is None:
            raise self.fail(field)
        return value


class UrlType(FieldType):
    name = "url"
    expected = "an absolute http or https URL"
    max_length: ClassVar[int] = 2048

    def column_type(self) -> TypeEngine[Any]:
        return Text()

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


class SelectType(FieldType):
    name = "select"
    expected = "one of the field's options"

    def column_type(self) -> TypeEngine[Any]:
        return Text()

    def validate(self, field: FieldLike, value: Any) -> Any:
        if not isinstance(value, str) or value not in field.option_set:
            raise self.fail(field)
        return value


def _as_list(value: list[str]) -> list[str]:
    return list(value)


class MultiSelectType(FieldType):
    name = "multi_select"
    expected = "a list of the field's options"
    sortable = False

    def column_type(self) -> TypeEngine[Any]:
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

    def serializer(self) -> Serializer:
        return _as_list

    def parse_filter(self, field: FieldLike, raw: str, *, param: str) -> Any:
        if raw not in field.option_set:
            raise ValidationFailed(
                _filter_message(field, "one of the field's options"), field=param
            )
        return raw

    def eq_clause(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        # "eq" on a multi-select means "contains"; @> is served by the GIN index.
        return column.contains([value])

    def index(self, name: str, column: Column[Any], id_column: Column[Any]) -> Index | None:
        return Index(name, column, postgresql_using="gin")


REGISTRY: dict[str, FieldType] = {
    kind.name: kind
    for kind in (
        TextType(),
        LongTextType(),
        NumberType(),
        BooleanType(),
        DateType(),
        DatetimeType(),
        EmailType(),
        UrlType(),
        SelectType(),
        MultiSelectType(),
    )
}


def field_type(name: str) -> FieldType:
    """The registered type called `name`; KeyError for an unknown one."""
    return REGISTRY[name]


__all__ = ["REGISTRY", "FieldLike", "FieldType", "field_type"]
