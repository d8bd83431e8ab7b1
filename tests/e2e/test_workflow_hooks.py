"""Incoming webhooks on the running stack: a workflow with a hook trigger takes deliveries
at POST /hooks/{app's public id}/{name}, signed as senders sign them (Standard Webhooks'
own library, GitHub's and Stripe's recipes), and a delivery with a bad signature, a stale
timestamp or parameters the workflow cannot take starts nothing. A delivery sent again is
the same run."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.tables import error_of, invalid
from tests.support.wait import eventually

EVENT_FIELDS: list[dict[str, Any]] = [
    {"slug": "email", "type": "text"},
    {"slug": "source", "type": "text"},
    {"slug": "delivery", "type": "text"},
]


def hooked(scheme: str | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"type": "hook"}
    if scheme is not None:
        hook["scheme"] = scheme
    return {
        "name": "signup",
        "parameters": [{"name": "email", "type": "text", "required": True}],
        "triggers": [hook],
        "steps": [
            {
                "type": "create_record",
                "schema": "events",
                "values": {
                    "email": "params.email",
                    "source": "trigger.json.source",
                    "delivery": "trigger.delivery_id",
                },
            }
        ],
    }


@pytest.fixture
def outsider(stack: Stack) -> Iterator[httpx.Client]:
    """A sender: no credential, no cookie."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as http:
        yield http


def app_with(tenant: Tenant, workflow: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    app = str(create_app(tenant)["slug"])
    create_schema(tenant, app, name="Events", slug="events", fields=EVENT_FIELDS)
    made = tenant.post(f"/api/apps/{app}/workflows", json=workflow)
    assert made.status_code == 201, made.text
    return app, made.json()


def events(tenant: Tenant, app: str) -> list[tuple[str, str | None, str | None]]:
    listed = tenant.get(records_path(app, "events"), params={"sort": "email"}).json()["records"]
    return [(r["email"], r["source"], r["delivery"]) for r in listed]


def runs(tenant: Tenant, app: str) -> list[dict[str, Any]]:
    return list(tenant.get(f"/api/apps/{app}/workflows/signup/runs").json()["runs"])


def standard(secret: str, delivery: str, body: bytes, stamp: float | None = None) -> dict[str, str]:
    at = int(time.time() if stamp is None else stamp)
    signature = Webhook(secret).sign(delivery, datetime.fromtimestamp(at, UTC), body.decode())
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(at),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_a_standard_webhook_delivery_runs_the_workflow_once(
    tenant: Tenant, outsider: httpx.Client
) -> None:
    app, workflow = app_with(tenant, hooked())
    hook = workflow["hook"]
    assert hook["scheme"] == "standard"
    assert hook["secret"].startswith("whsec_")
    assert hook["path"].startswith("/hooks/")
    assert hook["path"].endswith("/signup")
    # Shown once: reading the workflow again does not show it.
    again = tenant.get(f"/api/apps/{app}/workflows/signup").json()["hook"]
    assert again == {"path": hook["path"], "scheme": "standard"}
    body = b'{"email": "ada@example.com", "source": "newsletter", "plan": "pro"}'

    sent = outsider.post(hook["path"], content=body, headers=standard(hook["secret"], "m1", body))
    assert sent.status_code == 202, sent.text
    run_id = sent.json()["run_id"]
    eventually(lambda: events(tenant, app) == [("ada@example.com", "newsletter", "m1")])
    [run] = runs(tenant, app)
    assert (run["id"], run["trigger"], run["state"]) == (run_id, "hook", "succeeded")
    assert run["parameters"] == {"email": "ada@example.com"}

    # The sender retries the same delivery (its own id, a later timestamp): the same run.
    retried = outsider.post(
        hook["path"], content=body, headers=standard(hook["secret"], "m1", body)
    )
    assert (retried.status_code, retried.json()["run_id"]) == (202, run_id)
    assert len(runs(tenant, app)) == 1
    assert len(events(tenant, app)) == 1


def test_a_delivery_that_fails_its_check_starts_nothing(
    tenant: Tenant, outsider: httpx.Client
) -> None:
    app, workflow = app_with(tenant, hooked())
    path, secret = workflow["hook"]["path"], workflow["hook"]["secret"]
    body = b'{"email": "ada@example.com"}'
    forged = standard("whsec_" + "A" * 43 + "=", "m2", body)
    refused = outsider.post(path, content=body, headers=forged)
    assert error_of(refused, 401)["code"] == "unauthenticated"
    # Signed right, but an hour ago: outside the replay window.
    stale = outsider.post(
        path, content=body, headers=standard(secret, "m3", body, time.time() - 3600)
    )
    assert "replay window" in error_of(stale, 401)["message"]
    # Unsigned.
    assert outsider.post(path, json={"email": "ada@example.com"}).status_code == 401
    # Signed, but the workflow's required parameter is missing: 400 naming it.
    empty = b'{"plan": "pro"}'
    invalid(outsider.post(path, content=empty, headers=standard(secret, "m4", empty)), "email")
    # A NUL, escaped in the JSON, which PostgreSQL could not store: a 400, not a 500.
    nul = b'{"email": "ada@example.com", "note": "a\\u0000b"}'
    refused_nul = outsider.post(path, content=nul, headers=standard(secret, "m6", nul))
    assert error_of(refused_nul, 400)["code"] == "validation_error"
    # No such workflow, app or hook.
    public_id = path.split("/")[2]
    for wrong in (
        f"/hooks/{public_id}/nope",
        "/hooks/app_nope/signup",
        f"/hooks/{public_id}/{'x' * 101}",
    ):
        missing = outsider.post(wrong, content=body, headers=standard(secret, "m5", body))
        assert missing.status_code == 404, (wrong, missing.text)
    assert runs(tenant, app) == []
    assert events(tenant, app) == []


def test_github_stripe_and_unsigned_hooks(tenant: Tenant, outsider: httpx.Client) -> None:
    # GitHub: X-Hub-Signature-256 over the body with the secret Tessera made.
    app, workflow = app_with(tenant, hooked("github"))
    path, secret = workflow["hook"]["path"], workflow["hook"]["secret"]
    body = b'{"email": "gh@example.com", "source": "github"}'
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    signed = {
        "x-hub-signature-256": f"sha256={digest}",
        "x-github-delivery": "gh-1",
        "content-type": "application/json",
    }
    assert outsider.post(path, content=body, headers=signed).status_code == 202
    tampered = body.replace(b"gh@", b"evil@")
    assert outsider.post(path, content=tampered, headers=signed).status_code == 401
    eventually(lambda: events(tenant, app) == [("gh@example.com", "github", "gh-1")])

    # Stripe makes the endpoint's secret itself: the builder hands it over.
    flows = f"/api/apps/{app}/workflows"
    edited = tenant.put(f"{flows}/signup", json=hooked("stripe"))
    assert edited.status_code == 200, edited.text
    assert edited.json()["hook"]["scheme"] == "stripe"
    stripes = "whsec_stripe_made_this_one_0123456789"
    given = tenant.post(f"{flows}/signup/hook/secret", json={"secret": stripes})
    assert given.status_code == 200, given.text
    assert given.json()["hook"]["secret"] == stripes
    body = b'{"email": "st@example.com", "source": "stripe"}'
    stamp = int(time.time())
    digest = hmac.new(stripes.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    stripe_signed = {
        "stripe-signature": f"t={stamp},v1={digest}",
        "content-type": "application/json",
    }
    first = outsider.post(path, content=body, headers=stripe_signed)
    assert first.status_code == 202, first.text
    # The same signed delivery again (Stripe names no delivery id): the same run.
    replayed = outsider.post(path, content=body, headers=stripe_signed)
    assert replayed.json()["run_id"] == first.json()["run_id"]
    eventually(lambda: len(events(tenant, app)) == 2)

    # A new secret made by Tessera: the old one stops working at once.
    renewed = tenant.post(f"{flows}/signup/hook/secret")
    assert renewed.status_code == 200
    assert renewed.json()["hook"]["secret"] not in ("", stripes)
    body = b'{"email": "late@example.com"}'
    stamp = int(time.time())
    digest = hmac.new(stripes.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    old = {"stripe-signature": f"t={stamp},v1={digest}", "content-type": "application/json"}
    assert outsider.post(path, content=body, headers=old).status_code == 401

    # None, chosen explicitly: anyone may deliver; a form's fields are parameters too.
    unsigned = hooked("none")
    unsigned["steps"][0]["values"] = {"email": "params.email"}
    assert tenant.put(f"{flows}/signup", json=unsigned).status_code == 200
    form = outsider.post(path, data={"email": "form@example.com", "extra": "ignored"})
    assert form.status_code == 202, form.text
    eventually(lambda: ("form@example.com", None, None) in events(tenant, app))

    # No hook any more: the path answers nothing.
    plain = {**hooked(), "triggers": []}
    assert tenant.put(f"{flows}/signup", json=plain).status_code == 200
    assert outsider.post(path, json={"email": "x@example.com"}).status_code == 404
    assert len(events(tenant, app)) == 3


def test_a_renewed_secret_may_overlap_with_the_old_one(
    tenant: Tenant, outsider: httpx.Client
) -> None:
    app, workflow = app_with(tenant, hooked())
    path, first = workflow["hook"]["path"], workflow["hook"]["secret"]
    renew = f"/api/apps/{app}/workflows/signup/hook/secret"
    for wrong in ({"keep_previous_seconds": -1}, {"keep_previous_seconds": 10**9}):
        invalid(tenant.post(renew, json=wrong), "keep_previous_seconds")
    invalid(tenant.post(renew, json={"keep_previous_seconds": True}), "keep_previous_seconds")
    second = tenant.post(renew, json={"keep_previous_seconds": 3600}).json()["hook"]["secret"]

    def sent(secret: str, delivery: str) -> int:
        body = f'{{"email": "{delivery}@example.com"}}'.encode()
        return outsider.post(
            path, content=body, headers=standard(secret, delivery, body)
        ).status_code

    # While they overlap, senders on either secret get through.
    assert (sent(first, "old1"), sent(second, "new1")) == (202, 202)
    # A renewal without overlap: only the newest works.
    third = tenant.post(renew).json()["hook"]["secret"]
    assert (sent(first, "old2"), sent(second, "new2"), sent(third, "newest")) == (401, 401, 202)
