"""Server interceptors: turn DomainErrors into rich gRPC statuses, in one place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from services.kit.errors import STATUS_DETAILS_KEY, DomainError, InternalError, to_status_details

log = logging.getLogger(__name__)

UnaryHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class DomainErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps a DomainError to its gRPC status with ErrorInfo/BadRequest details; anything
    else becomes a generic internal error and a log line, never the exception text."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        wrapped = _guard(handler.unary_unary, method)
        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


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


async def _abort(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    await context.abort(
        error.grpc_status,
        error.message,
        trailing_metadata=((STATUS_DETAILS_KEY, to_status_details(error)),),
    )
