"""Baseline (b) of `make bench`: the ceiling of the gateway -> gRPC -> service design.

Two processes. TWOHOP_ROLE=backend runs a grpc.aio server on TWOHOP_GRPC_PORT whose
generic bytes-in/bytes-out methods (/bench.Records/get, list, create, update, batch; no
proto codegen) issue the records service's statements through asyncpg (bench/baseline.py).
TWOHOP_ROLE=front runs a raw ASGI app (no FastAPI) on BASELINE_PORT that turns each HTTP
request into one unary call to TWOHOP_GRPC_ADDR, like the gateway does.

A request travels as b"<record id>\\n<query string>\\n<body>"; a failed one comes back as
a gRPC status, which the front maps to an HTTP status."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.baseline import (
    NOT_FOUND,
    OPERATIONS,
    Receive,
    Records,
    Reply,
    Scope,
    Send,
    lifespan,
    read_body,
    respond,
    route,
    serve,
)

SERVICE = "bench.Records"
DEADLINE_SECONDS = 10.0
TO_GRPC = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND}
FROM_GRPC = {code: status for status, code in TO_GRPC.items()}
SUCCESS = {"create": 201, "batch": 201}


# --- backend -----------------------------------------------------------------------------

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


def handler(records: Records, operation: str) -> Handler:
    async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        record_id, query, body = request.split(b"\n", 2)
        reply = await records.dispatch(operation, record_id.decode(), query.decode(), body)
        if reply.status >= 400:
            await context.abort(
                TO_GRPC.get(reply.status, grpc.StatusCode.INTERNAL), reply.body.decode()
            )
        return reply.body

    return handle


async def backend() -> None:
    records = await Records.from_env()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    # No serializers: the methods take and return raw bytes.
    methods = {
        operation: grpc.unary_unary_rpc_method_handler(handler(records, operation))
        for operation in OPERATIONS
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{os.environ['TWOHOP_GRPC_PORT']}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(2.0)
    await records.close()


# --- front -------------------------------------------------------------------------------

channel: grpc.aio.Channel | None = None
calls: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}


async def startup() -> None:
    global channel
    channel = grpc.aio.insecure_channel(os.environ["TWOHOP_GRPC_ADDR"])
    for operation in OPERATIONS:
        calls[operation] = channel.unary_unary(f"/{SERVICE}/{operation}")


async def shutdown() -> None:
    if channel is not None:
        await channel.close()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, startup, shutdown)
        return
    if scope["path"] == "/healthz":
        await respond(send, Reply(200, b"{}"))
        return
    target = route(scope["method"], scope["path"])
    if target is None:
        await respond(send, NOT_FOUND)
        return
    operation, record_id = target
    body = await read_body(receive) if operation in ("create", "update", "batch") else b""
    request = b"%s\n%s\n%s" % (record_id.encode(), scope["query_string"], body)
    try:
        reply = await calls[operation](request, timeout=DEADLINE_SECONDS)
    except grpc.aio.AioRpcError as error:
        status = FROM_GRPC.get(error.code(), 500)
        await respond(send, Reply(status, (error.details() or "").encode()))
        return
    await respond(send, Reply(SUCCESS.get(operation, 200), reply))


if __name__ == "__main__":
    if os.environ["TWOHOP_ROLE"] == "backend":
        uvloop.run(backend())
    else:
        serve(app, int(os.environ["BASELINE_PORT"]))
