"""http_request steps on a stack whose operator allows 127.0.0.1 (TESSERA_OUTBOUND_ALLOWLIST),
against a real local receiver: a step calls it with a JSON body and a credential header,
and later steps read its answer; the journal never shows the credential; a 503 is tried
again, a 404 fails the run; an internal address not on the allow-list is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app
from tests.factories.tables import error_of
from tests.support.infra import Infra
from tests.support.receiver import Receiver, receiving
from tests.support.stack import running_stack


@pytest.fixture(scope="module")
def stack(infra: Infra) -> Iterator[Stack]:
    with running_stack(
        infra,
        TESSERA_OUTBOUND_ALLOWLIST="127.0.0.1/32",
        WORKFLOWS_RETRY_BASE_SECONDS="0.1",
        WORKFLOWS_RETRY_MAX_DELAY_SECONDS="0.2",
    ) as running:
        yield running


@pytest.fixture
def tenant(stack: Stack) -> Iterator[Tenant]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as http:
        yield sign_up(http)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def calling(url: str) -> dict[str, Any]:
    return {
        "name": "notify",
        "parameters": [{"name": "email", "type": "text", "required": True}],
        "steps": [
            {
                "id": "call",
                "type": "http_request",
                "method": "POST",
                "url": f"'{url}'",
                "headers": {"Authorization": "'Bearer s3cret-token'", "X-Source": "'tessera'"},
                "body": "{'email': params.email, 'n': 1}",
                "attempts": 3,
            },
            {
                "type": "return",
                "value": {"status": "steps.call.status", "ok": "steps.call.json.ok"},
            },
        ],
    }


def run(tenant: Tenant, workflow: dict[str, Any]) -> tuple[str, httpx.Response]:
    app = str(create_app(tenant)["slug"])
    made = tenant.post(f"/api/apps/{app}/workflows", json=workflow)
    assert made.status_code == 201, made.text
    ran = tenant.post(f"/api/apps/{app}/workflows/notify/run", json={"email": "ada@example.com"})
    return app, ran


def test_a_step_calls_an_allowed_api_and_later_steps_read_its_answer(
    tenant: Tenant, receiver: Receiver
) -> None:
    receiver.script["/hook"] = [(503, b"busy"), (200, b'{"ok": "yes"}')]
    app, ran = run(tenant, calling(receiver.url("/hook")))
    assert ran.status_code == 200, ran.text
    assert ran.json()["response"] == {"status": 200, "ok": "yes"}

    first, second = receiver.to("/hook")
    assert json.loads(second.body) == {"email": "ada@example.com", "n": 1}
    assert second.headers["authorization"] == "Bearer s3cret-token"
    assert second.headers["content-type"] == "application/json"
    assert first.body == second.body

    logged = tenant.get(f"/api/apps/{app}/workflows/notify/runs/{ran.json()['run_id']}").json()
    attempts = [(s["attempt"], s["state"]) for s in logged["steps"] if s["place"] == "steps[0]"]
    assert attempts == [(1, "retrying"), (2, "succeeded")]
    assert "s3cret-token" not in json.dumps(logged)
    assert logged["steps"][1]["input"]["headers"] == {"Authorization": "***", "X-Source": "tessera"}


def test_a_client_error_fails_the_run_and_an_internal_address_is_refused(
    tenant: Tenant, receiver: Receiver
) -> None:
    receiver.script["/gone"] = [(404, b"no")]
    _, failed = run(tenant, calling(receiver.url("/gone")))
    error = error_of(failed, 422)
    assert error["field"] == "steps[0]"
    assert "404" in error["message"]
    assert len(receiver.to("/gone")) == 1

    # An escaped NUL in the answer's JSON, which the run's journal could not keep.
    receiver.script["/nul"] = [(200, b'{"ok": "a\\u0000b"}')]
    _, nul = run(tenant, calling(receiver.url("/nul")))
    assert "NUL" in error_of(nul, 422)["message"]

    for internal in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"):
        _, refused = run(tenant, calling(internal))
        assert "does not reach it" in error_of(refused, 422)["message"]
