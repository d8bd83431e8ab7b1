"""JSON that keeps numbers exact. orjson is fast but reads every fractional or 64-bit-plus
number as a double (a 30-digit integer loses its tail), so a body holding such a number
is read again with the standard parser, numbers as Decimal."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

# A JSON integer beyond this travels as a double through orjson.
_SAFE_INTEGER = 2**53


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


def _slow(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject)


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


__all__ = ["loads_exact"]
