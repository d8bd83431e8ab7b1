"""Client edge for gRPC: mutual-TLS channels with sane options, and translation of failed
calls back into the DomainError the service raised."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from services.kit.config import TrustSettings
from services.kit.errors import DomainError, InternalError, ServiceUnavailable, from_grpc_error
from services.kit.grpc.server import MAX_MESSAGE_BYTES
from services.kit.grpc.trust import (
    ContextSigner,
    ServiceTls,
    server_name_option,
    signing_interceptors,
)

Response = TypeVar("Response")
log = logging.getLogger(__name__)

DEFAULT_DEADLINE_SECONDS = 10.0


def create_channel(
    address: str,
    *,
    service: str,
    trust: TrustSettings,
    signer: ContextSigner | None = None,
) -> grpc.aio.Channel:
    """A channel to `service` at `address`, presenting this process's certificate and
    accepting only a server whose certificate names `service`. With a `signer` (the
    gateway's), every call's context goes out signed."""
    return grpc.aio.secure_channel(
        address,
        ServiceTls.load(trust).channel_credentials(),
        options=[
            server_name_option(service),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.enable_retries", 1),
        ],
        interceptors=None if signer is None else signing_interceptors(signer),
    )


async def call(
    method: Callable[..., Awaitable[Response]],
    request: Any,
    *,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> Response:
    """Invokes a unary method with a deadline; failures surface as DomainError."""
    try:
        return await method(request, timeout=deadline_seconds, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        raise to_domain_error(error) from None


def to_domain_error(error: grpc.aio.AioRpcError) -> DomainError:
    domain_error = from_grpc_error(error.code(), error.details(), error.trailing_metadata())
    if isinstance(domain_error, InternalError | ServiceUnavailable):
        # The client sees a generic message; the raw status is for the operator.
        log.warning(
            "gRPC call failed: %s %s",
            error.code().name,
            error.details(),
            extra={"grpc_code": error.code().name},
        )
    return domain_error
