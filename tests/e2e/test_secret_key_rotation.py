"""Secrets at rest over the whole stack: the signing key is stored sealed while the gateway
verifies JWTs as ever, and the key-encryption key rotates as the README says (new key
first beside the old, rotate-secret-key, then the new key alone) with nobody logged out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

from services.devstack.processes import StartupError
from services.devstack.stack import Stack
from services.kit.secrets import SECRET_KEY_ENV, SecretBox, generate_key
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, sign_up
from tests.factories.apps import create_app
from tests.support.external_api import (
    API_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    ExternalApi,
    external_api,
)
from tests.support.infra import Infra
from tests.support.receiver import Receiver, receiving
from tests.support.stack import running_stack


def sealing_key_ids(stack: Stack) -> set[str]:
    """The ids of the keys the stored signing keys are sealed with (the middle part of a
    sealed value)."""
    with psycopg.connect(database_url(stack, "identity"), autocommit=True) as connection:
        rows = connection.execute("SELECT sealed_private_key FROM signing_keys").fetchall()
    assert rows
    assert not any("PRIVATE KEY" in sealed for (sealed,) in rows)
    return {sealed.split(".")[1] for (sealed,) in rows}


def key_id(key: str) -> str:
    return SecretBox.from_text(key).sealing_key_id


def restart_service(stack: Stack, secret_key: str, service: str = "identity") -> None:
    process = stack.processes[service]
    process.stop()
    process.env = {**process.env, SECRET_KEY_ENV: secret_key}
    process.start()
    process.wait_ready()


def rotate_secret_key(stack: Stack, service: str = "identity") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}", "rotate-secret-key"],
        env={**os.environ, **stack.processes[service].env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def works(http: httpx.Client, tenant: Tenant, token: str) -> bool:
    return http.get("/api/apps", headers={"Authorization": f"JWT {token}"}).status_code == 200


def log_in(http: httpx.Client, tenant: Tenant) -> str:
    response = http.post(
        "/api/user/token-auth/", json={"username": tenant.email, "password": tenant.password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture
def first_key() -> str:
    return generate_key()


@pytest.fixture
def own_stack(infra: Infra, first_key: str) -> Iterator[Stack]:
    with running_stack(infra, secret_key=first_key) as stack:
        yield stack


def test_the_signing_key_is_stored_sealed_and_the_gateway_verifies_jwts(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    assert len(sealing_key_ids(stack)) == 1
    assert works(client, tenant, tenant.token)
    assert works(client, tenant, log_in(client, tenant))


def test_the_key_encryption_key_rotates_without_logging_anyone_out(
    own_stack: Stack, first_key: str
) -> None:
    second_key = generate_key()
    with httpx.Client(base_url=own_stack.gateway_url, timeout=30) as http:
        tenant = sign_up(http)
        assert sealing_key_ids(own_stack) == {key_id(first_key)}

        restart_service(own_stack, f"{second_key},{first_key}")
        assert works(http, tenant, log_in(http, tenant))
        # Nothing is resealed until the command runs; it runs while identity serves.
        assert sealing_key_ids(own_stack) == {key_id(first_key)}
        rotated = rotate_secret_key(own_stack)
        assert rotated.returncode == 0, rotated.stderr
        assert sealing_key_ids(own_stack) == {key_id(second_key)}
        during = log_in(http, tenant)
        assert works(http, tenant, during)

        restart_service(own_stack, second_key)
        assert works(http, tenant, tenant.token)
        assert works(http, tenant, during)
        assert works(http, tenant, log_in(http, tenant))

        # The old key alone, or one that never sealed anything, opens nothing now.
        for wrong in (first_key, generate_key()):
            with pytest.raises(StartupError) as refused:
                restart_service(own_stack, wrong)
            assert "TESSERA_SECRET_KEY opens 0 of the 2 stored secrets" in str(refused.value)
            assert "rotate-secret-key" in str(refused.value)

        restart_service(own_stack, second_key)
        assert works(http, tenant, log_in(http, tenant))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture
def remote() -> Iterator[ExternalApi]:
    with external_api() as running:
        yield running


def hook_sealing_key_ids(
    stack: Stack, table: str = "hooks", column: str = "sealed_secret"
) -> set[str]:
    with psycopg.connect(database_url(stack, "workflows"), autocommit=True) as connection:
        rows = connection.execute(f"SELECT {column} FROM {table}").fetchall()
    assert rows
    return {sealed.split(".")[1] for (sealed,) in rows}


def test_webhook_and_connector_secrets_are_sealed_and_rotate_with_the_key(
    own_stack: Stack, first_key: str, receiver: Receiver, remote: ExternalApi
) -> None:
    second_key = generate_key()
    with httpx.Client(base_url=own_stack.gateway_url, timeout=30) as http:
        tenant = sign_up(http)
        app = create_app(tenant)["slug"]
        flow = {
            "name": "ping",
            "triggers": [{"type": "hook"}],
            "steps": [{"type": "return", "value": {"ok": "true"}}],
        }
        hook = tenant.post(f"/api/apps/{app}/workflows", json=flow).json()["hook"]
        assert hook_sealing_key_ids(own_stack) == {key_id(first_key)}
        outgoing = tenant.post(
            f"/api/apps/{app}/webhooks", json={"url": receiver.url("/out")}
        ).json()
        assert hook_sealing_key_ids(own_stack, "webhooks") == {key_id(first_key)}
        connector = tenant.post(
            f"/api/apps/{app}/connectors",
            json={
                "name": "Inventory",
                "base_url": remote.url(),
                "auth": {"type": "key_in_header", "key_name": "X-Api-Key", "key": API_KEY},
                "calls": [{"name": "items", "url": "/v1/items"}],
            },
        ).json()
        call = f"/api/apps/{app}/connectors/{connector['id']}/calls/items"
        assert tenant.post(f"{call}/initialize").status_code == 200
        sealed_connectors = hook_sealing_key_ids(own_stack, "connectors", "sealed_secrets")
        assert sealed_connectors == {key_id(first_key)}
        # A connector each user connects to, and the owner's tokens for it.
        per_user = tenant.post(
            f"/api/apps/{app}/connectors",
            json={
                "name": "Per user",
                "base_url": remote.url(),
                "auth": {
                    "type": "oauth2_user_agent",
                    "authorize_url": remote.url("/authorize"),
                    "token_url": remote.url("/token"),
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
                "calls": [{"name": "me", "url": "/v1/me"}],
            },
        ).json()
        started = tenant.post(f"/api/apps/{app}/connectors/{per_user['id']}/authorize")
        back = httpx.get(started.json()["authorize_url"] + "&user=ada").headers["location"]
        assert http.get(back.removeprefix(str(http.base_url).rstrip("/"))).status_code == 200
        me = f"/api/apps/{app}/connectors/{per_user['id']}/calls/me"
        assert tenant.post(f"{me}/initialize").json()["body"] == {"user": "ada"}

        def deliver(delivery: str) -> int:
            body = b"{}"
            at = datetime.now(UTC)
            headers = {
                "webhook-id": delivery,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": Webhook(hook["secret"]).sign(delivery, at, body.decode()),
            }
            return http.post(hook["path"], content=body, headers=headers).status_code

        restart_service(own_stack, f"{second_key},{first_key}", "workflows")
        rotated = rotate_secret_key(own_stack, "workflows")
        assert rotated.returncode == 0, rotated.stderr
        assert hook_sealing_key_ids(own_stack) == {key_id(second_key)}
        assert hook_sealing_key_ids(own_stack, "webhooks") == {key_id(second_key)}
        sealed_connectors = hook_sealing_key_ids(own_stack, "connectors", "sealed_secrets")
        assert sealed_connectors == {key_id(second_key)}
        user_tokens = hook_sealing_key_ids(own_stack, "connector_user_tokens", "sealed_tokens")
        assert user_tokens == {key_id(second_key)}
        restart_service(own_stack, second_key, "workflows")
        # The connector's key and the user's tokens open with the new key alone.
        assert tenant.post(f"{call}/run").status_code == 200
        assert tenant.post(f"{me}/run").json()["body"] == {"user": "ada"}
        assert deliver("d1") == 202
        # The outgoing webhook still signs with the secret it was given.
        pinged = tenant.post(f"/api/apps/{app}/webhooks/{outgoing['id']}/ping")
        assert pinged.json()["state"] == "succeeded", pinged.text
        [sent] = receiver.to("/out")
        Webhook(outgoing["secret"]).verify(sent.body, sent.headers)
        # With a key that sealed nothing, the hook cannot check signatures: 503, not 500.
        restart_service(own_stack, first_key, "workflows")
        assert deliver("d2") == 503
