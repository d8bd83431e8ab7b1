"""One identity process for the integration tests, on its own database and a free port,
started exactly as `make run` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tessera.identity.v1 import identity_pb2_grpc

from tests.integration.identity.support import IdentityStack
from tests.support.bus import BusReader
from tests.support.infra import Infra
from tests.support.nats_users import audit_recorder_of_suite
from tests.support.services import running_service
from tests.support.stack import SUITE_LOGIN_LIMITS


@pytest.fixture(scope="session")
def identity(infra: Infra) -> Iterator[IdentityStack]:
    with (
        # Its own durable: the end-to-end stack's identity on this NATS must not share
        # (and split) the schema service's audit events with it.
        running_service(
            infra,
            "identity",
            IDENTITY_AUDIT_CONSUMER=audit_recorder_of_suite(infra.run_id).name,
            **SUITE_LOGIN_LIMITS,
        ) as service,
        service.channel() as channel,
    ):
        yield IdentityStack(
            identity_pb2_grpc.IdentityServiceStub(channel),
            service.database.admin_url,
            BusReader.of(infra),
            address=service.address,
            pki=service.pki,
        )


@pytest.fixture
def stub(identity: IdentityStack) -> identity_pb2_grpc.IdentityServiceStub:
    return identity.stub


@pytest.fixture
def db_url(identity: IdentityStack) -> str:
    return identity.database_url
