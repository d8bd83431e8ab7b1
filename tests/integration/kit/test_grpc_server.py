"""A service's gRPC ports: mutual TLS for every call, a plaintext port that answers health
probes and nothing else, and no start at all without key material, for the gateway neither."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, grpc_serving
from services.kit.access import Op
from services.kit.grpc.server import HandlerRegistry, run_grpc_service
from services.kit.grpc.trust import server_name_option
from tests.support.infra import Infra
from tests.support.services import migrate_as_owner, running_service
from tests.support.trust import aio_gateway_channel, session_pki, trust_settings

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


# A service without generated code: one method the policy declares, one it does not, one
# that fails, each registered both ways a generated `add_…Servicer_to_server` registers.
ECHO = "test.Echo"
Request = records_pb2.GetRecordRequest
Reply = records_pb2.RecordResponse


async def _echo(request: Request, context: grpc.aio.ServicerContext) -> Reply:
    return Reply(record_json=request.ctx.tenant_id.encode())


async def _fail(request: Request, context: grpc.aio.ServicerContext) -> Reply:
    raise RuntimeError("a secret detail")


def _register_echo(server: HandlerRegistry) -> None:
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=Request.FromString,
            response_serializer=Reply.SerializeToString,
        )
        for name, behaviour in (("Open", _echo), ("Undeclared", _echo), ("Fail", _fail))
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ECHO, handlers),))
    server.add_registered_method_handlers(ECHO, handlers)


def test_every_registered_handler_is_checked_and_guarded(infra: Infra) -> None:
    pki = session_pki(infra)
    port = free_port()

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(
            run_grpc_service(
                name="echo",
                address=f"127.0.0.1:{port}",
                register=_register_echo,
                policy={"Open": Op.RECORDS_READ, "Fail": Op.RECORDS_READ},
                trust=trust_settings(pki, "records"),
                stop=stop,
            )
        )
        try:
            async with aio_gateway_channel(pki, f"127.0.0.1:{port}", "records") as channel:
                await channel.channel_ready()
                ctx = common_pb2.RequestContext(
                    tenant_id="ws_a", principal_id="acc_a", principal_kind="user", role="viewer"
                )

                def call(method: str) -> Any:
                    return channel.unary_unary(
                        f"/{ECHO}/{method}",
                        request_serializer=Request.SerializeToString,
                        response_deserializer=Reply.FromString,
                    )(Request(ctx=ctx), timeout=TIMEOUT)

                assert (await call("Open")).record_json == b"ws_a"
                with pytest.raises(grpc.aio.AioRpcError) as undeclared:
                    await call("Undeclared")
                assert undeclared.value.code() == grpc.StatusCode.PERMISSION_DENIED
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await call("Fail")
                assert failed.value.code() == grpc.StatusCode.INTERNAL
                assert "secret" not in (failed.value.details() or "")
                with pytest.raises(grpc.aio.AioRpcError) as unknown:
                    await call("Nothing")
                assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
            # Unsigned, as another service could send it: refused before the handler.
            insecure = grpc.aio.secure_channel(
                f"127.0.0.1:{port}",
                pki.channel_credentials("schema"),
                options=[server_name_option("records")],
            )
            async with insecure:
                with pytest.raises(grpc.aio.AioRpcError) as unsigned:
                    await insecure.unary_unary(f"/{ECHO}/Open")(
                        Request(
                            ctx=common_pb2.RequestContext(tenant_id="ws_a")
                        ).SerializeToString(),
                        timeout=TIMEOUT,
                    )
                assert unsigned.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            stop.set()
            await serving

    asyncio.run(scenario())
