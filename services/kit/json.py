"""JSON that keeps numbers exact. orjson is fast but reads every fractional or 64-bit-plus
number as a double (a 30-digit integer loses its tail), so a body holding such a number
is read again with the standard parser: fractions and integers past 64 bits as Decimal,
which dumps_exact writes out digit for digit."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

# A JSON integer beyond this travels as a double through orjson.
_SAFE_INTEGER = 2**53


class NestedTooDeeply(ValueError):
    """JSON deeper than any record is; the parsers stop at about a thousand levels."""


def loads_exact(raw: bytes | str) -> Any:
    """Parses JSON; fractions and large numbers come back as exact Decimal. ValueError
    (orjson.JSONDecodeError is one) for anything that is not JSON; NaN and Infinity are
    not JSON."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses numbers beyond a double's range; the exact parser may not.
        return _slow(raw)
    return _slow(raw) if _inexact(value) else value


def dumps_exact(value: Any) -> bytes:
    """JSON of a value that may hold Decimals (from loads_exact), every digit kept."""
    return orjson.dumps(value, default=_exact_number)


def holds_nul(value: Any) -> bool:
    """Whether a JSON value has a NUL character in a text or a key anywhere: PostgreSQL's
    jsonb (and text) cannot store one, so such a value must be refused before it gets there."""
    return encoded_holds_nul(dumps_exact(value))


def encoded_holds_nul(encoded: bytes) -> bool:
    """holds_nul for a value already encoded (a JSON encoder writes a NUL as \\u0000)."""
    return b"\\u0000" in encoded


def _exact_number(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(type(value).__name__)


def _slow(raw: bytes | str) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal, parse_int=_integer, parse_constant=_reject)
    except RecursionError:
        # Nesting deeper than any record has; orjson stops at 1024 levels too.
        raise NestedTooDeeply("JSON nested too deeply") from None


def _integer(text: str) -> int | Decimal:
    # Past 64 bits an int cannot be written out again by orjson; a Decimal can, exactly.
    value = int(text)
    return value if -(2**63) <= value < 2**63 else Decimal(text)


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _inexact(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, int):
        return not -_SAFE_INTEGER < value < _SAFE_INTEGER
    if isinstance(value, list):
        return any(_inexact(item) for item in value)
    if isinstance(value, dict):
        return any(_inexact(item) for item in value.values())
    return False


__all__ = ["NestedTooDeeply", "dumps_exact", "loads_exact"]
