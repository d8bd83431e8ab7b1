"""One identity process for the integration tests, on its own database and a free port,
started exactly as `make run` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from tessera.identity.v1 import identity_pb2_grpc

from tests.integration.identity.support import IdentityStack
from tests.support.infra import Infra
from tests.support.services import running_service
from tests.support.stack import SUITE_LOGIN_LIMITS


@pytest.fixture(scope="session")
def identity(infra: Infra) -> Iterator[IdentityStack]:
    with (
        running_service(infra, "identity", **SUITE_LOGIN_LIMITS) as service,
        grpc.insecure_channel(service.address) as channel,
    ):
        yield IdentityStack(
            identity_pb2_grpc.IdentityServiceStub(channel),
            service.database_url,
            infra.nats_url,
            address=service.address,
        )


@pytest.fixture
def stub(identity: IdentityStack) -> identity_pb2_grpc.IdentityServiceStub:
    return identity.stub


@pytest.fixture
def db_url(identity: IdentityStack) -> str:
    return identity.database_url
