"""A run's parameters as the caller gives them (a JSON object, or HTML form fields, whose
values are all text) turned into the typed values the workflow declares; anything else is
refused naming the parameter, and nothing runs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.kit.errors import ValidationFailed
from services.kit.json import holds_nul
from services.workflows.definitions import Parameter

MAX_TEXT = 100_000
MAX_LIST = 1000
MAX_RECORD_ID = 64
_INT64 = 2**63
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _refuse(parameter: Parameter, what: str) -> ValidationFailed:
    return ValidationFailed(f"Parameter '{parameter.name}' must be {what}", field=parameter.name)


def _number(parameter: Parameter, value: Any, *, from_text: bool) -> int | float:
    if isinstance(value, bool):
        raise _refuse(parameter, "a number")
    if isinstance(value, int | float | Decimal) and not from_text:
        number = value
    elif isinstance(value, str) and from_text and value.strip().isascii():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _refuse(parameter, "a number") from None
    else:
        raise _refuse(parameter, "a number")
    if isinstance(number, Decimal) and not number.is_finite():
        raise _refuse(parameter, "a finite number")
    # Whole numbers within 64 bits stay exact; anything else is a double, as in CEL.
    if (
        isinstance(number, Decimal)
        and number.adjusted() < 19
        and number == number.to_integral_value()
    ):
        number = int(number)
    if isinstance(number, int) and abs(number) < _INT64:
        return number
    try:
        double = float(number)
    except OverflowError:
        raise _refuse(parameter, "a finite number") from None
    if not math.isfinite(double):
        raise _refuse(parameter, "a finite number")
    return double


def _one(parameter: Parameter, value: Any, *, from_text: bool) -> Any:
    kind = parameter.type
    if kind == "text":
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            raise _refuse(parameter, f"a text of at most {MAX_TEXT} characters")
        return value
    if kind == "number":
        return _number(parameter, value, from_text=from_text)
    if kind == "integer":
        number = _number(parameter, value, from_text=from_text)
        if not isinstance(number, int) or abs(number) >= _INT64:
            raise _refuse(parameter, "a whole number")
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _refuse(parameter, "true or false")
    if kind == "date":
        try:
            return date.fromisoformat(value).isoformat() if isinstance(value, str) else _bad()
        except ValueError:
            raise _refuse(parameter, "a date as YYYY-MM-DD") from None
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else _bad()
        except ValueError:
            raise _refuse(parameter, "an ISO 8601 date-time with its offset") from None
        if moment.tzinfo is None:
            raise _refuse(parameter, "an ISO 8601 date-time with its offset")
        return moment.isoformat()
    if kind == "record":
        if not isinstance(value, str) or not 0 < len(value) <= MAX_RECORD_ID or "\x00" in value:
            raise _refuse(parameter, f"the id of a record of {parameter.schema_slug}")
        return value
    # json: any value, as given (form fields give text), but no NUL: jsonb holds none.
    if holds_nul(value):
        raise _refuse(parameter, "JSON without NUL characters")
    return value


def _bad() -> Any:
    raise ValueError


def typed_parameters(
    declared: Sequence[Parameter], given: Mapping[str, Any], *, from_form: bool = False
) -> dict[str, Any]:
    """`given` as the declared parameters: each checked and converted, absent optional ones
    null, unknown ones refused. Form fields are text, and repeat for lists."""
    by_name = {p.name: p for p in declared}
    for name in given:
        if name not in by_name:
            raise ValidationFailed(f"Unknown parameter {name[:64]!r}", field=name[:100])
    values: dict[str, Any] = {}
    for parameter in declared:
        raw = given.get(parameter.name)
        if raw is None or (from_form and raw in ("", [])):
            if parameter.required:
                raise ValidationFailed(
                    f"Parameter '{parameter.name}' is required", field=parameter.name
                )
            values[parameter.name] = [] if parameter.list else None
            continue
        if parameter.list:
            items = raw if isinstance(raw, list) else ([raw] if from_form else None)
            if items is None or len(items) > MAX_LIST:
                raise _refuse(parameter, f"a list of at most {MAX_LIST} values")
            values[parameter.name] = [_one(parameter, v, from_text=from_form) for v in items]
        else:
            if isinstance(raw, list):
                if not from_form or len(raw) != 1:
                    raise _refuse(parameter, "one value, not a list")
                raw = raw[0]
            values[parameter.name] = _one(parameter, raw, from_text=from_form)
    return values
