"""Opaque, prefixed, unguessable identifiers: 26 characters of 5 random bits each (130
bits).

The alphabet is lowercase base32, so an id is also a valid unquoted PostgreSQL identifier
and a valid NATS subject token."""

from __future__ import annotations

import secrets

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"
# Every byte to one of the 32 characters; 256 is a multiple of 32, so each is equally likely.
_TO_ALPHABET = bytes(_ALPHABET[b % 32] for b in range(256))
ID_LENGTH = 26


def new_id(prefix: str) -> str:
    # One translate instead of base64.b32encode, which is pure Python up to 3.12 and
    # costs several microseconds: an import makes two ids per record.
    token = secrets.token_bytes(ID_LENGTH).translate(_TO_ALPHABET).decode("ascii")
    return f"{prefix}_{token}"


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids at once, from one read of the random source."""
    tokens = secrets.token_bytes(ID_LENGTH * count).translate(_TO_ALPHABET).decode("ascii")
    return [
        f"{prefix}_{tokens[start : start + ID_LENGTH]}"
        for start in range(0, ID_LENGTH * count, ID_LENGTH)
    ]


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe secret for cookies and refresh tokens; store only its hash."""
    return secrets.token_urlsafe(nbytes)
