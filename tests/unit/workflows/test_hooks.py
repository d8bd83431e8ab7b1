"""Signatures made the way each sender makes them: Standard Webhooks' own library, and
GitHub's and Stripe's documented recipes."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from services.kit.errors import Unauthenticated
from services.workflows.hooks import Delivery, new_secret, verify

BODY = b'{"email": "ada@example.com", "score": 7}'
NOW = 1_764_590_400.0


def standard_headers(secret: str, delivery: str, stamp: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(delivery, datetime.fromtimestamp(stamp, UTC), body.decode())
    return {"webhook-id": delivery, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def github_headers(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1"}


def stripe_headers(secret: str, stamp: int, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest},v0=ignored"}


def test_a_standard_webhook_signed_by_the_reference_library_is_accepted() -> None:
    secret = new_secret("standard")
    assert secret.startswith("whsec_")
    headers = standard_headers(secret, "msg_1", int(NOW), BODY)
    assert verify("standard", secret, headers, BODY, now=NOW) == Delivery("msg_1", int(NOW))


def test_github_and_stripe_signatures_are_accepted() -> None:
    secret = new_secret("github")
    assert verify("github", secret, github_headers(secret, BODY), BODY, now=NOW).id == "d-1"
    stamped = stripe_headers(secret, int(NOW) - 60, BODY)
    assert verify("stripe", secret, stamped, BODY, now=NOW).timestamp == int(NOW) - 60


@pytest.mark.parametrize("scheme", ["standard", "github", "stripe"])
def test_another_secret_or_another_body_is_refused(scheme: str) -> None:
    secret, other = new_secret(scheme), new_secret(scheme)
    make = {
        "standard": lambda s, b: standard_headers(s, "msg_1", int(NOW), b),
        "github": lambda s, b: github_headers(s, b),
        "stripe": lambda s, b: stripe_headers(s, int(NOW), b),
    }[scheme]
    for headers, body in ((make(other, BODY), BODY), (make(secret, BODY), BODY + b" "), ({}, BODY)):
        with pytest.raises(Unauthenticated):
            verify(scheme, secret, headers, body, now=NOW)


@pytest.mark.parametrize("scheme", ["standard", "stripe"])
def test_a_signature_outside_the_replay_window_is_refused(scheme: str) -> None:
    secret = new_secret(scheme)
    stale = int(NOW) - 301
    if scheme == "standard":
        headers = standard_headers(secret, "msg_1", stale, BODY)
    else:
        headers = stripe_headers(secret, stale, BODY)
    with pytest.raises(Unauthenticated, match="replay window"):
        verify(scheme, secret, headers, BODY, now=NOW)
    assert verify(scheme, secret, headers, BODY, now=NOW, window=400).timestamp == stale


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "m", "webhook-timestamp": "x", "webhook-signature": "v1,abc"},
        {"webhook-id": "m", "webhook-timestamp": str(int(NOW)), "webhook-signature": "v1,%%%"},
        {"webhook-id": "m", "webhook-timestamp": str(int(NOW)), "webhook-signature": "nonsense"},
        {"webhook-id": "m", "webhook-timestamp": "٣", "webhook-signature": "v1,abc"},
    ],
)
def test_malformed_standard_headers_are_refused_not_errors(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated):
        verify("standard", new_secret("standard"), headers, BODY, now=NOW)


def test_none_checks_nothing_and_the_real_clock_works_too() -> None:
    assert verify("none", "", {}, BODY, now=NOW) == Delivery(None, None)
    secret = new_secret("standard")
    stamp = int(time.time())
    headers = standard_headers(secret, "msg_2", stamp, BODY)
    assert verify("standard", secret, headers, BODY, now=time.time()).id == "msg_2"


def test_githubs_documented_example_is_accepted() -> None:
    # The worked example in GitHub's "Validating webhook deliveries".
    headers = {
        "X-Hub-Signature-256": "sha256="
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    }
    assert verify("github", "It's a Secret to Everybody", headers, b"Hello, World!", now=NOW)
