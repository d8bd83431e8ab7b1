"""How a service's handlers answer: every DomainError as a rich gRPC status, in one place.

The wrapping happens once, when the service registers its handlers (see
services.kit.grpc.server), rather than in a server interceptor, which grpc's aio server
runs anew on every call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.kit.errors import STATUS_DETAILS_KEY, DomainError, InternalError, to_status_details

log = logging.getLogger(__name__)

UnaryHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamingHandler = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


def guarded(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` answering a DomainError with its gRPC status (ErrorInfo/BadRequest
    details), anything else with a generic internal error and a log line, never the
    exception text."""
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_guard(handler.unary_unary, method), **codec)
    if handler.stream_unary is not None:
        # The request iterator takes the place of the request; the answer is one message.
        return grpc.stream_unary_rpc_method_handler(_guard(handler.stream_unary, method), **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _guard_stream(handler.unary_stream, method), **codec
        )
    return handler


def _guard(behaviour: UnaryHandler, method: str) -> UnaryHandler:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except DomainError as error:
            await _abort(context, error)
        except Exception:
            log.exception("unhandled error in %s", method, extra={"rpc": method})
            await _abort(context, InternalError())

    return guarded


def _guard_stream(behaviour: StreamingHandler, method: str) -> StreamingHandler:
    """The same for a handler that answers a stream: an error after some messages went out
    still ends the call with its status, which the client sees after those messages."""

    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except DomainError as error:
            await _abort(context, error)
        except Exception:
            log.exception("unhandled error in %s", method, extra={"rpc": method})
            await _abort(context, InternalError())

    return guarded


async def _abort(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    await context.abort(
        error.grpc_status,
        error.message,
        trailing_metadata=((STATUS_DETAILS_KEY, to_status_details(error)),),
    )
