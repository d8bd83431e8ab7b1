"""The signing keys' private halves at rest: sealed in the database, sealed by the
migration when they were stored in the clear before, and an identity without the key
that opens them refuses to start, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, StartupError
from services.identity.tokens import generate_key_pair, signing_key_context
from services.kit.migrations import upgrade
from services.kit.secrets import SECRET_KEY_ENV, SecretBox, generate_key, is_sealed
from tests.integration.identity.support import DEADLINE, database
from tests.support.infra import Infra
from tests.support.nats_users import nats_env
from tests.support.services import SECRET_KEY, migrate_as_owner
from tests.support.trust import session_pki

MIGRATIONS = Path(__file__).parents[3] / "services" / "identity" / "migrations"


def stored_keys(url: str) -> list[tuple[str, str]]:
    with database(url) as connection:
        rows = connection.execute(
            "SELECT kid, sealed_private_key FROM signing_keys ORDER BY kid"
        ).fetchall()
    return [(kid, sealed) for kid, sealed in rows]


def columns(url: str) -> set[str]:
    with database(url) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'signing_keys'"
        ).fetchall()
    return {name for (name,) in rows}


def start_identity(infra: Infra, url: str, **env: str) -> ServiceProcess:
    port = free_port()
    pki = session_pki(infra)
    process = ServiceProcess(
        "identity",
        "services.identity",
        {
            "IDENTITY_DATABASE_URL": url,
            "IDENTITY_GRPC_PORT": str(port),
            **nats_env(infra),
            **pki.env_for("identity"),
            **env,
        },
        log_path=infra.work_dir / f"identity-{port}.log",
        grpc_address=f"127.0.0.1:{port}",
        grpc_credentials=pki.channel_credentials("identity"),
    )
    process.start()
    return process


def test_the_stored_signing_keys_are_sealed_not_pem(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    published = stub.GetSigningKeys(identity_pb2.GetSigningKeysRequest(), timeout=DEADLINE)
    stored = stored_keys(db_url)

    assert {kid for kid, _ in stored} >= {key.kid for key in published.keys}
    assert "private_key_pem" not in columns(db_url)
    box = SecretBox.from_text(SECRET_KEY)
    for kid, sealed in stored:
        assert is_sealed(sealed)
        assert "PRIVATE KEY" not in sealed
        assert box.open(sealed, context=signing_key_context(kid)).startswith(
            b"-----BEGIN PRIVATE KEY-----"
        )


def test_the_migration_seals_keys_stored_in_the_clear_and_needs_the_key_for_it(
    infra: Infra,
) -> None:
    provisioned = infra.new_database("identity_plaintext")
    url = provisioned.admin_url
    upgrade(MIGRATIONS, provisioned.owner_url, "0004")
    plain = generate_key_pair()
    with database(url) as connection:
        connection.execute(
            "INSERT INTO signing_keys (kid, algorithm, private_key_pem, public_key_pem,"
            " activated_at) VALUES (%s, %s, %s, %s, now())",
            (plain.kid, plain.algorithm, plain.private_key_pem, plain.public_key_pem),
        )

    with pytest.raises(StartupError, match="TESSERA_SECRET_KEY is not set"):
        migrate_as_owner("identity", provisioned, **{SECRET_KEY_ENV: ""})
    # Refused, it changed nothing: the key is still there, as it was.
    assert "private_key_pem" in columns(url)

    key = generate_key()
    migrate_as_owner("identity", provisioned, **{SECRET_KEY_ENV: key})

    [(kid, sealed)] = stored_keys(url)
    assert kid == plain.kid
    assert "private_key_pem" not in columns(url)
    opened = SecretBox.from_text(key).open(sealed, context=signing_key_context(kid))
    assert opened.decode() == plain.private_key_pem


def test_identity_refuses_to_start_without_the_key_or_with_one_that_opens_nothing(
    infra: Infra,
) -> None:
    provisioned = infra.new_database("identity_wrong_key")
    url = provisioned.runtime_url
    first_key = generate_key()
    env = {"NATS_URL": infra.nats_url, SECRET_KEY_ENV: first_key}
    migrate_as_owner("identity", provisioned, **env)
    first = start_identity(infra, url, **env)
    try:
        first.wait_ready()
    finally:
        first.stop()

    without = start_identity(infra, url, **{**env, SECRET_KEY_ENV: ""})
    try:
        with pytest.raises(StartupError) as refused:
            without.wait_ready()
    finally:
        without.stop()
    assert "identity cannot start: TESSERA_SECRET_KEY is not set" in str(refused.value)
    assert "python -m services.kit.secrets new-key" in str(refused.value)

    unrelated = start_identity(infra, url, **{**env, SECRET_KEY_ENV: generate_key()})
    try:
        with pytest.raises(StartupError) as refused:
            unrelated.wait_ready()
    finally:
        unrelated.stop()
    message = str(refused.value)
    assert "identity cannot start: TESSERA_SECRET_KEY opens 0 of the 2 stored secrets" in message
    assert "Set the key they were sealed with" in message
    assert first_key not in message
