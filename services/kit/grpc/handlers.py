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


# The four kinds of method, each with the function that builds a handler of that kind.
_BUILDERS: dict[str, Callable[..., grpc.RpcMethodHandler]] = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def kind_of(handler: grpc.RpcMethodHandler) -> str:
    """Which of _BUILDERS' kinds the handler is."""
    return next(kind for kind in _BUILDERS if getattr(handler, kind) is not None)


def rebuilt(handler: grpc.RpcMethodHandler, kind: str, behaviour: Any) -> grpc.RpcMethodHandler:
    """A handler of `kind` running `behaviour`, with `handler`'s (de)serializers."""
    return _BUILDERS[kind](
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def guarded(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` answering a DomainError with its gRPC status (ErrorInfo/BadRequest
    details), anything else with a generic internal error and a log line, never the
    exception text."""
    kind = kind_of(handler)
    # An upload's request iterator takes the place of the request: one answer either way.
    guard: dict[str, Callable[..., Any]] = {
        "unary_unary": _guard,
        "stream_unary": _guard,
        "unary_stream": _guard_stream,
    }
    if kind not in guard:
        return handler
    return rebuilt(handler, kind, guard[kind](getattr(handler, kind), method))


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
