"""One identity process for the integration tests, on its own database and a free port,
started exactly as `make run` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tessera.identity.v1 import identity_pb2_grpc

from tests.integration.identity.support import IdentityStack
from tests.support.infra import Infra
from tests.support.services import running_service


@pytest.fixture(scope="session")
def identity(infra: Infra) -> Iterator[IdentityStack]:
    with (
        running_service(infra, "identity") as service,
        service.channel() as channel,
    ):
        yield IdentityStack(
            identity_pb2_grpc.IdentityServiceStub(channel),
            service.database_url,
            infra.nats_url,
            address=service.address,
            pki=service.pki,
        )


@pytest.fixture
def stub(identity: IdentityStack) -> identity_pb2_grpc.IdentityServiceStub:
    return identity.stub


@pytest.fixture
def db_url(identity: IdentityStack) -> str:
    return identity.database_url
