"""One identity process for the integration tests, on its own database and a free port,
started exactly as `make run` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from tessera.identity.v1 import identity_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, migrate
from tests.integration.identity.support import IdentityStack
from tests.support.infra import Infra


@pytest.fixture(scope="session")
def identity(infra: Infra) -> Iterator[IdentityStack]:
    url = infra.new_database("identity")
    port = free_port()
    env = {
        "IDENTITY_DATABASE_URL": url,
        "IDENTITY_GRPC_PORT": str(port),
        "NATS_URL": infra.nats_url,
    }
    migrate("services.identity", env)
    process = ServiceProcess(
        "identity",
        "services.identity",
        env,
        log_path=infra.work_dir / "identity-it.log",
        grpc_address=f"127.0.0.1:{port}",
    )
    process.start()
    try:
        process.wait_ready()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield IdentityStack(identity_pb2_grpc.IdentityServiceStub(channel), url, infra.nats_url)
    finally:
        process.stop()


@pytest.fixture
def stub(identity: IdentityStack) -> identity_pb2_grpc.IdentityServiceStub:
    return identity.stub


@pytest.fixture
def db_url(identity: IdentityStack) -> str:
    return identity.database_url
