"""FastAPI dependencies: the backing-service clients and the caller's request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from tessera.common.v1 import common_pb2

from services.gateway.auth import Authenticator, Caller
from services.gateway.clients import Backends


def get_backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


async def get_caller(request: Request) -> Caller:
    return await get_authenticator(request).caller(request)


async def get_context(request: Request) -> common_pb2.RequestContext:
    return await get_authenticator(request).context(request)


async def get_app_context(request: Request) -> common_pb2.RequestContext:
    """For routes under /api/apps/{app_slug}/ that an app's anonymous callers may reach."""
    app = str(request.path_params.get("app_slug", ""))
    return await get_authenticator(request).app_context(request, app)


BackendsDep = Annotated[Backends, Depends(get_backends)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
CallerDep = Annotated[Caller, Depends(get_caller)]
ContextDep = Annotated[common_pb2.RequestContext, Depends(get_context)]
AppContextDep = Annotated[common_pb2.RequestContext, Depends(get_app_context)]
