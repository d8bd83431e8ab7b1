"""The real service process: boots, serves gRPC health, maps errors over the wire, and stops
cleanly, even with the schema service unreachable and the SCHEMA stream not there yet."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2, records_pb2_grpc

from services.devstack.infra import free_port
from services.kit.errors import (
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
    from_grpc_error,
)
from services.kit.ids import new_id
from tests.support.infra import Infra
from tests.support.services import RunningService, running_service


@pytest.fixture(scope="module")
def records_service(infra: Infra) -> Iterator[RunningService]:
    # Nothing listens on the schema address: every schema lookup fails as unavailable.
    unreachable = f"127.0.0.1:{free_port()}"
    with running_service(infra, "records", RECORDS_SCHEMA_ADDR=unreachable) as service:
        yield service


def call_error(call: grpc.UnaryUnaryMultiCallable, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=15)
    return caught.value


def test_the_process_serves_and_maps_errors(records_service: RunningService) -> None:
    records_process = records_service.process
    ctx = common_pb2.RequestContext(
        tenant_id=new_id("ws"), principal_id=new_id("acc"), role="owner"
    )
    ref = records_pb2.SchemaRef(app_slug="crm", schema_slug="contacts")
    with records_service.channel() as channel:
        stub = records_pb2_grpc.RecordsServiceStub(channel)

        error = call_error(
            stub.GetRecord, records_pb2.GetRecordRequest(ctx=ctx, schema=ref, record_id="rec_x")
        )
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        domain = from_grpc_error(error.code(), error.details(), error.trailing_metadata())
        assert isinstance(domain, ServiceUnavailable)
        assert domain.code == "service_unavailable"

        error = call_error(
            stub.ListRecords, records_pb2.ListRecordsRequest(ctx=ctx, schema=ref, per_page=101)
        )
        domain = from_grpc_error(error.code(), error.details(), error.trailing_metadata())
        assert isinstance(domain, ValidationFailed)
        assert (domain.message, domain.field) == ("per_page must be between 1 and 100", "per_page")

        error = call_error(stub.ListRecords, records_pb2.ListRecordsRequest(schema=ref))
        domain = from_grpc_error(error.code(), error.details(), error.trailing_metadata())
        assert isinstance(domain, Unauthenticated)

    assert records_process.process is not None
    assert records_process.process.poll() is None, records_process.log_tail()
    assert records_process.is_ready()

    records_process.stop()
    assert records_process.process.returncode == 0, records_process.log_tail()
    assert "Traceback" not in records_process.log_tail(100_000)
