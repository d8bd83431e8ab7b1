"""Server interceptors: turn DomainErrors into rich gRPC statuses, in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.kit.errors import STATUS_DETAILS_KEY, DomainError, InternalError, to_status_details

log = logging.getLogger(__name__)

UnaryHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamingHandler = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


class DomainErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps a DomainError to its gRPC status with ErrorInfo/BadRequest details; anything
    else becomes a generic internal error and a log line, never the exception text."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(_guard(handler.unary_unary, method), **codec)
        if handler.stream_unary is not None:
            # The request iterator takes the place of the request; the answer is one message.
            return grpc.stream_unary_rpc_method_handler(
                _guard(handler.stream_unary, method), **codec
            )
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
