"""Keyset cursors: where a page ended, handed to the client as an opaque, signed token. A
cursor is bound to the sort and filter it was made for; a tampered or foreign one is a
400, never a wrong page."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from services.kit.errors import ValidationFailed
from services.records.repository import Keyset

MAX_CURSOR_LENGTH = 4096
_SIGNATURE_BYTES = 16


def _bad() -> ValidationFailed:
    return ValidationFailed("'cursor' is not a cursor this list handed out", field="cursor")


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"D": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "d":
            return Decimal(text)
        if tag == "t":
            return datetime.fromisoformat(text)
        if tag == "D":
            return date.fromisoformat(text)
        raise ValueError(tag)
    return value


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, keyset: Keyset, *, bound_to: str) -> str:
        payload = orjson.dumps(
            {"v": [_encode_value(v) for v in keyset.values], "i": keyset.record_id, "b": bound_to}
        )
        token = payload + self._sign(payload)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def decode(self, cursor: str, *, bound_to: str, keys: int) -> Keyset:
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise _bad()
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            raise _bad() from None
        payload, signature = token[:-_SIGNATURE_BYTES], token[-_SIGNATURE_BYTES:]
        if len(token) <= _SIGNATURE_BYTES or not hmac.compare_digest(
            signature, self._sign(payload)
        ):
            raise _bad()
        body = orjson.loads(payload)
        if body.get("b") != bound_to:
            raise ValidationFailed(
                "'cursor' was made for another sort or filter; start again without it",
                field="cursor",
            )
        values = body["v"]
        if len(values) != keys:
            raise _bad()
        return Keyset(values=tuple(_decode_value(v) for v in values), record_id=body["i"])


def binding(*parts: object) -> str:
    """A short digest of what a cursor is bound to (schema version, sort, filter)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


__all__ = ["CursorCodec", "binding"]
