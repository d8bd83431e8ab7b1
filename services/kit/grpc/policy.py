"""Every call a service answers is checked against its policy table before the handler
runs: the table names the operation each RPC is (services.kit.access.Op), or PUBLIC for
the few that need no principal (logging in, resolving a credential). A method missing from
the table is refused, so a new RPC is closed until someone decides who may call it.

Before that, the caller itself is checked (services.kit.grpc.trust): its certificate, and
the gateway's signature over the context it carries; PUBLIC calls come from the gateway
only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc

from services.kit.access import Kind, Op, require
from services.kit.errors import PermissionDenied
from services.kit.grpc.handlers import StreamingHandler, UnaryHandler, kind_of, rebuilt
from services.kit.grpc.trust import CallerCheck, signature_in

PUBLIC: Final = None
# The call acts on the calling account itself (its memberships, its new workspace), in no
# particular workspace: any signed-in member's credential will do.
ACCOUNT: Final = "account"
ACCOUNT_KINDS = frozenset({Kind.USER, Kind.USER_KEY})
# The call acts on the calling app end user's own sessions (logout): only they may.
APP_USER: Final = "app_user"
UNDECLARED: Final = "undeclared"
PolicyTable = Mapping[str, Op | str | None]


def checked(
    method: str, handler: grpc.RpcMethodHandler, table: PolicyTable, callers: CallerCheck
) -> grpc.RpcMethodHandler:
    """`handler` of `method` ("/package.Service/Method") behind the caller check and the
    policy table's rule for it. Built once per method, when the service registers."""
    name = method.rpartition("/")[2]
    call = _Call(method, table.get(name, UNDECLARED), callers)
    kind = kind_of(handler)
    check: dict[str, Callable[..., Any]] = {
        "unary_unary": _checked,
        "unary_stream": _checked_stream,
        "stream_unary": _checked_upload,
    }
    if kind not in check:
        # No RPC of ours streams both ways; one that did is refused until it is checked.
        return rebuilt(handler, "stream_stream", _refused)
    return rebuilt(handler, kind, check[kind](getattr(handler, kind), call))


async def _refused(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "This call is not open to anyone")
    yield


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    declared: Op | str | None
    callers: CallerCheck

    def check(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        gateway_only = self.declared is PUBLIC
        signature = signature_in(context.invocation_metadata())
        self.callers.admit(self.method, signature, request, context, gateway_only=gateway_only)
        # PUBLIC (None) calls come before any principal: there is no operation to check.
        if self.declared is not None:
            _check(request, self.declared)


def _check(request: Any, op: Op | str) -> None:
    if op == ACCOUNT:
        ctx = request.ctx
        if ctx.principal_kind not in ACCOUNT_KINDS or not ctx.principal_id:
            raise PermissionDenied("Only a signed-in member may do this")
        return
    if op == APP_USER:
        ctx = request.ctx
        if ctx.principal_kind != Kind.APP_USER or not ctx.principal_id or not ctx.tenant_id:
            raise PermissionDenied("Only a signed-in app user may do this")
        return
    if not isinstance(op, Op):
        raise PermissionDenied("This call is not open to anyone")
    fields = request.DESCRIPTOR.fields_by_name
    if "ctx" in fields:
        require(request.ctx, op)
    elif "start" in fields:
        # An upload's first message carries the context inside its `start` part.
        require(request.start.ctx, op)
    else:
        raise PermissionDenied("The call carries no context")


def _checked(behaviour: UnaryHandler, call: _Call) -> UnaryHandler:
    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call.check(request, context)
        return await behaviour(request, context)

    return checked


def _checked_stream(behaviour: StreamingHandler, call: _Call) -> StreamingHandler:
    async def checked(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call.check(request, context)
        async for response in behaviour(request, context):
            yield response

    return checked


def _checked_upload(behaviour: UnaryHandler, call: _Call) -> UnaryHandler:
    """An upload carries its context in the first message: check it, then hand the
    handler the whole stream, first message included."""

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        iterator = aiter(requests)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            call.check(None, context)
            return await behaviour(_empty(), context)
        call.check(first, context)

        async def replay() -> AsyncIterator[Any]:
            yield first
            async for item in iterator:
                yield item

        return await behaviour(replay(), context)

    return checked


async def _empty() -> AsyncIterator[Any]:
    return
    yield
