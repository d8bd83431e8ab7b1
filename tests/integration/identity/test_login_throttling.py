"""Login throttling's state lives in identity's database: what one replica counted holds
at every other, nothing in it names an email or an address, and pruning forgets old
failures while keeping the addresses an account logged in from lately."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess
from services.identity import throttling
from services.identity.config import IdentitySettings
from services.identity.throttling import LoginAttempt, ThrottlePolicy
from services.kit.clock import utcnow
from services.kit.db import create_engine, create_sessionmaker, transaction
from services.kit.errors import RateLimited, Unauthenticated
from services.kit.secrets import SECRET_KEY_ENV
from tests.integration.identity.support import (
    DEADLINE,
    call_error,
    create_account,
    database,
    scalar,
)
from tests.support.infra import Infra
from tests.support.nats_users import nats_env
from tests.support.services import SECRET_KEY, migrate_as_owner
from tests.support.trust import gateway_channel, session_pki

FREE_FAILURES = 2
# Far longer than the test: a refusal here never depends on how fast the calls ran.
DELAY_SECONDS = 600


@pytest.fixture(scope="module")
def replicas(infra: Infra) -> Iterator[tuple[str, list[identity_pb2_grpc.IdentityServiceStub]]]:
    database = infra.new_database("identity_throttling")
    pki = session_pki(infra)
    env = {
        "IDENTITY_DATABASE_URL": database.runtime_url,
        "NATS_URL": infra.nats_url,
        **nats_env(infra),
        **pki.env_for("identity"),
        SECRET_KEY_ENV: SECRET_KEY,
        "IDENTITY_LOGIN_FREE_FAILURES_PER_ACCOUNT_ADDRESS": str(FREE_FAILURES),
        "IDENTITY_LOGIN_FIRST_DELAY_SECONDS": str(DELAY_SECONDS),
        "IDENTITY_LOGIN_MAX_DELAY_PER_ACCOUNT_ADDRESS_SECONDS": str(DELAY_SECONDS),
    }
    migrate_as_owner("identity", database, **env)
    processes = []
    for _ in range(2):
        port = free_port()
        process = ServiceProcess(
            "identity",
            "services.identity",
            {**env, "IDENTITY_GRPC_PORT": str(port)},
            log_path=infra.work_dir / f"identity-{port}.log",
            grpc_address=f"127.0.0.1:{port}",
            grpc_credentials=pki.channel_credentials("identity"),
        )
        processes.append(process)
        process.start()
    channels = []
    try:
        for process in processes:
            process.wait_ready()
            assert process.grpc_address is not None
            channels.append(gateway_channel(pki, process.grpc_address, "identity"))
        yield (
            database.admin_url,
            [identity_pb2_grpc.IdentityServiceStub(channel) for channel in channels],
        )
    finally:
        for channel in channels:
            channel.close()
        for process in processes:
            process.stop()


def from_address(address: str) -> common_pb2.RequestContext:
    return common_pb2.RequestContext(client_ip=address, user_agent="integration test")


def test_what_one_replica_counted_holds_at_another(
    replicas: tuple[str, list[identity_pb2_grpc.IdentityServiceStub]],
) -> None:
    url, (first, second) = replicas
    account = create_account(first)
    here = from_address("203.0.113.50")

    for _ in range(FREE_FAILURES + 1):
        code, error = call_error(
            lambda: first.IssueTokens(
                identity_pb2.IssueTokensRequest(
                    username=account.email, password="not it", ctx=here
                ),
                timeout=DEADLINE,
            )
        )
        assert (code, type(error)) == (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated)

    for call in (
        lambda: second.IssueTokens(
            identity_pb2.IssueTokensRequest(
                username=account.email, password=account.password, ctx=here
            ),
            timeout=DEADLINE,
        ),
        lambda: second.CreateSession(
            identity_pb2.CreateSessionRequest(
                username=account.email.upper(), password=account.password, ctx=here
            ),
            timeout=DEADLINE,
        ),
    ):
        code, error = call_error(call)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert isinstance(error, RateLimited)
        assert error.retry_after is not None
        assert DELAY_SECONDS - 60 < error.retry_after <= DELAY_SECONDS

    # Elsewhere the account logs in, at either replica.
    elsewhere = identity_pb2.IssueTokensRequest(
        username=account.email, password=account.password, ctx=from_address("198.51.100.50")
    )
    assert second.IssueTokens(elsewhere, timeout=DEADLINE).access_token
    with database(url) as connection:
        rows = connection.execute("SELECT * FROM login_throttles").fetchall()
    assert rows
    stored = repr(rows)
    assert account.email not in stored
    assert "203.0.113.50" not in stored


def test_pruning_forgets_old_failures_and_keeps_addresses_known_lately(
    replicas: tuple[str, list[identity_pb2_grpc.IdentityServiceStub]],
) -> None:
    url, _ = replicas
    policy = ThrottlePolicy.from_settings(
        IdentitySettings(database_url=url, login_known_address_seconds=7 * 24 * 3600)
    )
    failed = LoginAttempt.member("pruned@example.com", "192.0.2.1")
    known = LoginAttempt.member("kept@example.com", "192.0.2.2")
    failed_keys, known_key = failed.keys(), known.keys()[throttling.Scope.LOGIN_ADDRESS]

    async def run(step: str) -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                if step == "record":
                    await throttling.record_failure(session, failed, policy, utcnow())
                    await throttling.record_success(session, known, utcnow())
                    return 0
                return await throttling.prune(session, policy, utcnow())
        finally:
            await engine.dispose()

    def present(key: str) -> bool:
        return bool(scalar(url, "SELECT count(*) FROM login_throttles WHERE key_hash = %s", (key,)))

    asyncio.run(run("record"))
    assert asyncio.run(run("prune")) == 0
    assert all(present(key) for key in failed_keys.values())

    # Untouched for longer than failures are remembered (or anyone waits): forgotten, but
    # an address the account logged in from two days ago is still known.
    remembered = max(policy.failure_memory, policy.longest_block) + timedelta(hours=1)
    with database(url) as connection:
        connection.execute(
            "UPDATE login_throttles SET updated_at = now() - %s,"
            " last_success_at = CASE WHEN last_success_at IS NULL THEN NULL"
            " ELSE now() - interval '2 days' END"
            " WHERE key_hash = ANY(%s)",
            (remembered, [*failed_keys.values(), known_key]),
        )
    assert asyncio.run(run("prune")) >= len(failed_keys)
    assert not any(present(key) for key in failed_keys.values())
    assert present(known_key)

    with database(url) as connection:
        connection.execute(
            "UPDATE login_throttles SET last_success_at = now() - interval '8 days'"
            " WHERE key_hash = %s",
            (known_key,),
        )
    asyncio.run(run("prune"))
    assert not present(known_key)
