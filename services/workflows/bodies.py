"""Request bodies that travel as JSON through the gateway, checked here against a strict
pydantic model: the first problem becomes one validation error naming its field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from services.kit.errors import ValidationFailed
from services.kit.json import dumps_exact, loads_exact

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Past this exponent a number is refused: written out exactly, 1e999999999 is a gigabyte.
MAX_EXPONENT = 300


def tame(value: Any) -> bool:
    """Whether every number in a parsed JSON value can be written out in reasonable room."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Decimal) and not (
            item.is_finite() and abs(item.adjusted()) <= MAX_EXPONENT
        ):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = loads_exact(raw) if raw.strip() else {}
        if not tame(data):
            raise ValidationFailed("The body holds a number too large or too small")
        # What cannot be written out again (a lone surrogate, nesting past orjson's
        # limit) is refused here, not where it is next written.
        dumps_exact(data)
    except ValueError:
        raise ValidationFailed("The body is not valid JSON") from None
    except (RecursionError, TypeError):
        raise ValidationFailed("The body is nested too deeply or holds invalid text") from None
    if not isinstance(data, dict):
        raise ValidationFailed(f"{what} is a JSON object")
    return data


def validated(data: Any, model: type[Model], *, prefix: str = "") -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "") or None
        if first["type"] == "extra_forbidden":
            message = f"Unknown field '{field}'"
        elif first["type"] == "missing":
            message = f"Field '{field}' is required"
        else:
            message = f"Field '{field}': {first['msg']}"
        raise ValidationFailed(message, field=field) from None


def parsed(raw: bytes, model: type[Model], what: str) -> Model:
    return validated(json_object(raw, what), model)
