"""Opaque, prefixed, unguessable identifiers (128 random bits).

The alphabet is lowercase base32, so an id is also a valid unquoted PostgreSQL identifier
and a valid NATS subject token."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    token = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{token}"


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe secret for cookies and refresh tokens; store only its hash."""
    return secrets.token_urlsafe(nbytes)
