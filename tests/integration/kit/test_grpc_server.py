"""A service's gRPC ports: mutual TLS for every call, a plaintext port that answers health
probes and nothing else, and no start at all without key material, for the gateway neither."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, grpc_serving
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner, running_service

TIMEOUT = 10.0


def test_the_health_port_answers_probes_in_plaintext_and_serves_nothing_else(
    infra: Infra,
) -> None:
    health_port = free_port()
    with running_service(infra, "schema", SCHEMA_GRPC_HEALTH_PORT=str(health_port)) as service:
        probes = f"127.0.0.1:{health_port}"
        # What a Kubernetes grpc probe does: plaintext, no certificate.
        assert grpc_serving(probes, timeout=TIMEOUT)
        with grpc.insecure_channel(probes) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as caught:
                schema_pb2_grpc.SchemaServiceStub(channel).ListApps(
                    schema_pb2.ListAppsRequest(), timeout=TIMEOUT
                )
            error: grpc.Call = caught.value
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED

        # The service's own port still takes nothing in plaintext, and everything over TLS.
        assert not grpc_serving(service.address, timeout=TIMEOUT)
        with service.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            status = stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status
            assert status == health_pb2.HealthCheckResponse.SERVING


def assert_refuses_to_start_without_keys(
    infra: Infra, name: str, module: str, env: dict[str, str]
) -> None:
    process = ServiceProcess(name, module, env, log_path=infra.work_dir / f"{name}-no-keys.log")
    process.start()
    try:
        assert process.process is not None
        assert process.process.wait(timeout=60) == 2
    finally:
        process.stop()
    assert "TESSERA_TLS_CA_FILE is not set" in process.log_tail()
    assert "Traceback" not in process.log_tail()


def test_a_service_without_key_material_does_not_start(infra: Infra) -> None:
    database = infra.new_database("schema")
    env = {
        "SCHEMA_DATABASE_URL": database.runtime_url,
        "SCHEMA_GRPC_PORT": str(free_port()),
        "NATS_URL": infra.nats_url,
    }
    migrate_as_owner("schema", database)
    assert_refuses_to_start_without_keys(infra, "schema", "services.schema", env)


def test_a_gateway_without_key_material_does_not_start(infra: Infra) -> None:
    env = {"GATEWAY_PORT": str(free_port()), "NATS_URL": infra.nats_url}
    assert_refuses_to_start_without_keys(infra, "gateway", "services.gateway", env)
