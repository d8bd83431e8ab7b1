"""A real schema service process on a free port, migrated into its own database, talking
to the session's PostgreSQL and nats-server."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, migrate
from services.kit.ids import new_id
from tests.integration.schema.support import SchemaService
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def schema_service(infra: Infra) -> Iterator[SchemaService]:
    url = infra.new_database("schema")
    port = free_port()
    env = {"SCHEMA_DATABASE_URL": url, "SCHEMA_GRPC_PORT": str(port), "NATS_URL": infra.nats_url}
    migrate("services.schema", env)
    process = ServiceProcess(
        "schema",
        "services.schema",
        env,
        log_path=infra.work_dir / "schema-it.log",
        grpc_address=f"127.0.0.1:{port}",
    )
    process.start()
    try:
        process.wait_ready()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield SchemaService(
                stub=schema_pb2_grpc.SchemaServiceStub(channel),
                database_url=url,
                nats_url=infra.nats_url,
            )
    finally:
        process.stop()


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
