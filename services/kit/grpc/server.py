"""The gRPC service lifecycle: an aio server behind mutual TLS with the standard health
service, every handler behind the caller and policy checks and the error guard, background
tasks beside it, and a graceful stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.kit.config import TrustSettings
from services.kit.grpc.handlers import guarded
from services.kit.grpc.policy import PolicyTable, checked
from services.kit.grpc.trust import CallerCheck, ContextVerifier, ServiceTls

log = logging.getLogger(__name__)

# Generous but bounded: a record body is capped far below this at the gateway.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# The headers a client-streaming call sends once it has accepted the stream's first message:
# the client writes the rest only after seeing it (see services.records.server._data).
UPLOAD_ACCEPTED: Final = ("tessera-upload-accepted", "1")
BackgroundTask = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # gRPC shares ports by default on Linux; a second server on a taken port would
    # silently split the traffic instead of failing to start.
    ("grpc.so_reuseport", 0),
]


class HandlerRegistry(Protocol):
    """What a service's generated `add_…Servicer_to_server` needs of a server."""

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]
    ) -> None: ...

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None: ...


class CheckedRegistry:
    """Registers a service's handlers each behind the error guard (outermost, so a refusal
    becomes a status too), the caller check and the policy table, wrapped once per method
    here instead of by interceptors on every call."""

    def __init__(self, server: grpc.aio.Server, policy: PolicyTable, callers: CallerCheck):
        self._server = server
        self._policy = policy
        self._callers = callers

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return guarded(method, checked(method, handler, self._policy, self._callers))

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]
    ) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_CheckedGeneric(handler, self.wrap) for handler in generic_rpc_handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service_name,
            {
                name: self.wrap(f"/{service_name}/{name}", handler)
                for name, handler in method_handlers.items()
            },
        )


class _CheckedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers come out wrapped (each once)."""

    def __init__(
        self,
        inner: grpc.GenericRpcHandler,
        wrap: Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler],
    ) -> None:
        self._inner = inner
        self._wrap = wrap
        # Only methods the inner handler knows: a caller naming others adds nothing here.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped


def create_server() -> grpc.aio.Server:
    return grpc.aio.server(options=_SERVER_OPTIONS)


async def run_grpc_service(
    *,
    name: str,
    address: str,
    register: Callable[[HandlerRegistry], None],
    policy: PolicyTable,
    trust: TrustSettings,
    health_address: str | None = None,
    background: Sequence[BackgroundTask] = (),
    on_stop: Callable[[], Awaitable[None]] | None = None,
    grace_seconds: float = 5.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Serves until `stop` is set (by default: until SIGINT or SIGTERM), then drains.

    Background tasks receive the same stop event and must return once it is set. Calls
    are taken over mutual TLS only; `health_address`, when given, answers the health
    service alone in plaintext, for probes that cannot present a certificate.
    """
    stop = stop or _stop_on_signals()
    tls = ServiceTls.load(trust)
    server = create_server()
    health_servicer = health.aio.HealthServicer()
    # Health answers anyone who gets through mutual TLS: it has no principal to check.
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    callers = CallerCheck(ContextVerifier.load(trust), ContextVerifier.load_delegated(trust))
    register(CheckedRegistry(server, policy, callers))
    if server.add_secure_port(address, tls.server_credentials()) == 0:
        raise RuntimeError(f"{name}: could not bind {address}")
    probes = _health_only_server(health_servicer, health_address, name)
    await server.start()
    if probes is not None:
        await probes.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("%s serving gRPC on %s (mutual TLS)", name, address)

    tasks = [
        asyncio.create_task(task(stop), name=f"{name}-bg-{i}") for i, task in enumerate(background)
    ]
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("%s background task failed", name, exc_info=task.exception())
    stop.set()

    log.info("%s stopping", name)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace_seconds)
    if probes is not None:
        await probes.stop(None)
    await _finish(tasks, grace_seconds)
    if on_stop is not None:
        await on_stop()
    log.info("%s stopped", name)


def _health_only_server(
    health_servicer: health.aio.HealthServicer, address: str | None, name: str
) -> grpc.aio.Server | None:
    """Says whether the service is serving, and nothing else: it has no other service to
    reach and no policy to pass."""
    if address is None:
        return None
    server = grpc.aio.server(options=_SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"{name}: could not bind {address} for health probes")
    return server


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _finish(tasks: list[asyncio.Task[None]], grace_seconds: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
