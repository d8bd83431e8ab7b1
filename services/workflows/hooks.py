"""Checking an incoming webhook's signature, by the scheme its hook was given:

  standard  Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: "v1,<b64>"
            over "<id>.<timestamp>.<body>" with the secret's bytes), the default
  github    X-Hub-Signature-256: "sha256=<hex>" over the body (X-GitHub-Delivery names it)
  stripe    Stripe-Signature: "t=<timestamp>,v1=<hex>" over "<timestamp>.<body>"
  none      no check at all, chosen explicitly

Outgoing webhooks sign with the standard scheme (sign_standard).

A signed timestamp must be within the replay window of the given clock; the delivery's id
is returned so the caller can refuse a second delivery of it inside the window."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from services.kit.errors import Unauthenticated, ValidationFailed

SCHEMES: Final = ("standard", "github", "stripe", "none")
# Standard Webhooks' and Stripe's default tolerance.
REPLAY_WINDOW_SECONDS = 300
STANDARD_PREFIX = "whsec_"
MAX_SIGNATURE_HEADER = 2000


@dataclass(frozen=True, slots=True)
class Delivery:
    # The sender's id of this delivery, when the scheme has one.
    id: str | None
    # When the sender signed it (seconds since the epoch), when the scheme says.
    timestamp: int | None


def new_secret(scheme: str) -> str:
    """A secret for a new hook, shown once: Standard Webhooks' form (whsec_ + base64 of 32
    random bytes) for `standard`, a random token for the others."""
    if scheme == "standard":
        return STANDARD_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


def standard_key(secret: str) -> bytes:
    """The signing key a Standard Webhooks secret stands for: the bytes after whsec_."""
    return base64.b64decode(secret.removeprefix(STANDARD_PREFIX), validate=True)


def standard_signature(key: bytes, delivery_id: str, timestamp: int, body: bytes) -> bytes:
    return _hmac(key, f"{delivery_id}.{timestamp}.".encode() + body)


def sign_standard(signing_secrets: list[str], delivery_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header for a delivery: "v1,<base64>" for each secret (two while
    a renewed one overlaps the old), space-separated, as receivers check any of them."""
    return " ".join(
        "v1,"
        + base64.b64encode(
            standard_signature(standard_key(secret), delivery_id, timestamp, body)
        ).decode()
        for secret in signing_secrets
    )


def _refused(reason: str) -> Unauthenticated:
    return Unauthenticated(f"Webhook signature check failed: {reason}")


def _timestamp(raw: str | None, now: float, window: int) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise _refused("no valid timestamp")
    stamp = int(raw)
    if abs(now - stamp) > window:
        raise _refused("the timestamp is outside the replay window")
    return stamp


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def verify(
    scheme: str,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    window: int = REPLAY_WINDOW_SECONDS,
) -> Delivery:
    """The delivery, once its signature holds; Unauthenticated (401) otherwise."""
    given = _lower(headers)
    if scheme == "none":
        return Delivery(id=None, timestamp=None)
    if scheme == "standard":
        return _standard(secret, given, body, now, window)
    if scheme == "github":
        return _github(secret, given, body)
    if scheme == "stripe":
        return _stripe(secret, given, body, now, window)
    raise ValidationFailed(f"Unknown signature scheme {scheme[:32]!r}", field="scheme")


def _standard(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, window: int
) -> Delivery:
    delivery_id = headers.get("webhook-id")
    signatures = headers.get("webhook-signature", "")
    if not delivery_id or not signatures or len(signatures) > MAX_SIGNATURE_HEADER:
        raise _refused("webhook-id and webhook-signature are required")
    stamp = _timestamp(headers.get("webhook-timestamp"), now, window)
    try:
        key = standard_key(secret)
    except binascii.Error:
        raise _refused("the hook's secret is not base64") from None
    expected = standard_signature(key, delivery_id, stamp, body)
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            offered = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(offered, expected):
            return Delivery(id=delivery_id, timestamp=stamp)
    raise _refused("no signature matches")


def _github(secret: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    offered = headers.get("x-hub-signature-256", "")
    if not offered.startswith("sha256=") or len(offered) > MAX_SIGNATURE_HEADER:
        raise _refused("X-Hub-Signature-256 is required")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise _refused("the signature does not match")
    return Delivery(id=headers.get("x-github-delivery") or None, timestamp=None)


def _stripe(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, window: int
) -> Delivery:
    header = headers.get("stripe-signature", "")
    if not header or len(header) > MAX_SIGNATURE_HEADER:
        raise _refused("Stripe-Signature is required")
    parts = [part.partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    stamp = _timestamp(stamps[0] if len(stamps) == 1 else None, now, window)
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    for key, _, value in parts:
        if key.strip() == "v1" and hmac.compare_digest(value.strip().encode(), expected.encode()):
            return Delivery(id=None, timestamp=stamp)
    raise _refused("no signature matches")
