"""A real schema service process on a free port, migrated into its own database, talking
to the session's PostgreSQL and nats-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.ids import new_id
from tests.integration.schema.support import SchemaService
from tests.support.bus import BusReader
from tests.support.infra import Infra
from tests.support.services import running_service


@pytest.fixture(scope="module")
def schema_service(infra: Infra) -> Iterator[SchemaService]:
    with (
        running_service(infra, "schema") as service,
        service.channel() as channel,
    ):
        yield SchemaService(
            stub=schema_pb2_grpc.SchemaServiceStub(channel),
            database_url=service.database.admin_url,
            bus=BusReader.of(infra),
        )


@pytest.fixture
def stub(schema_service: SchemaService) -> schema_pb2_grpc.SchemaServiceStub:
    return schema_service.stub


def new_ctx() -> common_pb2.RequestContext:
    return common_pb2.RequestContext(
        tenant_id=new_id("ws"),
        principal_id=new_id("usr"),
        principal_kind="user",
        role="owner",
    )


@pytest.fixture
def ctx() -> common_pb2.RequestContext:
    """A fresh workspace for each test."""
    return new_ctx()


@pytest.fixture
def other_ctx() -> common_pb2.RequestContext:
    return new_ctx()
