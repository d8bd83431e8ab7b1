from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity import service, tables
from services.identity.config import IdentitySettings
from services.identity.tokens import StoredKeyPair
from services.kit.db import create_engine as create_async_engine
from services.kit.db import create_sessionmaker, transaction
from services.kit.secrets import SecretBox, generate_key
from tests.integration.identity.support import DEADLINE, IdentityStack, scalar
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner


def test_startup_provisions_a_signing_key_and_publishes_the_next_one_ahead(
    stub: identity_pb2_grpc.IdentityServiceStub, db_url: str
) -> None:
    published = stub.GetSigningKeys(identity_pb2.GetSigningKeysRequest(), timeout=DEADLINE)

    assert published.issuer == "tessera"
    assert published.audience == "tessera-api"
    assert len(published.keys) >= 2
    for key in published.keys:
        assert key.algorithm == "EdDSA"
        assert key.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in str(published)
    assert (
        scalar(
            db_url,
            "SELECT count(*) FROM signing_keys"
            " WHERE activated_at IS NOT NULL AND superseded_at IS NULL AND retired_at IS NULL",
        )
        == 1
    )
    assert scalar(db_url, "SELECT count(*) FROM signing_keys WHERE activated_at IS NULL") == 1


def test_replicas_starting_together_agree_on_one_key(infra: Infra) -> None:
    database = infra.new_database("identity_keys")
    migrate_as_owner("identity", database)
    url = database.runtime_url

    box = SecretBox.from_text(generate_key())

    async def bootstrap_concurrently() -> list[StoredKeyPair]:
        engine = create_async_engine(url, pool_size=4)
        sessionmaker = create_sessionmaker(engine)

        async def replica() -> StoredKeyPair:
            async with transaction(sessionmaker) as session:
                return await service.ensure_signing_key(session, box)

        try:
            return list(await asyncio.gather(*(replica() for _ in range(4))))
        finally:
            await engine.dispose()

    keys = asyncio.run(bootstrap_concurrently())

    assert len({key.kid for key in keys}) == 1
    # The current key and the next one.
    assert scalar(url, "SELECT count(*) FROM signing_keys") == 2


def test_rotation_is_due_after_the_period_and_retires_keys_once_their_tokens_expired(
    infra: Infra,
) -> None:
    database = infra.new_database("identity_rotation")
    migrate_as_owner("identity", database)
    url = database.runtime_url
    settings = IdentitySettings(database_url=url, signing_key_rotation_seconds=3600)
    box = SecretBox.from_text(generate_key())

    async def rotate(*, force: bool = False) -> str:
        engine = create_async_engine(url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                key = await service.rotate_signing_keys(
                    session, settings=settings, box=box, force=force
                )
                return key.kid
        finally:
            await engine.dispose()

    async def bootstrap() -> str:
        engine = create_async_engine(url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return (await service.ensure_signing_key(session, box)).kid
        finally:
            await engine.dispose()

    first = asyncio.run(bootstrap())
    next_kid = scalar(url, "SELECT kid FROM signing_keys WHERE activated_at IS NULL")
    assert asyncio.run(rotate()) == first  # not due yet

    scalar(
        url,
        "UPDATE signing_keys SET activated_at = now() - interval '2 hours'"
        " WHERE kid = %s RETURNING 1",
        (first,),
    )
    second = asyncio.run(rotate())

    assert second == next_kid
    live = "SELECT count(*) FROM signing_keys WHERE retired_at IS NULL"
    assert scalar(url, live) == 3  # replaced, current, next
    # Once every token the replaced key signed has expired, it is no longer published.
    scalar(
        url,
        "UPDATE signing_keys SET superseded_at = now() - interval '2 hours'"
        " WHERE kid = %s RETURNING 1",
        (first,),
    )
    assert asyncio.run(rotate()) == second
    assert scalar(url, "SELECT retired_at IS NOT NULL FROM signing_keys WHERE kid = %s", (first,))
    assert scalar(url, live) == 2


def test_migrations_build_exactly_the_declared_tables(identity: IdentityStack) -> None:
    url = make_url(identity.database_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            differences = _differences(connection)
    finally:
        engine.dispose()
    assert differences == []


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    diff: list[Any] = compare_metadata(context, tables.metadata)
    return [change for change in diff if not _is_alembic_bookkeeping(change)]


def _is_alembic_bookkeeping(change: Any) -> bool:
    return (
        isinstance(change, tuple)
        and change[0] == "remove_table"
        and change[1].name == "alembic_version"
    )
