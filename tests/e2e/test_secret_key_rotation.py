"""Secrets at rest over the whole stack: the signing key is stored sealed while the gateway
verifies JWTs as ever, and the key-encryption key rotates as the README says (new key
first beside the old, rotate-secret-key, then the new key alone) with nobody logged out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from services.devstack.processes import StartupError
from services.devstack.stack import Stack
from services.kit.secrets import SECRET_KEY_ENV, SecretBox, generate_key
from tests.e2e.conftest import database_url
from tests.factories.accounts import Tenant, sign_up
from tests.support.infra import Infra
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


def restart_identity(stack: Stack, secret_key: str) -> None:
    identity = stack.processes["identity"]
    identity.stop()
    identity.env = {**identity.env, SECRET_KEY_ENV: secret_key}
    identity.start()
    identity.wait_ready()


def rotate_secret_key(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.identity", "rotate-secret-key"],
        env={**os.environ, **stack.processes["identity"].env},
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

        restart_identity(own_stack, f"{second_key},{first_key}")
        assert works(http, tenant, log_in(http, tenant))
        # Nothing is resealed until the command runs; it runs while identity serves.
        assert sealing_key_ids(own_stack) == {key_id(first_key)}
        rotated = rotate_secret_key(own_stack)
        assert rotated.returncode == 0, rotated.stderr
        assert sealing_key_ids(own_stack) == {key_id(second_key)}
        during = log_in(http, tenant)
        assert works(http, tenant, during)

        restart_identity(own_stack, second_key)
        assert works(http, tenant, tenant.token)
        assert works(http, tenant, during)
        assert works(http, tenant, log_in(http, tenant))

        # The old key alone, or one that never sealed anything, opens nothing now.
        for wrong in (first_key, generate_key()):
            with pytest.raises(StartupError) as refused:
                restart_identity(own_stack, wrong)
            assert "TESSERA_SECRET_KEY opens 0 of the 2 stored secrets" in str(refused.value)
            assert "rotate-secret-key" in str(refused.value)

        restart_identity(own_stack, second_key)
        assert works(http, tenant, log_in(http, tenant))
